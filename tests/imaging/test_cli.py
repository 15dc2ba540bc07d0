"""`dsa110 image MS`: products written, the result printed, errors as exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsa110_contimg.cli import main

from .conftest import needs_wsclean


@needs_wsclean
def test_image_command(field, tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[quicklook]\nsize = 256\ncell_arcsec = 30.0\n")
    out = tmp_path / "images"
    args = ["image", str(field["ms"]), "--tier", "quicklook", "--data-column", "DATA"]
    result = CliRunner().invoke(
        main, [*args, "--out", str(out), "--tiers-file", str(tiers), "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["size"] == 256 and record["tier"] == "quicklook"
    assert Path(record["products"]["image-pb"]).parent == out.resolve()
    assert Path(record["preview_path"]).is_file()


def test_image_command_without_corrected_data(field, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["image", str(field["ms"]), "--out", str(tmp_path)])
    assert result.exit_code == 4  # InputDataError
    assert "CORRECTED_DATA" in result.output


@needs_wsclean
@pytest.mark.parametrize("ms_registered", [True, False])
def test_image_command_registers(field, tmp_path: Path, ms_registered: bool) -> None:
    """The images are recorded against the MS's row; an MS not yet registered is registered first."""
    from dsa110_contimg.config import load_settings
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo

    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(load_settings().db_url)
    if ms_registered:
        with session_scope(make_session_factory(engine)) as session:
            repo.register_ms(
                session, path=str(field["ms"]), mjd_start=1.0, mjd_mid=1.5, mjd_end=2.0
            )
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[quicklook]\nsize = 128\ncell_arcsec = 60.0\n")
    args = ["image", str(field["ms"]), "--tier", "quicklook", "--data-column", "DATA"]
    result = runner.invoke(main, [*args, "--tiers-file", str(tiers), "--register"])
    assert result.exit_code == 0, result.output
    assert "rms" in result.output and "QA" in result.output
    with session_scope(make_session_factory(engine)) as session:
        ms_row = repo.get_ms(session, str(Path(field["ms"]).resolve()))
        if not ms_registered:  # from the MS's own metadata
            assert ms_row.mjd_start < ms_row.mjd_mid < ms_row.mjd_end and ms_row.n_rows > 0
        page = repo.list_images(session, image_type="image-pb")
        assert page.total == 1 and page.items[0]["ms_id"] == ms_row.id
    engine.dispose()
