"""What one pass of the indexer did."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class IndexReport:
    """What changed in one scan of the incoming folder.

    Attributes
    ----------
    indexed : list of str
        Files recorded and added to their group.
    quarantined : list of (str, str)
        Original path and reason of each file moved to quarantine (duplicates
        included).
    late : list of str
        Files recorded but not added: their group was no longer open.
    pending : list of str
        Files not yet stable (still being written); looked at again next scan.
    already_indexed : int
        Files skipped because their path is already recorded.
    completed, incomplete, failed : list of str
        Groups that reached that state in this scan.
    """

    indexed: list[str] = field(default_factory=list)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    already_indexed: int = 0
    completed: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if anything was recorded or a group changed state."""
        return bool(
            self.indexed
            or self.quarantined
            or self.late
            or self.completed
            or self.incomplete
            or self.failed
        )

    def merge(self, later: IndexReport) -> IndexReport:
        """Fold a later scan into this one (``pending`` and ``already_indexed`` are the later's)."""
        for f in fields(self):
            if f.name in ("pending", "already_indexed"):
                setattr(self, f.name, getattr(later, f.name))
            else:
                getattr(self, f.name).extend(getattr(later, f.name))
        return self

    def summary(self) -> str:
        """One line for a log."""
        return (
            f"{len(self.indexed)} indexed, {len(self.quarantined)} quarantined, "
            f"{len(self.late)} late, {len(self.pending)} not yet stable; groups: "
            f"{len(self.completed)} complete, {len(self.incomplete)} incomplete, "
            f"{len(self.failed)} failed"
        )
