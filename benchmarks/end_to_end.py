"""One `full` group from file-complete to photometry in the DB, per stage, against real time.

A `full` preset group (96 antennas, 16 x 48 channels, 24 integrations: the
real size) holds a calibrator transit, so it takes the longest road: index ->
convert -> flag -> calibrate (solve on the transit, then apply) -> image
(WSClean, pb correction, QA, previews) -> photometry (forced photometry,
normalisation, light curves, candidates). With ``--with-target`` the
simulation also holds a target group of the same strip, which is calibrated
by applying the calibrator's tables (the common case); both are timed.

Stage times are the job rows' durations (what the pipeline itself records);
indexing is timed here (it is not a per-group job). Groups run one after the
other (the serial executor), each with the whole machine. The simulation and
the catalog import are set-up, not timed.

    python benchmarks/end_to_end.py [--tier standard] [--keep DIR] [--with-target]

``--keep DIR`` keeps the simulation and the products there; a second run
reuses the simulation and redoes the products.

Measured on 2 shared cores (other sessions' load alongside):
- load 4-9, calibrator group: standard tier 568 s (1.84 x the budget; WSClean
  87 %, flag 5 %, calibrate 5 %); quicklook tier 167 s (0.54 x; WSClean 63 %).
- load 0.4-3, ``--with-target``, standard tier: calibrator group 293 s (0.95 x;
  WSClean 82 %, flag 8 %, calibrate with solve 6 %), target group 204 s
  (0.66 x; WSClean 78 %, flag 11 %, calibrate by applying 2 %).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

STAGES = ("convert", "flag", "calibrate", "image", "photometry")


def simulate_once(sim_dir: Path, with_target: bool) -> None:
    """Simulate the `full` group(s) into ``sim_dir`` unless they are there."""
    from dsa110_contimg.simulate import preset_config, simulate

    if (sim_dir / "truth.json").exists():
        print(f"reusing the simulation in {sim_dir}")
        return
    t0 = time.perf_counter()
    simulate(preset_config("full", targets_per_epoch=int(with_target)), sim_dir)
    print(f"simulated in {time.perf_counter() - t0:.0f} s (not timed): {sim_dir}")


def prepare(root: Path, sim_dir: Path):  # type: ignore[no-untyped-def]
    """Fresh products under ``root`` reading ``sim_dir``'s files; the catalog imported."""
    from dsa110_contimg.catalog.store import CatalogStore
    from dsa110_contimg.config import load_settings
    from dsa110_contimg.products import upgrade

    shutil.rmtree(root, ignore_errors=True)
    settings = load_settings(data_root=root, incoming_dir=sim_dir / "incoming")
    settings.ensure_folders()
    upgrade(settings.db_url)
    with CatalogStore(settings.catalog_db) as store:
        store.import_file("SIM", sim_dir / "catalog.csv")
    return settings


def stage_times(settings) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """Per group: each stage job's duration, WSClean's part of imaging, the batch's total."""
    import sqlalchemy as sa

    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products.models import Job, JobStatus

    engine = make_engine(settings.db_url)
    out: dict[str, dict[str, float]] = {}
    try:
        with session_scope(make_session_factory(engine)) as session:
            for job in session.scalars(sa.select(Job).order_by(Job.id)):
                if job.status is not JobStatus.SUCCEEDED:
                    raise SystemExit(f"{job.job_type} of {job.group_id} {job.status}: {job.error}")
                times = out.setdefault(job.group_id, {})
                times[job.job_type] = job.duration_s
                if job.job_type == "image":
                    times["wsclean"] = job.outputs.get("wsclean_seconds", float("nan"))
                if job.job_type == "calibrate":
                    times["solved"] = float("solved" in job.outputs)
                if job.job_type == "photometry":
                    times["measured"] = job.outputs.get("n_measured", 0)
                    times["light_curves"] = job.outputs.get("variability", {}).get("n_used", 0)
    finally:
        engine.dispose()
    return out


def report(group_id: str, index_s: float, times: dict[str, float], budget_s: float) -> None:
    rows = [("index", index_s)] + [(name, times[name]) for name in STAGES]
    total = index_s + times["batch"]
    kind = "calibrator: solve + apply" if times["solved"] else "target: apply"
    print(f"\ngroup {group_id} ({kind})")
    print(f"{'stage':<34}{'wall s':>9}{'share':>8}")
    for name, seconds in rows:
        print(f"{name:<34}{seconds:>9.1f}{seconds / total:>8.0%}")
        if name == "image":
            wsclean = times["wsclean"]
            print(f"{'  of which WSClean':<34}{wsclean:>9.1f}{wsclean / total:>8.0%}")
            rest = seconds - wsclean
            print(f"{'  of which pb, QA, previews, DB':<34}{rest:>9.1f}{rest / total:>8.0%}")
    between = times["batch"] - sum(times[name] for name in STAGES)
    print(f"{'runner (claims, job rows)':<34}{between:>9.1f}{between / total:>8.0%}")
    print(f"{'total':<34}{total:>9.1f}")
    print(
        f"in the DB: {times['measured']:.0f} photometry rows, "
        f"{times['light_curves']:.0f} light curves updated"
    )
    verdict = "within" if total <= budget_s else "OVER"
    print(f"ratio to the {budget_s:.2f} s real-time budget: {total / budget_s:.2f} ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="standard", help="imaging tier (default standard)")
    parser.add_argument("--keep", type=Path, help="keep the simulation and products here")
    parser.add_argument(
        "--with-target", action="store_true", help="also time a target group (apply only)"
    )
    args = parser.parse_args()

    from dsa110_contimg.ingest import IngestPolicy, index_folder
    from dsa110_contimg.pipeline.batch import run_batch, select_groups
    from dsa110_contimg.products import make_engine, make_session_factory
    from dsa110_contimg.telescope import GROUP_DURATION_S

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    simulate_once(work / "sim", args.with_target)
    settings = prepare(work / "root", work / "sim")

    engine = make_engine(settings.db_url)
    t0 = time.perf_counter()
    policy = IngestPolicy.from_settings(settings, settle_s=0.0)  # files are complete
    index_folder(settings, make_session_factory(engine), policy=policy)
    index_s = time.perf_counter() - t0
    engine.dispose()
    groups = select_groups(settings)
    summary = run_batch(settings, groups, executor="serial", options={"tier": args.tier})
    if not summary.ok:
        raise SystemExit(f"groups failed: {summary.failed} (job logs in {settings.logs_dir})")

    # indexing is one pass over the folder: its time is shared among the groups
    per_group_index_s = index_s / len(groups)
    for group_id, times in stage_times(settings).items():
        if group_id is not None:
            report(group_id, per_group_index_s, times, GROUP_DURATION_S)
    print(f"\ntier {args.tier}; products in {settings.data_root}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
