"""`python -m model ...`: see model/cli.py."""

from model.cli import main

raise SystemExit(main())
