"""The steps of one group, in order: convert, flag, calibrate, image, photometry.

Each step is a module with ``run(ctx: StepContext) -> dict``: ``ctx``
(:class:`~dsa110_contimg.pipeline.context.StepContext`) carries the settings,
the session factory, the group id, the step's job, what earlier steps
returned, and the run's :class:`~dsa110_contimg.pipeline.context.RunOptions`.
A step's first line turns the settings and the run's options into its own
frozen options record (``ConvertOptions``, ``FlagOptions``, ``ImageOptions``,
...; ``from_settings(settings, run)``), and it returns a result record (the
job's outputs). The runner (:mod:`dsa110_contimg.pipeline.runner`) wires them
to the database and jobs.

Steps are idempotent: each first looks at what the products DB holds for the
group and does only what is missing, and registers products only after they
are complete on disk. Each reads in a short session, computes with none
open, and writes in another (:mod:`dsa110_contimg.products.repositories`).

``common`` holds what several steps look up (the group's files, its MS).
"""

from __future__ import annotations

from dsa110_contimg.pipeline.steps import calibrate, convert, flag, image, photometry

#: The steps of a group, in order: (name, run).
STEPS = [
    ("convert", convert.run),
    ("flag", flag.run),
    ("calibrate", calibrate.run),
    ("image", image.run),
    ("photometry", photometry.run),
]
