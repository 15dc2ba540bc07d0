"""The imaging stage: an MS in, FITS products, previews, QA and a result record out.

:func:`image_ms` is pure (files in, files out, no database): WSClean writes
into a working folder beside the products (``.<prefix>.<hex>.tmp``, see
:mod:`dsa110_contimg.atomic`); headers are completed, the primary-beam
products, QA and previews made, and only then are the files renamed to their
final names, so a crash never leaves a half-made product under a final name. :func:`register_imaging` records the products in the
products DB in the caller's transaction.

Names and versions: version 1 of an MS's images is ``<out>/<ms stem>-image.fits``
(``-image-pb``, ``-beam``, ``-residual``, ``-model``, ``-psf``, ``-dirty``);
version N > 1 is ``<ms stem>.vN-image.fits``... Re-imaging never overwrites:
it writes the next free version, and :func:`register_imaging` marks the
MS's older image rows ``superseded``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from dsa110_contimg.atomic import publish, scratch_folder
from dsa110_contimg.errors import InputDataError, ProductExistsError, StageError
from dsa110_contimg.imaging.average import average_ms, channel_factor, imaged_uv_lambda
from dsa110_contimg.imaging.headers import complete_header, product_keywords, read_beam
from dsa110_contimg.imaging.mask import CleanMask, catalog_positions
from dsa110_contimg.imaging.msinfo import MSSummary, read_ms_summary
from dsa110_contimg.imaging.pbcor import write_pb_products
from dsa110_contimg.imaging.preview import write_previews
from dsa110_contimg.imaging.tiers import ImagingTier, get_tier
from dsa110_contimg.imaging.wsclean import run_wsclean
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Image
from dsa110_contimg.qa.image_qa import QAThresholds, image_qa
from dsa110_contimg.telescope.beam import PrimaryBeamModel

log = logging.getLogger(__name__)

WSCLEAN_PRODUCTS = ("image", "residual", "model", "psf", "dirty")
"""WSClean's outputs kept (``<prefix>-<type>.fits``)."""
PB_PRODUCTS = ("beam", "image-pb")
"""Ours: the primary beam and the pb-corrected science image."""


