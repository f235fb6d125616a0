"""Where artifacts live. Everything goes under one data directory (`data/` in the repo root,
overridable with ALSLM_DATA_DIR) so a run is easy to find, inspect, and delete."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The artifact root: $ALSLM_DATA_DIR or <repo>/data. Created on first use."""
    path = Path(os.environ.get("ALSLM_DATA_DIR", REPO_ROOT / "data")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sub(*parts: str) -> Path:
    """A directory under the data root, created on first use: sub("models", "tiny")."""
    path = data_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_path() -> Path:
    """The DuckDB file holding every table asset (raw_documents, corpus, eval results, ...)."""
    return data_dir() / "warehouse.duckdb"


def logs_dir() -> Path:
    """Chat transcripts: $ALSLM_LOG_DIR or <repo>/logs."""
    path = Path(os.environ.get("ALSLM_LOG_DIR", REPO_ROOT / "logs")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
