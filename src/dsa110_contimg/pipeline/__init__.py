"""The pipeline: stages wired to the products DB as jobs, the runner and the daemon."""
