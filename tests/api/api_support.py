"""Helpers of the API tests: a products DB filled through the repositories, settings.

Imported by ``conftest.py`` and the test modules (this folder is put on
``sys.path`` by ``conftest.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from dsa110_contimg.config import Settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo

API_KEY = "test-key-0123456789abcdef"
LOCAL = ("127.0.0.1", 50000)
#: API settings of tests: the cache sees new events at once, live events arrive fast.
FAST = {"api_cache_check_s": 0.0, "api_event_poll_s": 0.05}


@dataclasses.dataclass
class Seed:
    """What the seeded DB holds, for assertions."""

    root: Path
    url: str
    groups: list[str]
    ms_paths: list[str]
    cal_paths: list[str]
    image_ids: list[int]
    source_ids: list[int]
    far_source_id: int
    candidate_ids: list[int]
    run_ids: dict[str, str]
    mosaic_id: int


def write_fits(path: Path, size: int = 64) -> None:
    """A small synthetic image: a Gaussian on noise, with a minimal celestial header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:size, :size]
    data = rng.normal(0, 1e-3, (size, size)) + 0.1 * np.exp(
        -((x - size / 2) ** 2 + (y - size / 2) ** 2) / 8
    )
    header = fits.Header()
    header.update(CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRVAL1=210.0, CRVAL2=54.6)
    # 6 arcsec cells about the centre, as the seed registers its images
    header.update(CDELT1=-6 / 3600, CDELT2=6 / 3600, CRPIX1=size / 2 + 1, CRPIX2=size / 2 + 1)
    fits.PrimaryHDU(data.astype(np.float32)[None, None], header=header).writeto(path)


