"""`python -m alamal_stack run`: the embedded stack runner (see alamal_stack.cli)."""

from alamal_stack.cli import main

raise SystemExit(main())
