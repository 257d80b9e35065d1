"""Helpers shared by the experiment scripts: result folder, atomic JSON, threads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(os.environ.get("NEUROMAP_RESULTS", Path(__file__).resolve().parent.parent / "results"))


def setup_threads(n: int = 2) -> None:
    """Pin torch to ``n`` threads (the 2-core machines these results are measured on)."""
    torch.set_num_threads(n)


def write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path
