"""Wrappers of external programs: CASA (for cross-checks) and WSClean."""
