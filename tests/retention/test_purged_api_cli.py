"""Purged products through the real API (410 Gone) and the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
from api_support import LiveServer, make_settings
from retention_support import World, build_world

from dsa110_contimg.api import create_app
from dsa110_contimg.retention import apply_retention


def _api(world: World) -> LiveServer:
    settings = make_settings(world.settings.data_root, world.settings.db_url)
    return LiveServer(create_app(settings))


def test_a_purged_download_is_410_gone_in_the_error_body(world: World) -> None:
    apply_retention(world.settings, world.factory)
    ids = world.ids
    with _api(world) as api:
        gone = httpx.get(f"{api.url}/api/images/{ids['residual_old']}/fits")
        assert gone.status_code == 410
        error = gone.json()["error"]
        assert error["code"] == "purged"
        assert "storage lifecycle" in error["message"]
        assert error["details"]["purged_at"]
        # the record itself is still served, marked purged
        record = httpx.get(f"{api.url}/api/images/{ids['residual_old']}").json()
        assert record["status"] == "purged" and record["purged_at"]
        # a kept class downloads as before
        kept = httpx.get(f"{api.url}/api/images/{ids['image-pb_old']}/fits")
        assert kept.status_code == 200 and len(kept.content) > 0
        cut = httpx.get(f"{api.url}/api/images/{ids['dirty_old']}/cutout.png")
        assert cut.status_code == 410
        zipped = httpx.get(
            f"{api.url}/api/images/download",
            params={"ids": [ids["image-pb_old"], ids["psf_old"]]},
        )
        assert zipped.status_code == 410
        log = httpx.get(f"{api.url}/api/jobs/convert-old/logs")
        assert log.status_code == 410 and log.json()["error"]["code"] == "purged"
        ms = httpx.get(f"{api.url}/api/ms/{quote(str(world.paths['ms_old']), safe='')}/metadata")
        assert ms.status_code == 200
        assert ms.json()["status"] == "purged" and ms.json()["purged_at"]
        listed = httpx.get(f"{api.url}/api/ms", params={"status": "purged"}).json()
        assert listed["total"] == 1


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSA110_")} | {
        "DSA110_DATA_ROOT": str(root),
        "DSA110_RETENTION_CALTABLE_DAYS": "5",
    }
    return subprocess.run(
        [sys.executable, "-m", "dsa110_contimg.cli", "retention", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plan_prints_per_class_and_apply_removes(tmp_path: Path) -> None:
    world = build_world(tmp_path / "data", None, retention_caltable_days=5.0)
    table = _cli(world.settings.data_root, "plan")
    assert table.returncode == 0, table.stderr
    assert "nothing was deleted" in table.stdout
    assert table.stdout.splitlines()[1].split()[:4] == ["raw", "1", "d", "2"]  # 1 d, 2 files
    planned = _cli(world.settings.data_root, "plan", "--json")
    assert planned.returncode == 0, planned.stderr
    classes = json.loads(planned.stdout)["classes"]
    assert {k: v["files"] for k, v in classes.items()} == {
        "raw": 2,
        "ms": 1,
        "intermediate": 8,
        "log": 1,
        "caltable": 1,
        "event": 0,
        "heartbeat": 0,
    }
    assert classes["event"]["rows"] == 3 and classes["heartbeat"]["rows"] == 4
    assert all(p.exists() for p in world.paths.values())
    applied = _cli(world.settings.data_root, "apply", "--class", "intermediate", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["removed_files"] == {"intermediate": 8}
    assert not world.paths["psf_old"].exists() and world.paths["raw_old_0"].exists()
    disk = _cli(world.settings.data_root, "disk", "--json")
    assert disk.returncode == 0, disk.stderr
    assert {row["folder"] for row in json.loads(disk.stdout)} >= {"incoming", "ms", "images"}
