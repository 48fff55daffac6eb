"""Where the shipped data files live (``data/`` at the top of the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

# cellcall is installed from its checkout (pip install -e), so data/ sits beside src/.
DATA_DIR = Path(os.environ.get("CELLCALL_SHARE", Path(__file__).resolve().parents[2] / "data"))


def data_file(name: str) -> Path:
    return DATA_DIR / name