@dataclass
class ImagingResult:
    """What one imaging run produced (JSON-ready through :meth:`as_dict`).

    Attributes
    ----------
    ms_path : str
        The MS imaged.
    data_column, tier : str
        Column imaged and tier name.
    version : int
        Version of this MS's images (1, 2, ...).
    products : dict of str to str
        FITS path by image type (``image``, ``image-pb``, ``beam``, ...).
    preview_path, thumbnail_path : str
        PNGs of the pb-corrected image.
    log_path : str
        WSClean's output.
    mjd_obs : float
        Mid-time of the data, MJD (UTC).
    ra_deg, dec_deg : float
        Image centre (the MS phase centre), degrees.
    size, cell_arcsec : int, float
        Image side (pixels) and pixel size (arcsec).
    freq_hz, bandwidth_hz, integration_s : float
        Reference frequency (Hz), bandwidth (Hz), time span (s).
    beam_arcsec : tuple of float
        Restoring beam major, minor FWHM (arcsec) and PA (deg).
    qa : dict
        :class:`~dsa110_contimg.qa.ImageQA` as a dictionary.
    wsclean_seconds, seconds : float
        WSClean's and the whole stage's wall time, seconds.
    tier_params : dict
        Every parameter of the tier used.
    channel_factor : int
        Channels averaged before gridding (1: none).
    average_seconds : float
        Wall time of choosing the factor and writing the averaged copy, seconds.
    beam_model_id : int or None
        The registered beam model of the pb correction (None: the Airy).
    clean_mask : dict or None
        The catalog clean mask (:mod:`.mask`): ``sources`` on the image,
        ``fraction`` of pixels, ``rescued`` peaks added after a first run;
        None when WSClean's auto-mask alone was used.
    """

    ms_path: str
    data_column: str
    tier: str
    version: int
    products: dict[str, str]
    preview_path: str
    thumbnail_path: str
    log_path: str
    mjd_obs: float
    ra_deg: float
    dec_deg: float
    size: int
    cell_arcsec: float
    freq_hz: float
    bandwidth_hz: float
    integration_s: float
    beam_arcsec: tuple[float, float, float]
    qa: dict[str, Any]
    wsclean_seconds: float
    seconds: float
    tier_params: dict[str, Any] = field(default_factory=dict)
    beam_model_id: int | None = None
    channel_factor: int = 1
    average_seconds: float = 0.0
    clean_mask: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record as plain values."""
        return dataclasses.asdict(self)


def version_prefix(out_dir: Path, stem: str, version: int) -> Path:
    """Product prefix of one version: ``<stem>`` for 1, ``<stem>.v<N>`` after."""
    return out_dir / (stem if version == 1 else f"{stem}.v{version}")


def next_free_version(out_dir: Path, stem: str, start: int = 1) -> int:
    """The first version >= ``start`` with no product files in ``out_dir``."""
    version = max(1, start)
    while any(out_dir.glob(f"{version_prefix(out_dir, stem, version).name}-*")):
        version += 1
    return version


def _check_column(summary: MSSummary, data_column: str) -> None:
    if data_column not in summary.columns:
        hint = (
            "calibrate the MS first (or image DATA with --data-column DATA)"
            if data_column == "CORRECTED_DATA"
            else f"columns present: {', '.join(c for c in summary.columns if 'DATA' in c)}"
        )
        raise InputDataError(f"{summary.path} has no {data_column} column", hint=hint)
    if summary.samples.sum() == 0:
        raise InputDataError(f"{summary.path}: every cross-correlation is flagged")


def image_ms(
    ms_path: str | Path,
    out_dir: str | Path,
    *,
    tier: str | ImagingTier = "standard",
    data_column: str = "CORRECTED_DATA",
    catalog: dict[str, np.ndarray] | None = None,
    version: int | None = None,
    qa_thresholds: QAThresholds | None = None,
    beam_model: PrimaryBeamModel | None = None,
    mask_sources: tuple[np.ndarray, np.ndarray] | None = None,
    catalog_db: str | Path | None = None,
) -> ImagingResult:
    """Image one MS with WSClean and make the pb-corrected products, QA and previews.

    Parameters
    ----------
    ms_path
        Measurement Set (one SPW, one field: :func:`~dsa110_contimg.conversion.convert.convert_group`).
    out_dir
        Folder of the products (created).
    tier
        Tier name or :class:`~.tiers.ImagingTier`.
    data_column
        ``CORRECTED_DATA`` (calibrated; the default) or ``DATA``.
    catalog
        For QA: ``ra_deg``, ``dec_deg`` (deg) and ``flux_jy`` (Jy at the
        image frequency) arrays of known sources.
    version
        Version to write (default: the first free one on disk); the runner
        may pass :func:`next_image_version`.
    qa_thresholds
        QA grade limits.
    beam_model
        Primary-beam model of the pb correction (None: the Airy; see
        :func:`~.pbcor.beam_gain`).
    mask_sources
        RA and Dec (deg) of the catalog's sources, for a tier with
        ``catalog_mask_arcsec``: WSClean cleans to the noise inside circles
        round them (:mod:`.mask`). None, or none on the image: the
        tier's auto-mask alone.
    catalog_db
        Catalog store whose sources (every catalog) make ``mask_sources``
        when those are not given (:func:`.mask.catalog_positions`).

    Raises
    ------
    InputDataError
        If the MS is missing, unreadable, lacks the column or is all flagged.
    ToolMissingError
        If WSClean is not installed.
    StageError
        If WSClean fails or times out (the message names its log).
    ProductExistsError
        If the requested version's files already exist.
    """
    t0 = time.perf_counter()
    ms_path = Path(ms_path).resolve()
    out_dir = Path(out_dir).resolve()
    tier = get_tier(tier) if isinstance(tier, str) else tier
    summary = read_ms_summary(ms_path)
    _check_column(summary, data_column)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = ms_path.name.removesuffix(".ms")
    if version is None:
        version = next_free_version(out_dir, stem)
    elif any(out_dir.glob(f"{version_prefix(out_dir, stem, version).name}-*")):
        raise ProductExistsError(
            f"version {version} of the images of {ms_path} exists in {out_dir}",
            hint="image a new version (omit --version)",
        )
    final = version_prefix(out_dir, stem, version)
    with scratch_folder(final) as work:
        result = _make_products(
            summary,
            tier,
            data_column,
            work / final.name,
            catalog,
            qa_thresholds,
            beam_model,
            mask_sources,
            catalog_db,
        )
        moved = {k: str(out_dir / Path(p).name) for k, p in result["files"].items()}
        published: list[str] = []
        try:
            for key, path in result["files"].items():
                published.append(str(publish(path, moved[key])))
        except BaseException:
            for path in published:  # all of a version or none of it
                Path(path).unlink(missing_ok=True)
            raise
    products = {k: moved[k] for k in (*WSCLEAN_PRODUCTS, *PB_PRODUCTS) if k in moved}
    seconds = time.perf_counter() - t0
    log.info("imaged %s (%s tier, v%d) in %.1f s: %s", ms_path, tier.name, version, seconds,
             products["image-pb"])  # fmt: skip
    return ImagingResult(
        ms_path=str(ms_path),
        data_column=data_column,
        tier=tier.name,
        version=version,
        products=products,
        preview_path=moved["preview"],
        thumbnail_path=moved["thumbnail"],
        log_path=moved["log"],
        mjd_obs=summary.mjd_mid,
        ra_deg=summary.phase_ra_deg,
        dec_deg=summary.phase_dec_deg,
        size=tier.size,
        cell_arcsec=tier.cell_arcsec,
        freq_hz=result["freq_hz"],
        bandwidth_hz=summary.bandwidth_hz,
        integration_s=summary.duration_s,
        beam_arcsec=result["beam_arcsec"],
        qa=result["qa"],
        wsclean_seconds=result["wsclean_seconds"],
        seconds=seconds,
        tier_params=tier.model_dump(mode="json"),
        beam_model_id=beam_model.model_id if beam_model is not None else None,
        channel_factor=result["channel_factor"],
        average_seconds=result["average_seconds"],
        clean_mask=result["clean_mask"],
    )


def _make_products(
    summary: MSSummary,
    tier: ImagingTier,
    data_column: str,
    prefix: Path,
    catalog: dict[str, np.ndarray] | None,
    qa_thresholds: QAThresholds | None,
    beam_model: PrimaryBeamModel | None = None,
    mask_sources: tuple[np.ndarray, np.ndarray] | None = None,
    catalog_db: str | Path | None = None,
) -> dict[str, Any]:
    """Run WSClean and make everything in the work folder; return paths and numbers."""
    from astropy.io import fits

    t0 = time.perf_counter()
    factor = channel_factor_for(tier, summary)
    if factor > 1:
        # the averaged copy lives in the scratch folder: it never outlives the run
        imaged = average_ms(summary.path, f"{prefix}.avg.ms", factor, data_column)
        column = "DATA"
    else:
        imaged, column = summary.path, data_column
    average_seconds = time.perf_counter() - t0
    mask = _catalog_mask(tier, summary, prefix, mask_sources, catalog_db)
    run = run_wsclean(tier, imaged, prefix, data_column=column, mask_path=mask and mask.path)
    if mask is not None and mask.rescue(prefix):
        first, first_log = run.seconds, Path(run.log_path).read_text(errors="replace")
        run = run_wsclean(tier, imaged, prefix, data_column=column, mask_path=mask.path)
        run = dataclasses.replace(run, seconds=run.seconds + first)
        second_log = Path(run.log_path).read_text(errors="replace")
        Path(run.log_path).write_text(  # both runs kept, the rescue's last
            f"{first_log}\n--- {mask.rescued} sources the catalog lacks added to the mask: "
            f"imaged again ---\n\n{second_log}"
        )
    if factor > 1:
        shutil.rmtree(imaged)
    files = {"log": run.log_path}
    for kind in WSCLEAN_PRODUCTS:
        # with -channels-out the band image is "-MFS-"; the sub-band images stay behind
        for path in (Path(f"{prefix}-{kind}.fits"), Path(f"{prefix}-MFS-{kind}.fits")):
            if path.is_file():
                files[kind] = str(path.rename(f"{prefix}-{kind}.fits"))
    if "image" not in files:
        raise StageError(f"wsclean wrote no image for {summary.path}", hint=f"see {run.log_path}")
    beam = read_beam(files["image"])
    if beam is None:
        raise StageError(f"{files['image']} has no restoring beam", hint=f"see {run.log_path}")
    keys = product_keywords(summary, tier=tier.name, data_column=data_column, beam=beam)
    for kind in WSCLEAN_PRODUCTS:
        if kind in files:
            complete_header(files[kind], keys)
    files["beam"], files["image-pb"] = f"{prefix}-beam.fits", f"{prefix}-image-pb.fits"
    write_pb_products(
        files["image"],
        files["beam"],
        files["image-pb"],
        summary,
        pb_limit=tier.pb_limit,
        beam_model=beam_model,
    )
    cat = catalog or {}
    qa = image_qa(
        files["image"],
        files["image-pb"],
        files["beam"],
        catalog_ra_deg=cat.get("ra_deg"),
        catalog_dec_deg=cat.get("dec_deg"),
        catalog_flux_jy=cat.get("flux_jy"),
        thresholds=qa_thresholds,
    )
    files["preview"], files["thumbnail"] = write_previews(
        files["image-pb"],
        f"{prefix}-image-pb.png",
        f"{prefix}-image-pb.thumb.png",
        title=f"{Path(summary.path).name}  {tier.name}  MJD {summary.mjd_mid:.5f}",
    )
    freq = float(fits.getheader(files["image"]).get("CRVAL3", summary.freqs_hz.mean()))
    return {
        "files": files,
        "qa": qa.as_dict(),
        "beam_arcsec": (beam[0] * 3600, beam[1] * 3600, beam[2]),
        "freq_hz": freq,
        "wsclean_seconds": run.seconds,
        "channel_factor": factor,
        "average_seconds": average_seconds,
        "clean_mask": mask.summary() if mask is not None else None,
    }


def _catalog_mask(
    tier: ImagingTier,
    summary: MSSummary,
    prefix: Path,
    sources: tuple[np.ndarray, np.ndarray] | None,
    catalog_db: str | Path | None,
) -> CleanMask | None:
    """The tier's catalog clean mask, written beside the products; None when it has none."""
    if tier.catalog_mask_arcsec is None:
        return None
    if sources is None and catalog_db is not None:  # every source on the image, corners too
        sources = catalog_positions(
            catalog_db, summary.phase_ra_deg, summary.phase_dec_deg, tier.fov_deg / math.sqrt(2)
        )
    if sources is None:
        return None
    mask = CleanMask.from_catalog(
        tier, summary.phase_ra_deg, summary.phase_dec_deg, *sources, path=f"{prefix}.mask.fits"
    )
    if mask is None:
        log.info("%s: no catalog source on the image: auto-mask alone", summary.path)
    return mask


