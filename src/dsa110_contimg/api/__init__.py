"""The web API: REST, GraphQL, WebSocket events and Prometheus metrics over the products DB.

Build it with :func:`create_app`; serve it with ``dsa110 serve``.
"""

from dsa110_contimg.api.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
