"""``dsa110 mosaic``: co-add pb-corrected images into a registered mosaic."""

from __future__ import annotations

import click

from dsa110_contimg.cli.common import database, parse_mjd


@click.command()
@click.argument("name")
@click.option("--start", required=True, help="Images with mid-times at or after this UTC (ISO).")
@click.option("--end", required=True, help="Images with mid-times before this UTC (ISO).")
@click.option("--dec-min", type=float, default=None, help="Lowest pointing declination, deg.")
@click.option("--dec-max", type=float, default=None, help="Highest pointing declination, deg.")
@click.option("--image-id", "image_ids", type=int, multiple=True, help="Only these image-pb ids.")
@click.option("--cell", "cell_arcsec", type=float, default=None, help="Pixel size, arcsec.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Product folder.")
@click.pass_context
def mosaic(
    ctx: click.Context,
    name: str,
    start: str,
    end: str,
    dec_min: float | None,
    dec_max: float | None,
    image_ids: tuple[int, ...],
    cell_arcsec: float | None,
    out_dir: str | None,
) -> None:
    """Co-add the pb-corrected images of a time range into the mosaic NAME and register it."""
    from tqdm import tqdm

    from dsa110_contimg.mosaic import make_mosaic

    settings, factory = database(ctx)
    bar = tqdm(unit="tile", desc=f"mosaic {name}", disable=None)
    try:
        mosaic_id, result = make_mosaic(
            factory,
            name,
            out_dir or settings.mosaics_dir,
            mjd_start=parse_mjd(start),
            mjd_end=parse_mjd(end),
            dec_min=dec_min,
            dec_max=dec_max,
            image_ids=list(image_ids) or None,
            cell_arcsec=cell_arcsec,
            on_tiles=lambda tiles: bar.reset(total=len(tiles)),
            on_tile=lambda tile: bar.update(),
        )
    finally:
        bar.close()
    click.echo(
        f"mosaic {mosaic_id} {name!r}: {len(result.tile_weights)} images "
        f"{sorted(result.tile_weights)} -> {result.path} ({result.size_x} x {result.size_y} px "
        f"at {result.cell_arcsec:.1f} arcsec), noise {result.noise_jy * 1e3:.2f} mJy/beam, "
        f"noise map {result.noise_path}"
    )
