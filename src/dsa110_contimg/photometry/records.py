"""What the photometry stage's three phases hand each other: plain records, no ORM rows.

The read phase (:mod:`~dsa110_contimg.photometry.field`) fills a
:class:`FieldInputs`; the compute phase
(:func:`~dsa110_contimg.photometry.stage.compute_measurement`) turns it into a
:class:`Measurement`; the write phase
(:func:`~dsa110_contimg.photometry.store.write_measurement`) stores that.
Also the stage's reference-selection thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import ForcedPhotometry

SKIP_CATALOGS = ("VLACAL",)
"""Catalogs of the store never measured by default (the calibrator list)."""
REFERENCE_RADIUS_DEG = 1.5
"""References lie within this distance of the image centre, degrees."""
MIN_REFERENCE_SNR = 50.0
"""Catalog or measured SNR a reference needs."""
MAX_REFERENCES = 20
"""Most references per image."""
MIN_REFERENCES = 3
"""Fewest references surviving the clipping for a valid factor."""
BASELINE_EPOCHS = 10
"""Epochs in a reference's baseline."""
REFERENCE_VETO = int(
    PhotFlag.NEAR_EDGE
    | PhotFlag.BLANKED
    | PhotFlag.BLENDED
    | PhotFlag.UPPER_LIMIT
    | PhotFlag.NO_DATA
    | PhotFlag.BAD_NOISE
    | PhotFlag.UNSTABLE_BLEND
)
"""Flags that disqualify a measurement as a reference or baseline point."""


@dataclass(frozen=True)
class ReferenceRules:
    """How an epoch's flux references are chosen and used (defaults: the constants above).

    Attributes
    ----------
    radius_deg : float
        References lie within this distance of the image centre, degrees.
    min_snr : float
        Catalog or measured SNR a reference needs.
    max_references : int
        Most references per image.
    min_references : int
        Fewest references surviving the clipping for a valid factor.
    baseline_epochs : int
        Epochs in a reference's baseline.
    veto : int
        ``PhotFlag`` bits that disqualify a measurement as a reference or
        baseline point.
    clip_sigma : float
        Reference ratios further than this many MAD-based sigmas from their
        median are left out of the epoch's factor.

    The pipeline builds them from ``settings.photometry.normalisation``
    (:meth:`dsa110_contimg.science_settings.PhotometrySettings.rules`).
    """

    radius_deg: float = REFERENCE_RADIUS_DEG
    min_snr: float = MIN_REFERENCE_SNR
    max_references: int = MAX_REFERENCES
    min_references: int = MIN_REFERENCES
    baseline_epochs: int = BASELINE_EPOCHS
    veto: int = REFERENCE_VETO
    clip_sigma: float = 3.0


DEFAULT_RULES = ReferenceRules()
"""The reference rules of the operating pipeline (``docs/dsa110.md`` §3)."""

UNREGISTERED = -1
"""``FieldSources.ids`` of a source the write phase has yet to register."""


def nan_of(value: Any) -> float:
    """None -> NaN, else float."""
    return np.nan if value is None else float(value)


def py_value(value: Any) -> Any:
    """numpy scalar -> Python value, NaN -> None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not np.isfinite(value) else value


@dataclass(frozen=True)
class ImageRecord:
    """The columns of an ``Image`` row the stage uses (angles deg, MJD UTC)."""

    id: int
    path: str
    image_type: str
    pbcor: bool
    mjd_obs: float
    ra_deg: float
    dec_deg: float
    size_x: int
    size_y: int
    cell_arcsec: float

    @classmethod
    def of(cls, row: Any) -> ImageRecord:
        """From an ``Image`` row (or anything with its attributes)."""
        return cls(**{k: getattr(row, k) for k in cls.__dataclass_fields__})


@dataclass
class FieldSources:
    """The sources measured in one image (arrays of shape (N,)).

    ``ids`` is :data:`UNREGISTERED` for a source the write phase registers
    (new catalog rows, blind detections); ``names`` identify those.
    """

    ids: np.ndarray
    names: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    catalog_flux_jy: np.ndarray
    catalog_flux_err_jy: np.ndarray
    major_arcsec: np.ndarray
    from_catalog: np.ndarray

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> FieldSources:
        """Gather source records (``repositories.SOURCE_FIELDS``; ``id`` may be absent)."""

        def column(name: str) -> np.ndarray:
            return np.array([nan_of(r.get(name)) for r in records], float)

        return cls(
            ids=np.array([r.get("id", UNREGISTERED) for r in records], np.int64),
            names=np.array([r["name"] for r in records], object),
            ra_deg=column("ra_deg"),
            dec_deg=column("dec_deg"),
            catalog_flux_jy=column("catalog_flux_jy"),
            catalog_flux_err_jy=column("catalog_flux_err_jy"),
            major_arcsec=column("major_arcsec"),
            from_catalog=np.array(
                [(r.get("catalog") or "blind") != "blind" for r in records], bool
            ),
        )

    def subset(self, keep: np.ndarray) -> FieldSources:
        """The sources selected by a boolean mask or index array."""
        return FieldSources(**{k: v[keep] for k, v in vars(self).items()})

    def concat(self, other: FieldSources) -> FieldSources:
        """These sources followed by ``other``'s."""
        return FieldSources(
            **{k: np.concatenate([v, getattr(other, k)]) for k, v in vars(self).items()}
        )


