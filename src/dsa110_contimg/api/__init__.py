"""The web API: REST, GraphQL, WebSocket events and Prometheus metrics over the products DB.

Build it with :func:`create_app`; serve it with ``dsa110 serve``.
"""

from dsa110_contimg.api.app import app_from_env, create_app
from dsa110_contimg.api.state import ApiOptions

__all__ = ["ApiOptions", "app_from_env", "create_app"]
