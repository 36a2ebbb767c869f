"""``python -m segbench``: the same entry point as the ``segbench`` console script."""

from segbench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
