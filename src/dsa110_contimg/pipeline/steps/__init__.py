"""The pipeline's steps, in order: each ``run(ctx)`` takes a :class:`StageContext` and returns its outputs.

Steps are idempotent (see :mod:`dsa110_contimg.pipeline.runner`): each first
looks at what the products DB holds for the group and does only what is
missing, and registers products only after they are complete on disk.
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
