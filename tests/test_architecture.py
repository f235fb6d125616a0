"""alslm_ml is the plain-Python library: it must never import Dagster."""

import ast
from pathlib import Path

import alslm_ml

LIB = Path(alslm_ml.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_alslm_ml_has_no_dagster_import():
    offenders = [str(p.relative_to(LIB)) for p in LIB.rglob("*.py") if {"dagster"} & {n.split("_")[0] for n in _imports(p)}]
    assert not offenders, f"alslm_ml modules importing dagster: {offenders}"
    assert len(list(LIB.rglob("*.py"))) > 3  # the walk really saw the library


def test_definitions_load():
    from alslm_assets.definitions import defs

    assert defs.resolve_all_asset_keys() is not None


def test_code_location_loads_by_package_name(tmp_path):
    """`dagster ... -m alslm_assets` (the form the docs use) finds the Definitions."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import alslm_assets
    from alslm_assets.definitions import defs

    assert alslm_assets.defs is defs
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ALSLM_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([str(dagster), "asset", "list", "-m", "alslm_assets"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    listed = set(out.stdout.split())
    assert {"raw_documents", "corpus", "model_checkpoint", "gguf_models", "vector_index", "finetuned_model",
            "eval_comparison"} <= listed
