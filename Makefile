# The two quick-start commands (see README.md): `make demo` and `make test`.
.PHONY: demo test setup setup-test lint

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

demo: setup
	.venv/bin/dsa110 demo

test: setup-test
	.venv/bin/python -m pytest -n 2

lint:
	.venv/bin/ruff check src tests benchmarks