@dataclass(frozen=True)
class EarlierImage:
    """A measured earlier image and its stored relative flux correction."""

    image: ImageRecord
    factor: float
    factor_err: float


@dataclass
class FieldInputs:
    """What the read phase loads for one image's measurement.

    Attributes
    ----------
    image : ImageRecord
    n_measured : int
        Measurements already stored (> 0: the image is skipped).
    radius_deg : float
        Search radius around the image centre, degrees.
    cones : dict
        Catalog label -> its cone's rows (the catalog store's arrays).
    catalog_rows : dict
        Catalog label -> its cone's source records (``name`` and the
        ``Source`` columns; ``id`` when already registered), catalog order.
    known : list of dict
        Registered sources in the cone that no catalog row names.
    variable_ids : set of int
        Sources with a candidate no human dismissed (never references).
    history : dict
        ``source_id -> [(mjd, flux_jy, image_id), ...]``: the first clean
        raw measurements of the possible references (catalog sources within
        :data:`REFERENCE_RADIUS_DEG`).
    earlier : list of EarlierImage
        Measured images before this one near its Dec (read only with blind
        finding on: the back-fill's candidates).
    catalog_db : str
        The catalog store searched (for error messages).
    rules : ReferenceRules
        The reference rules the history was read for.
    """

    image: ImageRecord
    n_measured: int
    radius_deg: float = 0.0
    cones: dict[str, np.ndarray] = field(default_factory=dict)
    catalog_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    known: list[dict[str, Any]] = field(default_factory=list)
    variable_ids: set[int] = field(default_factory=set)
    history: dict[int, list[tuple[float, float, int]]] = field(default_factory=dict)
    earlier: list[EarlierImage] = field(default_factory=list)
    catalog_db: str = ""
    rules: ReferenceRules = DEFAULT_RULES


@dataclass
class BackfillRows:
    """Forced photometry of new sources in one earlier image.

    ``index`` points into the new sources (``Measurement.sources`` from
    ``Measurement.n_known`` on); the arrays are per measurement.
    """

    image: ImageRecord
    index: np.ndarray
    result: ForcedPhotometry
    norm_flux: np.ndarray
    norm_err: np.ndarray
    ok: np.ndarray


@dataclass
class Measurement:
    """What the compute phase found, for the write phase to store.

    Attributes
    ----------
    image : ImageRecord
    sources : FieldSources
        Every measured source: registered ones, then new catalog rows, then
        new blind detections (the last ``n_blind``).
    new_catalog : dict
        Catalog label -> records of its rows to register (in order).
    new_blind : list of dict
        Blind detections to register (``Source`` columns with ``name``).
    result : ForcedPhotometry
        This image's measurements of ``sources``.
    references : numpy.ndarray
        Indices into ``sources`` of this epoch's references.
    baseline : numpy.ndarray
        The references' baselines, Jy.
    renormalise : set of int
        Earlier images whose factors this epoch's baselines change.
    factor, factor_err, n_references, normalised
        This epoch's correction.
    backfill : list of BackfillRows
        Measurements of the new blind sources in earlier images.
    radius_deg : float
    rules : ReferenceRules
    """

    image: ImageRecord
    sources: FieldSources
    new_catalog: dict[str, list[dict[str, Any]]]
    new_blind: list[dict[str, Any]]
    result: ForcedPhotometry
    references: np.ndarray
    baseline: np.ndarray
    renormalise: set[int]
    factor: float
    factor_err: float
    n_references: int
    normalised: bool
    backfill: list[BackfillRows]
    radius_deg: float
    rules: ReferenceRules = DEFAULT_RULES

    @property
    def n_blind(self) -> int:
        return len(self.new_blind)
