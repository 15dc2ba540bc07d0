"""Simulated DSA-110 data: UVH5 subband files with a known sky, gains and variability.

``simulate(cfg, outdir)`` writes the file stream, a user-style catalog and the
truth; ``load_sim_config`` / ``preset_config`` build the configuration from
the ``test``, ``demo`` and ``full`` presets.
"""

from dsa110_contimg.simulate.config import PRESETS, SimConfig, load_sim_config, preset_config
from dsa110_contimg.simulate.run import simulate

__all__ = ["PRESETS", "SimConfig", "load_sim_config", "preset_config", "simulate"]
