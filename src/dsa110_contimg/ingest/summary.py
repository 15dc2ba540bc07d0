"""Human-readable account of an indexing run, for the command line and logs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from dsa110_contimg.ingest.report import IndexReport
from dsa110_contimg.products import repositories as repo


def group_counts(session: Session) -> dict[str, int]:
    """Number of groups in each state (all groups in the DB), in state order."""
    return repo.group_state_counts(session)


def describe(report: IndexReport, incoming: Path, counts: dict[str, int]) -> list[str]:
    """Lines saying what was indexed, quarantined (with reasons), late, pending; groups."""
    lines = [
        f"indexed {len(report.indexed)} file(s) from {incoming} "
        f"({report.already_indexed} already indexed)"
    ]
    if report.quarantined:
        lines.append(f"quarantined {len(report.quarantined)} file(s):")
        for path, reason in report.quarantined:
            name = Path(path).name  # most reasons already start with it
            lines.append(f"  {reason}" if reason.startswith(name) else f"  {name}: {reason}")
    if report.late:
        lines.append(f"late {len(report.late)} file(s), recorded but not added to their group:")
        lines += [f"  {Path(path).name}" for path in report.late]
    if report.pending:
        lines.append(f"{len(report.pending)} file(s) still being written, left for the next run")
    for label, ids in (
        ("complete", report.completed),
        ("incomplete", report.incomplete),
        ("failed", report.failed),
    ):
        if ids:
            lines.append(f"groups now {label}: {', '.join(ids)}")
    states = ", ".join(f"{state} {n}" for state, n in counts.items()) or "none"
    lines.append(f"groups in the DB: {states}")
    return lines
