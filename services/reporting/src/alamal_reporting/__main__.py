"""Run the reporting service: `python -m alamal_reporting` (configured by REPORTING_* variables).

`python -m alamal_reporting rebuild` drops the projection and replays the topics into it.
"""

import sys

from alamal_reporting.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
