"""The operator command line (`alamal-ops`, or `python -m alamal_ops`)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; return the exit status."""
    parser = argparse.ArgumentParser(prog="alamal-ops", description=__doc__)
    parser.parse_args(argv)
    parser.print_help()
    return 0
