"""``python -m staff ...``: the staff console CLI (staff/cli.py)."""
import sys

from staff.cli import main

sys.exit(main())
