"""``dsa110 simulate``: write simulated DSA-110 data."""

from __future__ import annotations

import click


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--preset", default="test", show_default=True, help="test, demo or full.")
@click.option(
    "--sim-config",
    "sim_config",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML file overriding the preset's simulation settings.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default: the config's).")
@click.option("--group", "groups", type=int, multiple=True, help="Only these group indices.")
def simulate(
    outdir: str, preset: str, sim_config: str | None, seed: int | None, groups: tuple[int, ...]
) -> None:
    """Write simulated DSA-110 UVH5 files, a catalog and the truth into OUTDIR."""
    from tqdm import tqdm

    from dsa110_contimg.simulate import load_sim_config
    from dsa110_contimg.simulate import simulate as run_simulation

    overrides = {} if seed is None else {"seed": seed}
    cfg = load_sim_config(preset, sim_config, **overrides)
    n_groups = len(groups) if groups else cfg.n_groups
    with tqdm(total=n_groups * cfg.n_integrations, unit="int", desc="simulating") as bar:
        truth = run_simulation(cfg, outdir, groups=list(groups) or None, progress=bar.update)
    click.echo(
        f"wrote {n_groups} group(s) of {cfg.preset!r} data to {outdir}/incoming; "
        f"{len(truth['sources']['name'])} sources; truth in {outdir}/truth.json"
    )
