"""Survey catalogs: import from users' files, a position-indexed store, names, calibrators.

Public surface::

    from dsa110_contimg.catalog import CatalogStore, read_catalog, format_name, parse_name
    from dsa110_contimg.catalog import primary_calibrators, calibrators_near
"""

from dsa110_contimg.catalog.calibrators import (
    Calibrator,
    calibrator_rows,
    calibrators_near,
    primary_calibrators,
    read_vla_calibrators,
)
from dsa110_contimg.catalog.naming import ParsedName, format_name, parse_name
from dsa110_contimg.catalog.readers import (
    CATALOG_DTYPE,
    CatalogFormatError,
    CatalogTable,
    read_catalog,
)
from dsa110_contimg.catalog.store import RESULT_DTYPE, CatalogStore, ImportReport

__all__ = [
    "CATALOG_DTYPE",
    "RESULT_DTYPE",
    "Calibrator",
    "CatalogFormatError",
    "CatalogStore",
    "CatalogTable",
    "ImportReport",
    "ParsedName",
    "calibrator_rows",
    "calibrators_near",
    "format_name",
    "parse_name",
    "primary_calibrators",
    "read_catalog",
    "read_vla_calibrators",
]