def seed(root: Path, url: str) -> Seed:
    """Fill the products DB at ``url`` (data files under ``root``) through the repositories."""
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    t0 = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    groups = ["2026-11-28T12:00:00", "2026-11-28T12:05:09", "2026-11-29T00:00:00"]
    ms_paths = [str(root / "ms" / f"{g}.ms") for g in groups[:2]]
    images_dir = root / "images"
    with session_scope(factory) as s:
        for i, (gid, mjd, state) in enumerate(
            zip(groups, (61007.5, 61007.5036, 61008.0), ("done", "failed", "complete"), strict=True)
        ):
            repo.register_group(
                s,
                group_id=gid,
                start_time=t0 + dt.timedelta(minutes=5 * i),
                start_mjd=mjd,
                dec_deg=54.6,
                files_present=16,
                state=state,
            )
        for sb in range(2):
            repo.register_raw_file(
                s,
                path=str(root / "incoming" / f"{groups[0]}_sb{sb:02d}.hdf5"),
                subband=sb,
                size_bytes=1000,
                mtime=0.0,
                group_id=groups[0],
            )
        repo.register_ms(
            s,
            path=ms_paths[0],
            group_id=groups[0],
            mjd_start=61007.5,
            mjd_mid=61007.5018,
            mjd_end=61007.5036,
            pointing_ra_deg=210.0,
            pointing_dec_deg=54.6,
            field_name="drift",
            n_channels=768,
            stage="imaged",
            calibrator="3C286",
            flag_fraction=0.08,
            qa_metrics={"amp_rms": 0.02},
            size_bytes=10**9,
        )
        repo.register_ms(
            s,
            path=ms_paths[1],
            group_id=groups[1],
            mjd_start=61007.5036,
            mjd_mid=61007.5054,
            mjd_end=61007.5072,
            pointing_dec_deg=54.6,
        )
        bandpass = repo.register_cal_table(
            s,
            path=str(root / "caltables" / "3C286.bcal"),
            table_type="bandpass",
            set_name="3C286-61007",
            valid_start_mjd=61007.4,
            valid_end_mjd=61008.4,
            source_ms_path=ms_paths[0],
            dec_deg=54.6,
            refant="pad103",
            qa_metrics={"flagged": 0.01},
        )
        repo.register_cal_table(
            s,
            path=str(root / "caltables" / "old.gcal"),
            table_type="gain",
            set_name="old",
            valid_start_mjd=61000.0,
            valid_end_mjd=61000.1,
            status="expired",
        )
        repo.record_cal_application(s, ms_path=ms_paths[0], cal_path=bandpass.path)
        image_ids = []
        for k, (mjd, ms_path, kind) in enumerate(
            (
                (61007.5018, ms_paths[0], "image"),
                (61007.5018, ms_paths[0], "image-pb"),
                (61008.0018, None, "image"),
            )
        ):
            path = images_dir / f"img{k}.fits"
            if k != 1:  # the second image's file is deliberately missing on disk
                write_fits(path)
            image = repo.register_image(
                s,
                path=str(path),
                ms_path=ms_path,
                image_type=kind,
                mjd_obs=mjd,
                ra_deg=210.0,
                dec_deg=54.6,
                size_x=64,
                size_y=64,
                cell_arcsec=6.0,
                noise_jy=1e-3 * (k + 1),
                peak_jy=0.1,
                dynamic_range=100.0 / (k + 1),
                beam_major_arcsec=30.0,
                beam_minor_arcsec=20.0,
                qa_grade=("good", "warn", "fail")[k],
                qa_metrics={"rms_ratio": 1.0 + k},
                pbcor=kind == "image-pb",
            )
            image_ids.append(image.id)
        sources = []
        for k in range(5):
            sources.append(
                repo.register_source(
                    s,
                    name=f"J1400{k:02d}+5436{k:02d}",
                    ra_deg=210.0 + 0.1 * k,
                    dec_deg=54.6 + 0.05 * k,
                    catalog="NVSS",
                    catalog_flux_jy=0.1 * (k + 1),
                    is_reference=k == 0,
                )
            )
        far = repo.register_source(s, name="J004000-300000", ra_deg=10.0, dec_deg=-30.0)
        for j, image_id in enumerate(image_ids):
            rows = [
                {
                    "source_id": src.id,
                    "mjd": 61007.5018 + 0.5 * (j // 2),
                    "flux_jy": 0.1 * (k + 1) * (1 + 0.1 * j),
                    "flux_err_jy": 0.002,
                    "snr": 50.0,
                    "norm_flux_jy": 0.1 * (k + 1),
                    "norm_flux_err_jy": 0.002,
                }
                for k, src in enumerate(sources)
            ]
            repo.add_photometry(s, image_id, rows)
        for k, src in enumerate(sources[:3]):
            repo.upsert_variability(
                s, src.id, n_epochs=3, v=0.05 * (k + 1), eta=2.0 * (k + 1), mean_flux_jy=0.1
            )
        candidates = [
            repo.register_candidate(s, source_id=sources[1].id, kind="ese", score=5.0),
            repo.register_candidate(s, source_id=sources[2].id, kind="variable", score=3.0),
        ]
        log_path = root / "logs" / "image.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("".join(f"line {i}\n" for i in range(500)))
        done = repo.create_job(
            s,
            job_type="image",
            group_id=groups[0],
            params={"niter": 1000},
            inputs={"ms": ms_paths[0]},
            software_version="0.1.0",
            log_path=str(log_path),
        )
        repo.start_job(s, done.run_id, host="node1")
        repo.finish_job(s, done.run_id, outputs={"image": str(images_dir / "img0.fits")})
        child = repo.create_job(s, job_type="photometry", parent_run_id=done.run_id)
        pending = repo.create_job(s, job_type="convert", group_id=groups[2])
        running = repo.create_job(s, job_type="calibrate", group_id=groups[1])
        repo.start_job(s, running.run_id)
        mosaic_path = root / "mosaics" / "m1.fits"
        write_fits(mosaic_path)
        mosaic = repo.register_mosaic(
            s,
            name="m1",
            path=str(mosaic_path),
            mjd_start=61007.5,
            mjd_end=61008.1,
            ra_deg=210.0,
            dec_deg=54.6,
            size_x=64,
            size_y=64,
            cell_arcsec=6.0,
            tiles=[(image_ids[0], 1.0), (image_ids[2], 0.5)],
        )
        repo.publish_heartbeat(s, "node1")
        result = Seed(
            root=root,
            url=url,
            groups=groups,
            ms_paths=ms_paths,
            cal_paths=[bandpass.path, str(root / "caltables" / "old.gcal")],
            image_ids=image_ids,
            source_ids=[src.id for src in sources],
            far_source_id=far.id,
            candidate_ids=[c.id for c in candidates],
            run_ids={
                "done": done.run_id,
                "child": child.run_id,
                "pending": pending.run_id,
                "running": running.run_id,
            },
            mosaic_id=mosaic.id,
        )
    engine.dispose()
    return result


def make_settings(root: Path, url: str, **overrides: Any) -> Settings:
    """Settings for a test app: explicit, so no developer environment leaks in."""
    values: dict[str, Any] = {
        "data_root": root,
        "db_url": url,
        "api_keys": [API_KEY],
        "allowed_ips": [],
        "trusted_proxies": ["127.0.0.1/32", "::1/128"],
        # TestClient's requests name the host "testserver"
        "api_allowed_hosts": ["localhost", "127.0.0.1", "::1", "testserver"],
        "redis_url": None,
        **FAST,
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(port: int, server: Any, timeout_s: float = 60) -> Any:
    """The first answer of ``/api/health`` from ``server`` (a ``Popen``) starting on ``port``."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the server did not start"
            assert server.poll() is None, "the server exited"
            time.sleep(0.2)


class LiveServer:
    """A real uvicorn server for an app, on a free loopback port, in a thread."""

    def __init__(self, app: Any):
        import threading

        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
