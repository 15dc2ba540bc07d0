"""``dsa110 serve`` runs the API with uvicorn on the configured address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from api_support import free_port, wait_for_health


def test_dsa110_serve_answers_health_and_docs(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DSA110_")},
        "DSA110_DATA_ROOT": str(tmp_path / "data"),
        "DSA110_API_PORT": str(port),
    }
    subprocess.run(
        [sys.executable, "-m", "dsa110_contimg.cli", "db", "upgrade"], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        health = wait_for_health(port, server)
        assert health.status_code == 200 and health.json()["database"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/api/docs").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/images").json()["total"] == 0
    finally:
        server.terminate()
        server.wait(20)
