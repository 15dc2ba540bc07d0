"""Ingest: record the correlator's subband files and group them.

* :func:`read_header` - a file's metadata without its visibilities;
* :class:`Indexer` / :func:`index_folder` - record new stable files in the
  products DB, group them, quarantine the unusable, close expired groups;
* :class:`Watcher` - the same, polled, for the streaming daemon;
* :class:`IngestPolicy` - tolerances, waits and the incomplete-group policy.

The rules (duplicates, late files, the move-then-commit order of the
quarantine) are documented in :mod:`dsa110_contimg.ingest.index`; the group
states in :mod:`dsa110_contimg.ingest.groups`.
"""

from dsa110_contimg.ingest.header import SubbandFileInfo, parse_name, read_header
from dsa110_contimg.ingest.index import Indexer, index_folder
from dsa110_contimg.ingest.policy import IncompletePolicy, IngestPolicy
from dsa110_contimg.ingest.report import IndexReport
from dsa110_contimg.ingest.watch import Watcher

__all__ = [
    "IncompletePolicy",
    "IndexReport",
    "Indexer",
    "IngestPolicy",
    "SubbandFileInfo",
    "Watcher",
    "index_folder",
    "parse_name",
    "read_header",
]
