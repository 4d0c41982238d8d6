"""Run the reporting service: `python -m alamal_reporting` (configured by REPORTING_* variables).

`python -m alamal_reporting rebuild` replays the topics into an emptied projection when they hold
its whole history; `... reconcile [--check]` repairs what the projection lacks.
"""

import sys

from alamal_reporting.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
