"""The pipeline: the steps of a group, wired to the products DB as jobs, run in batches or as a daemon.

Layout
------
``steps/``
    The steps of one group, in order (:data:`~dsa110_contimg.pipeline.steps.STEPS`):
    convert, flag, calibrate, image, photometry. Each is ``run(ctx) -> dict``
    with its own frozen options record built from the settings and the run's
    :class:`~dsa110_contimg.pipeline.context.RunOptions`.
``context``
    :class:`~dsa110_contimg.pipeline.context.StepContext` (what a step gets)
    and :class:`~dsa110_contimg.pipeline.context.RunOptions` (a run's choices).
``runner``
    Claims a group, runs its steps each as a job inside a batch job, records
    the outcome; :func:`~dsa110_contimg.pipeline.runner.recover` cleans up
    after a crash.
``jobs``
    One unit of work as a job row with its own log (:func:`~dsa110_contimg.pipeline.jobs.job_run`).
``services``
    What the command line and the steps share: requeue groups, register an
    MS from its metadata, calibrate one MS.
``batch``, ``stream``, ``demo``
    Many groups: a batch (local processes, serial or Dask), the watching
    daemon, and the simulated end-to-end demo.
``calibrators``, ``reapply``
    Which groups hold a calibrator transit (they run first); requeueing the
    groups that waited for calibration once it exists.

Database statements live in :mod:`dsa110_contimg.products.repositories`; the
modules here call its named functions in short sessions.
"""
