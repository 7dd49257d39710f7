"""Where the service keeps its files. Kept free of heavy imports: the store and the CLI read it."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """Per-user data directory (tokenizers, jobs, default database): $NAS_HOME or ~/.local/share/transformer-nas."""
    return Path(os.environ.get("NAS_HOME") or Path.home() / ".local" / "share" / "transformer-nas")
