"""Settings: one object, read from ``DSA110_*`` variables and an optional TOML file.

Precedence, highest first: keyword arguments to :func:`load_settings`, the
environment (``DSA110_DATA_ROOT``, ``DSA110_DB_URL``, ...), the TOML file
(``--config`` on the command line or ``DSA110_CONFIG``), the defaults here.

Folders under the data root may be given relative (to the data root) or
absolute. List-valued settings (``allowed_ips``, ``api_keys``,
``trusted_proxies``, ``api_cors_origins``, ``api_allowed_hosts``) accept comma-separated strings in
the environment.

The science sections (:mod:`dsa110_contimg.science_settings`) hold every
threshold that shapes a product; the defaults are the operating pipeline's.
Each is a TOML table or ``DSA110_<SECTION>__<NAME>`` in the environment
(``__`` between levels):

``photometry``
    forced photometry (``upper_limit_snr``, ``cutout_beams``, blends:
    ``blend_beams``, ``joint_beams``, ``unstable_correlation``,
    ``noise_acf_scale``) and ``photometry.normalisation`` (references:
    ``radius_deg``, ``min_snr``, ``max_references``, ``min_references``,
    ``baseline_epochs``, ``clip_sigma``);
``variability``
    ``presets.<name>`` (``sigma``, ``chi2_nu``, ``eta``, ``min_epochs``,
    ``frac_floor``; the one used is ``variability_preset``), ``ese`` (the
    ESE classification) and ``new_sources`` (``limit_sigma``, ``max_listed``);
``flagging``
    the flagging recipe (``mad_sigma``, ``antenna_limit``, ...);
``solve``
    the calibration solve (SNR limits, intervals, ``uvmin_lambda``, ...),
    the validity of new tables, and ``solve.tile_model`` (the catalog sky
    model of gains between transits);
``imaging``
    ``tiers.<name>``: WSClean parameters replacing a tier's (over the file
    named by ``DSA110_IMAGING_TIERS``).

Each pipeline step's job records the sections it used and a short hash of
them in its ``params`` (:func:`dsa110_contimg.pipeline.context.recorded_settings`).
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dsa110_contimg.errors import ConfigError
from dsa110_contimg.science_settings import (
    FlaggingSettings,
    ImagingSettings,
    PhotometrySettings,
    SolveSettings,
    VariabilitySettings,
)

#: Networks always allowed to read the API: loopback only. Private ranges are not
#: trusted by default (behind a NAT or a container proxy every client looks private);
#: the operator lists the networks to admit in ``allowed_ips``.
DEFAULT_ALLOWED_NETWORKS: tuple[str, ...] = ("127.0.0.0/8", "::1/128")

#: Host names the API answers to by default (the Host header; DNS rebinding defence).
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")

#: Folders under the data root, by setting name.
DATA_FOLDERS: tuple[str, ...] = (
    "incoming_dir",
    "ms_dir",
    "caltables_dir",
    "images_dir",
    "mosaics_dir",
    "logs_dir",
    "quarantine_dir",
    "state_dir",
)

_toml_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "dsa110_toml_file", default=None
)

#: Default free-space thresholds (GB) of every data folder: warn, stop taking groups.
#: Stop leaves room for the groups in flight (one needs ~5 GB: its MS and images);
#: warn comes ~3.5 h of the full stream (raw + MS ~1.3 TB a day) before that.
DISK_WARN_FREE_GB, DISK_STOP_FREE_GB = 200.0, 20.0

#: A retention age in days, or "keep" (never removed).
RetentionDays = Annotated[float, Field(ge=0, le=36_500)] | Literal["keep"]
#: Free-space thresholds (GB) by folder name ("default" for the rest).
DiskThresholds = dict[str, Annotated[float, Field(ge=0)]]

Networks = Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode]
Secrets = Annotated[list[SecretStr], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Resolved settings of one pipeline or API process."""

    model_config = SettingsConfigDict(
        env_prefix="DSA110_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_root: Path = Field(
        default=Path("data"), description="Root folder of all pipeline data and state."
    )
    incoming_dir: Path = Field(default=Path("incoming"), description="Where UVH5 files arrive.")
    ms_dir: Path = Path("ms")
    caltables_dir: Path = Path("caltables")
    images_dir: Path = Path("images")
    mosaics_dir: Path = Path("mosaics")
    logs_dir: Path = Path("logs")
    quarantine_dir: Path = Path("quarantine")
    state_dir: Path = Path("state")

    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the products DB; default SQLite in state_dir.",
    )
    db_pool_size: int = Field(default=5, ge=1, le=100)
    catalog_db: Path | None = Field(
        default=None,
        description="SQLite store of survey catalogs; default state_dir/catalogs.sqlite3.",
    )
    variability_preset: str = Field(
        default="conservative",
        description="ESE/variable candidate preset (conservative, moderate, sensitive).",
    )

    beam_model: Literal["airy", "measured"] = Field(
        default="airy",
        description="Primary-beam model of the pb correction: 'airy' (the 4.65 m dish's Airy) "
        "or 'measured' (the newest registered beam_models version valid at the image's time, "
        "`dsa110 beam fit`; the Airy when none is); each image records the model it used.",
    )

    workers: int = Field(default=2, ge=1, le=512, description="Local worker processes.")
    tile_gains: bool = Field(
        default=True,
        description="Between calibrator transits (gain tables expired, bandpass valid), solve "
        "each group's gains against the catalog sky model and apply them; off, such groups "
        "are left uncalibrated with the reason recorded.",
    )
    reapply_waiting: bool = Field(
        default=True,
        description="After a calibrator group is solved, requeue the earlier groups of its "
        "strip left uncalibrated that the new tables cover (streaming mode).",
    )
    batch_priority: str = Field(
        default="realtime",
        pattern="^(realtime|batches)$",
        description="When new stream groups and queued API batches (reprocess, rerun, "
        "re-image) both wait: 'realtime' runs the stream's groups first and one batch "
        "between polls; 'batches' runs the queued batches first.",
    )
    catchup: bool = Field(
        default=False,
        description="Catch-up policy: when the daemon is behind real time by more than "
        "catchup_lag_s, image new groups at catchup_tier and queue the run's own tier as a "
        "re-image batch, run once the daemon has caught up (the first image is superseded).",
    )
    catchup_lag_s: float = Field(
        default=1800.0,
        gt=0,
        description="Lag (s) of a group's end (its start + 309.24 s) behind the clock above "
        "which the catch-up policy images at catchup_tier.",
    )
    catchup_tier: str = Field(
        default="quicklook",
        pattern="^(standard|quicklook|deep)$",
        description="Imaging tier of groups imaged while catching up (when the run's own "
        "tier is this one, nothing is queued).",
    )
    mosaic_stage: bool = Field(
        default=False,
        description="The daemon makes a mosaic per declination strip and period once its "
        "tiles are in (every group of it finished, or mosaic_timeout_s after the period).",
    )
    mosaic_period_days: float = Field(
        default=1.0,
        gt=0,
        le=366,
        description="Length (days) of a daemon mosaic's period, from MJD multiples of it.",
    )
    mosaic_strip_width_deg: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="Width (deg) of the declination strips daemon mosaics are made of.",
    )
    mosaic_timeout_s: float = Field(
        default=3600.0,
        ge=0,
        description="After a period's end, make its mosaic even if some groups are unfinished.",
    )
    mosaic_lookback_days: float = Field(
        default=7.0,
        gt=0,
        description="How far back (days) the daemon looks for periods to mosaic (or remake).",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    allowed_ips: Networks = Field(
        default_factory=list,
        description="Networks allowed to use the API besides loopback (the only default); "
        "list the private ranges of the site's clients here.",
    )
    trusted_proxies: Networks = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.1/32"),
            ipaddress.ip_network("::1/128"),
        ],
        description="Peers whose X-Forwarded-For header is believed.",
    )
    api_keys: Secrets = Field(default_factory=list, description="Keys allowed to write.")
    redis_url: SecretStr | None = Field(default=None, description="Redis for cache and events.")

    # -- API tunables: response cache, live events, metrics, requests --------
    api_cache_ttl_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="How long (s) a cached read (a GET's JSON) is served while nothing new "
        "is registered; a new product invalidates every entry sooner. 0 turns caching off.",
    )
    api_cache_max_bytes: int = Field(
        default=64 << 20,
        ge=1 << 16,
        le=1 << 34,
        description="Most bytes of response bodies the in-process cache holds (least "
        "recently used go first; a body over an eighth of it is not cached); entries in "
        "Redis are bounded by api_cache_ttl_s only.",
    )
    api_cache_check_s: float = Field(
        default=0.5,
        ge=0,
        le=3600,
        description="How often (s) the cache re-reads the newest product event from the DB, "
        "which invalidates entries after writes by other processes (0: on every request); "
        "events seen by the live-event poller invalidate at once.",
    )
    api_cache_redis_retry_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="After Redis fails, how long (s) the cache uses the in-process store "
        "before trying Redis again.",
    )
    api_event_poll_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often (s) the API polls the events table for WebSocket and "
        "/api/events subscribers (and for cache invalidation).",
    )
    api_gauge_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="How long (s) the scientific gauges of /metrics are reused before the "
        "products DB is queried again (0: at every scrape).",
    )
    # -- API limits on transfers, live events and writes (issue 17) ----------
    api_max_downloads: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Most file downloads (FITS, logs, zips of images) sent at once per API "
        "process; one more gets a 429 with Retry-After.",
    )
    api_max_exports: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Most table exports (CSV, JSON, VOTable) streamed at once per API "
        "process; one more gets a 429 with Retry-After.",
    )
    api_max_renders: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Most PNG renders (previews, thumbnails, cutouts) computed at once per "
        "API process; one more gets a 429 with Retry-After.",
    )
    api_retry_after_s: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="The Retry-After (s) of a 429 when downloads, exports or renders are full.",
    )
    api_event_gap_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long (s) the live-event poller keeps looking for an event id it "
        "skipped (on PostgreSQL ids become visible at commit, out of order); a write that "
        "stays uncommitted longer than this after a later one is not announced live.",
    )
    api_ws_max_connections: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Most live-event WebSockets open at once per API process; one more is "
        "closed with code 1013 (try again later).",
    )
    api_ws_max_message_bytes: int = Field(
        default=16384,
        ge=256,
        le=1 << 20,
        description="Largest message (bytes) a live-event WebSocket client may send; a "
        "larger one closes the connection with code 1009.",
    )
    api_ws_replay_max: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        description="Most missed events replayed to a WebSocket client reconnecting with "
        'since=; one that missed more gets {"type": "resync"} and reloads its view.',
    )
    api_max_params_depth: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Deepest nesting of the params object of a batch request (reprocess, "
        "re-image); deeper ones get a 422.",
    )
    api_max_params_bytes: int = Field(
        default=16384,
        ge=256,
        le=1 << 20,
        description="Largest params object of a batch request, as JSON (bytes); larger "
        "ones get a 422.",
    )
    api_max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        le=1 << 30,
        description="Largest request body accepted (bytes); larger ones get a 413.",
    )
    api_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS and for cross-origin WebSockets (comma-separated "
        "in the environment); empty, the default, sends no CORS headers at all.",
    )
    api_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS),
        description="Host names the API answers to (the Host header, without port; "
        "comma-separated in the environment; '*.example.org' matches subdomains); other "
        "hosts get a 400, and WebSocket Origins must name one of them or a CORS origin. "
        "Default: localhost, 127.0.0.1, ::1; add the name clients use behind nginx.",
    )
    api_graphql_max_cost: int = Field(
        default=20_000,
        ge=1,
        le=10_000_000,
        description="Largest GraphQL query cost, counted before execution: every object "
        "field counts once per object it may return (a list's limit multiplies what is "
        "under it); dearer queries get a 422.",
    )
    api_graphql_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Threads GraphQL resolvers may use at once (their own limiter, apart "
        "from the REST routes' threadpool, so GraphQL cannot starve REST).",
    )

    # -- sign-in of named users (issue 19) ------------------------------------
    auth_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 90,
        description="How long (hours) a dashboard sign-in lasts; then the user signs in again. "
        "Signing out, a new password or disabling the user ends it sooner.",
    )
    auth_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="Failed sign-ins from one client address within auth_failure_window_s "
        "after which that address's attempts get a 429 with Retry-After.",
    )
    auth_max_failures_per_user: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="Failed sign-ins for one user name (from anywhere) within "
        "auth_failure_window_s after which attempts for that name get a 429 with Retry-After.",
    )
    auth_failure_window_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="The window (s) over which failed sign-ins are counted; Retry-After is the "
        "time until the oldest failure in it leaves it. Counted per API process.",
    )

    # -- storage lifecycle (retention) and disk guard (issue 15) ------------
    retention_raw_days: RetentionDays = Field(
        default=1.0,
        description="Days after a group's MS is registered and verified on disk (group done, "
        "MS complete) that its raw UVH5 files are removed; 'keep' never removes them. Files "
        "of a group whose MS is not verified are never removed.",
    )
    retention_ms_days: RetentionDays = Field(
        default=3.0,
        description="Days after registration that a Measurement Set is removed, once it is "
        "calibrated and imaged; 'keep' never removes them.",
    )
    retention_intermediate_days: RetentionDays = Field(
        default=2.0,
        description="Days after imaging that the imaging intermediates (dirty, psf, model, "
        "residual FITS) are removed; 'keep' never removes them.",
    )
    retention_log_days: RetentionDays = Field(
        default=90.0,
        description="Days after a job finished that its log file is removed (the job row "
        "stays); 'keep' never removes them.",
    )
    retention_event_days: RetentionDays = Field(
        default=30.0,
        description="Days the events table keeps an event (live notices: new products, job "
        "progress) before it is deleted; 'keep' keeps them all.",
    )
    retention_heartbeat_days: RetentionDays = Field(
        default=2.0,
        description="Days the events table keeps a worker heartbeat (one a minute per "
        "daemon); 'keep' keeps them all.",
    )
    retention_caltable_days: RetentionDays = Field(
        default="keep",
        description="Days after registration that an expired, superseded or rejected "
        "calibration table is removed; default 'keep'. A table still valid, or whose "
        "validity covers data not yet calibrated, is never removed. pb-corrected images, "
        "previews, beams, mosaics and photometry are always kept.",
    )
    retention_interval_s: float = Field(
        default=3600.0,
        ge=0,
        le=7 * 86_400,
        description="How often (s) the stream daemon applies the retention policy between "
        "groups (0: never; 'dsa110 retention apply' still does). Below a disk's stop "
        "threshold it applies it at once.",
    )
    disk_warn_free_gb: DiskThresholds = Field(
        default_factory=lambda: {"default": DISK_WARN_FREE_GB},
        description="Free space (GB, 1e9 bytes) below which a data folder's disk is low: "
        "the dsa110_disk_level gauge is 1 and the DSA110DiskLow alert fires. Keys: 'default' "
        "and folder names (incoming, ms, caltables, images, mosaics, logs, quarantine, "
        "state); JSON in the environment.",
    )
    disk_stop_free_gb: DiskThresholds = Field(
        default_factory=lambda: {"default": DISK_STOP_FREE_GB},
        description="Free space (GB) below which the stream daemon takes no new group (files "
        "wait in incoming) until space returns; keys as disk_warn_free_gb.",
    )

    log_level: str = "INFO"

    # -- science: every threshold that shapes a product (science_settings.py) --
    photometry: PhotometrySettings = Field(
        default_factory=PhotometrySettings,
        description="Forced photometry, blends and the epoch normalisation.",
    )
    variability: VariabilitySettings = Field(
        default_factory=VariabilitySettings,
        description="Candidate presets' thresholds, the ESE classification, new sources.",
    )
    flagging: FlaggingSettings = Field(
        default_factory=FlaggingSettings, description="The flagging recipe."
    )
    solve: SolveSettings = Field(
        default_factory=SolveSettings,
        description="The calibration solve, new tables' validity, the tile sky model.",
    )
    imaging: ImagingSettings = Field(
        default_factory=ImagingSettings, description="Overrides of the imaging tiers."
    )

    @field_validator(
        "allowed_ips",
        "trusted_proxies",
        "api_keys",
        "api_cors_origins",
        "api_allowed_hosts",
        mode="before",
    )
    @classmethod
    def _lists_from_commas(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("allowed_ips", "trusted_proxies", mode="before")
    @classmethod
    def _strict_networks(cls, value: Any) -> Any:
        # ip_network(strict=False) accepts "10.1.2.3/8" as a typo-friendly form.
        if isinstance(value, list):
            return [ipaddress.ip_network(str(v), strict=False) for v in value]
        return value

    @field_validator("api_keys")
    @classmethod
    def _no_empty_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            if len(key.get_secret_value()) < 16:
                raise ValueError("API keys must be at least 16 characters long")
        return value

    @field_validator("variability_preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in {"conservative", "moderate", "sensitive"}:
            raise ValueError(f"unknown variability preset {value!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("disk_warn_free_gb", "disk_stop_free_gb")
    @classmethod
    def _known_folders(cls, value: dict[str, float]) -> dict[str, float]:
        known = {"default", *(name.removesuffix("_dir") for name in DATA_FOLDERS)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown folder(s) {unknown}; use {sorted(known)}")
        return value

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        root = self.data_root.expanduser().resolve()
        object.__setattr__(self, "data_root", root)
        for name in DATA_FOLDERS:
            folder = getattr(self, name).expanduser()
            object.__setattr__(self, name, folder if folder.is_absolute() else root / folder)
        if self.catalog_db is None:
            object.__setattr__(self, "catalog_db", self.state_dir / "catalogs.sqlite3")
        if self.db_url is None:
            object.__setattr__(self, "db_url", f"sqlite:///{self.state_dir / 'products.sqlite3'}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    # -- derived values -------------------------------------------------
    @property
    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Every network allowed to use the API: loopback plus ``allowed_ips``."""
        defaults = [ipaddress.ip_network(n) for n in DEFAULT_ALLOWED_NETWORKS]
        return defaults + [n for n in self.allowed_ips if n not in defaults]

    def data_folders(self) -> dict[str, Path]:
        """Absolute path of each folder under the data root, by setting name."""
        return {name: getattr(self, name) for name in DATA_FOLDERS}

    def disk_thresholds_gb(self, folder: str) -> tuple[float, float]:
        """The (warn, stop) free-space thresholds (GB) of a folder ("ms", "incoming", ...)."""
        warn = self.disk_warn_free_gb.get("default", DISK_WARN_FREE_GB)
        stop = self.disk_stop_free_gb.get("default", DISK_STOP_FREE_GB)
        return self.disk_warn_free_gb.get(folder, warn), self.disk_stop_free_gb.get(folder, stop)

    def ensure_folders(self) -> None:
        """Create the data root and every folder under it."""
        for folder in self.data_folders().values():
            folder.mkdir(parents=True, exist_ok=True)

    def masked(self) -> dict[str, Any]:
        """Settings as plain values with every secret replaced by ``***``."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "db_url":
                value = mask_url_password(value)
            elif name == "redis_url":
                value = None if value is None else mask_url_password(value.get_secret_value())
            elif name == "api_keys":
                value = ["***"] * len(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, list):
                value = [str(v) for v in value]
            elif isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            out[name] = value
        return out

    def candidate_preset(self) -> Any:
        """The candidate preset in use: ``variability_preset`` with ``variability``'s thresholds.

        A :class:`~dsa110_contimg.variability.candidates.Preset` (its ESE
        options included).
        """
        return self.variability.preset(self.variability_preset)

    def science(self, *names: str) -> dict[str, Any]:
        """Settings as JSON values by name: science sections and plain settings alike.

        What a job records of the settings it used
        (:func:`dsa110_contimg.pipeline.context.recorded_settings`).
        """
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            out[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        return out


def mask_url_password(url: str) -> str:
    """Replace the password of a database or Redis URL by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy knows: hide all of it after the scheme
        scheme, sep, _ = url.partition("://")
        return f"{scheme}{sep}***" if sep else "***"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from overrides, the environment and an optional TOML file.

    Parameters
    ----------
    config_file
        TOML file of settings (keys as the field names). Defaults to the
        ``DSA110_CONFIG`` variable, if set.
    **overrides
        Values that win over every other source.

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, or a value is invalid.
    """
    path = config_file or os.environ.get("DSA110_CONFIG")
    toml_path = Path(path).expanduser() if path else None
    if toml_path is not None and not toml_path.is_file():
        raise ConfigError(f"config file {toml_path} does not exist")
    token = _toml_file.set(toml_path)
    try:
        return Settings(**overrides)
    except Exception as exc:  # pydantic ValidationError or a TOML syntax error
        where = f" (from {toml_path})" if toml_path else ""
        raise ConfigError(f"invalid settings{where}: {exc}") from exc
    finally:
        _toml_file.reset(token)