def channel_factor_for(tier: ImagingTier, summary: MSSummary) -> int:
    """Channels to average before gridding for this tier and MS (see :mod:`.average`)."""
    if tier.average_channels != "auto":
        return int(tier.average_channels)
    freq_min = float(summary.freqs_hz.min())
    uv = imaged_uv_lambda(summary.path, freq_min, tier.min_uv_lambda)
    factor, loss = channel_factor(
        uv,
        freq_min,
        float(np.median(summary.chan_width_hz)),
        len(summary.freqs_hz),
        np.radians(tier.fov_deg / 2),
        budget=tier.max_smearing_loss,
        band_ratio=float(summary.freqs_hz.max()) / freq_min,
    )
    log.info(
        "averaging %d channels of %s before gridding: %.2f%% extra smearing at %.2f deg",
        factor, summary.path, 100 * loss, tier.fov_deg / 2,
    )  # fmt: skip
    return factor


# --------------------------------------------------------------------------
# Registration (the runner's side)
# --------------------------------------------------------------------------
def next_image_version(session: Session, ms_id: int) -> int:
    """One more than the highest image version registered for the MS (1 if none)."""
    return repo.highest_image_version(session, ms_id) + 1


def register_imaging(session: Session, result: ImagingResult, ms_id: int) -> list[Image]:
    """Register every product of an imaging run, superseding the MS's older images.

    Runs in the caller's transaction (wrap it in
    :func:`dsa110_contimg.products.db.session_scope`): the older rows are
    marked ``superseded``, one row per product is added through
    :func:`~dsa110_contimg.products.repositories.register_image` with the
    version ``max(result.version, next_image_version)``, and the MS's stage
    becomes ``imaged``. QA, noise, peak, dynamic range and previews are stored
    on the ``image-pb`` (science) and ``image`` rows.

    Raises
    ------
    InputDataError
        If a product file is missing or the MS is not registered.
    ProductExistsError
        If a product path is already registered.
    """
    if repo.ms_or_none(session, ms_id) is None:
        raise InputDataError(f"MS id {ms_id} is not registered", hint="register the MS first")
    missing = [p for p in result.products.values() if not Path(p).is_file()]
    if missing:
        raise InputDataError(f"imaging products missing on disk: {missing}")
    paths = list(result.products.values())
    taken = repo.registered_image_paths(session, paths)
    if taken:
        raise ProductExistsError(f"already registered: {taken}", hint="re-image instead")
    version = max(result.version, next_image_version(session, ms_id))
    repo.supersede_images_of_ms(session, ms_id)
    qa = result.qa
    science = {
        "qa_grade": qa["grade"],
        "qa_metrics": qa,
        "noise_jy": qa["rms_jy"],
        "peak_jy": qa["peak_jy"],
        "dynamic_range": qa["dynamic_range"],
        "preview_path": result.preview_path,
        "thumbnail_path": result.thumbnail_path,
    }
    rows = []
    for kind, path in result.products.items():
        extra = science if kind in ("image", "image-pb") else {}
        rows.append(
            repo.register_image(
                session,
                path=path,
                image_type=kind,
                mjd_obs=result.mjd_obs,
                ra_deg=result.ra_deg,
                dec_deg=result.dec_deg,
                size_x=result.size,
                size_y=result.size,
                cell_arcsec=result.cell_arcsec,
                ms_id=ms_id,
                version=version,
                freq_hz=result.freq_hz,
                bandwidth_hz=result.bandwidth_hz,
                integration_s=result.integration_s,
                beam_major_arcsec=result.beam_arcsec[0],
                beam_minor_arcsec=result.beam_arcsec[1],
                beam_pa_deg=result.beam_arcsec[2],
                pbcor=kind == "image-pb",
                beam_model_id=result.beam_model_id if kind in PB_PRODUCTS else None,
                **extra,
            )
        )
    repo.mark_ms_imaged(session, ms_id)
    return rows
