"""A step's job records the science settings it ran with; the provenance endpoint shows them."""

from __future__ import annotations

from api_support import Seed, make_settings
from fastapi.testclient import TestClient

from dsa110_contimg.pipeline.runner import process_group
from dsa110_contimg.products import make_engine, make_session_factory


def _run_steps(seed: Seed, group_id: str, monkeypatch, **environment: str) -> dict[str, str]:
    """Run stub steps named like the pipeline's through the real runner; their run ids."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(seed.root, seed.url)
    engine = make_engine(settings.db_url)
    run_ids: list[str] = []

    def stub(ctx) -> dict:
        run_ids.append(ctx.job.run_id)
        return {"ok": True}

    stages = [("flag", stub), ("photometry", stub)]
    try:
        assert process_group(
            settings, make_session_factory(engine), group_id, stages=stages, claimed=True
        )
    finally:
        engine.dispose()
    return dict(zip(("flag", "photometry"), run_ids, strict=True))


def test_provenance_shows_the_settings_and_a_change(
    client: TestClient, writable_seed: Seed, monkeypatch
) -> None:
    group = writable_seed.groups[2]
    before = _run_steps(writable_seed, group, monkeypatch)
    prov = client.get(f"/api/jobs/{before['photometry']}/provenance").json()
    assert prov["job_type"] == "photometry"
    assert prov["settings"]["photometry"]["upper_limit_snr"] == 5.0
    assert prov["settings"]["photometry"]["normalisation"]["min_snr"] == 50.0
    assert prov["settings"]["variability"]["presets"]["conservative"]["eta"] == 3.0
    assert prov["settings"]["variability_preset"] == "conservative"
    assert prov["settings_hash"] == prov["params"]["settings_hash"]
    assert len(prov["settings_hash"]) == 12
    flag = client.get(f"/api/jobs/{before['flag']}/provenance").json()
    assert set(flag["settings"]) == {"flagging"}
    assert flag["settings"]["flagging"]["mad_sigma"] == 7.0

    after = _run_steps(
        writable_seed,
        group,
        monkeypatch,
        DSA110_PHOTOMETRY__UPPER_LIMIT_SNR="4",
        DSA110_VARIABILITY__PRESETS__CONSERVATIVE__ETA="3.5",
    )
    changed = client.get(f"/api/jobs/{after['photometry']}/provenance").json()
    assert changed["settings"]["photometry"]["upper_limit_snr"] == 4.0
    assert changed["settings"]["variability"]["presets"]["conservative"]["eta"] == 3.5
    assert changed["settings_hash"] != prov["settings_hash"]
    # the flag step's settings did not change: same values, same hash
    same = client.get(f"/api/jobs/{after['flag']}/provenance").json()
    assert same["settings_hash"] == flag["settings_hash"]
