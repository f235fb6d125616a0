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
