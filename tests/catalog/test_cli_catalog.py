"""`dsa110 catalog import / cone` on a user's CSV file."""

from __future__ import annotations

from click.testing import CliRunner

from dsa110_contimg.cli import main

HEADER = "name,ra_deg,dec_deg,ra_err_arcsec,dec_err_arcsec,flux_mjy,flux_err_mjy,major_arcsec,minor_arcsec,pa_deg\n"


def test_import_and_cone(tmp_path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "A,10.0,20.0,,,50,2,,,\nB,10.5,20.2,,,30,2,,,\nC,50,20,,,10,1,,,\n")
    runner = CliRunner()
    result = runner.invoke(main, ["catalog", "import", "MINE", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported 3 rows" in result.output
    result = runner.invoke(main, ["catalog", "cone", "MINE", "10.2", "20.1", "1.0"])
    assert result.exit_code == 0 and "2 sources" in result.output


def test_bad_rows_name_the_line_and_import_nothing(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "A,10.0,20.0,,,50,2,,,\nB,oops,20.2,,,30,2,,,\n")
    runner = CliRunner()
    result = runner.invoke(main, ["catalog", "import", "BAD", str(bad)])
    assert result.exit_code == 4
    assert "bad.csv:3" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["catalog", "import", "BAD", str(bad), "--skip-bad"])
    assert result.exit_code == 0 and "imported 1 rows" in result.output
