"""Calibration: sky model, our own gain solvers, CASA-format tables, selection and apply.

Pipeline entry points:

* :func:`write_model_ms` -- MODEL_DATA of a calibrator (and catalog sources).
* :func:`solve_ms` -- phase pre-solve, bandpass and gains on a calibrator MS.
* :func:`write_solutions` / :func:`read_caltable` -- CASA ``B Jones`` / ``G Jones`` tables.
* :func:`select_tables` -- which registered tables are valid for an MS.
* :func:`apply_ms` -- CORRECTED_DATA from DATA and tables.
"""
