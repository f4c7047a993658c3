"""Where the suite's files are: its data (copied from shared/, with provenance) and the
repository it tests."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
#: A copy of the column's first issue (shared/seeds/), with its provenance beside it.
SEED_FILE = DATA_DIR / "seed" / "000_cb3296d70b69ad59.txt"
