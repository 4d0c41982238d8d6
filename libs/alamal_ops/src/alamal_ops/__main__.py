"""`python -m alamal_ops`."""

import sys

from alamal_ops.cli import main

sys.exit(main())
