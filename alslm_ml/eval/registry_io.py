"""Where the entity registry lives on disk, so `alslm eval` outside Dagster uses the same registry
as the `entity_registry` asset (data/eval/entity_registry.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from alslm_ml import paths
from alslm_ml.eval.entities import Registry, build_registry


def default_registry_path() -> Path:
    return paths.entity_registry_file()


def save_registry(frame: pd.DataFrame, path: str | Path | None = None) -> Path:
    path = Path(path) if path else default_registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(frame.to_dict(orient="records"), ensure_ascii=False), encoding="utf-8")
    return path


def load_registry(path: str | Path | None = None) -> tuple[Registry, str]:
    """The registry from `path`, else the asset's file, else the curated lists only.
    Returns the registry and a description of where it came from."""
    candidate = Path(path) if path else default_registry_path()
    if candidate.exists():
        try:
            frame = pd.DataFrame(json.loads(candidate.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"entity registry {candidate} is not a JSON list of records: {exc}") from exc
        if "entity" not in frame.columns:
            raise ValueError(f"entity registry {candidate} has no 'entity' field")
        return Registry(frame), str(candidate)
    if path:
        raise FileNotFoundError(f"entity registry not found: {candidate}")
    return Registry(build_registry()), "curated lists only (materialize entity_registry for the corpus registry)"
