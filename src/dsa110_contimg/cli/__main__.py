"""``python -m dsa110_contimg.cli``: the same as the ``dsa110`` command."""

from dsa110_contimg.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
