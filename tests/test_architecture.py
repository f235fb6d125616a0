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


EXPECTED_EDGES = {  # asset -> the assets it reads (README command 1's lineage)
    "raw_documents": set(), "clean_documents": {"raw_documents"}, "corpus": {"clean_documents"},
    "corpus_duplicates": {"clean_documents"}, "corpus_splits": {"corpus"}, "corpus_stats": {"corpus_splits"},
    "tokenizer": {"corpus_splits"}, "tokenized_corpus": {"corpus_splits", "tokenizer"},
    "model_checkpoint": {"tokenized_corpus"}, "hf_model": {"model_checkpoint", "tokenizer"},
    "gguf_models": {"model_checkpoint", "tokenizer"}, "ollama_model": {"gguf_models"},
    "embedding_model": set(), "vector_index": {"corpus", "embedding_model"},
    "benchmark": {"corpus"}, "entity_registry": {"corpus"},
    "instruction_dataset": {"benchmark", "corpus"}, "lora_experiments": {"instruction_dataset"},
    "finetuned_model": {"instruction_dataset", "lora_experiments"},
    "eval_scratch": {"benchmark", "entity_registry", "gguf_models", "model_checkpoint"},
    "eval_rag": {"benchmark", "entity_registry", "vector_index"},
    "eval_baseline": {"benchmark", "entity_registry"},
    "eval_finetuned": {"benchmark", "entity_registry", "finetuned_model"},
    "eval_comparison": {"eval_scratch", "eval_rag", "eval_baseline", "eval_finetuned"},
}


def test_definitions_load_with_the_expected_lineage():
    from alslm_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    edges = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
             for k in graph.get_all_asset_keys()}
    assert edges == EXPECTED_EDGES
    checks = {c.to_user_string() for c in graph.asset_check_keys}
    assert {"raw_documents:licence_allowlist", "corpus:licence_allowlist", "benchmark:benchmark_composition",
            "instruction_dataset:instruction_dataset_disjoint_from_benchmark", "gguf_models:gguf_matches_torch"} <= checks


def test_assets_that_use_the_benchmark_take_it_as_an_input():
    """The eval and fine-tune assets get the `benchmark` asset's output loaded by its IO manager,
    not a path they open themselves."""
    from alslm_assets.assets import evaluation, finetune

    for a in (evaluation.eval_scratch, evaluation.eval_rag, evaluation.eval_baseline, evaluation.eval_finetuned,
              finetune.instruction_dataset):
        assert "benchmark" in a.keys_by_input_name, a.key
    assert evaluation.benchmark.node_def.output_defs[0].io_manager_key == "benchmark_io"
    assert "benchmark" in finetune.instruction_dataset_disjoint_from_benchmark.node_def.input_dict


ASSET_DECORATORS = {"asset", "multi_asset", "asset_check", "op", "graph_asset", "multi_asset_check"}
MAX_ASSET_LINES = 45


def _long_asset_functions(path: Path, limit: int = MAX_ASSET_LINES) -> list[str]:
    """Functions decorated as an asset / check / op whose body (def line to last line) is over `limit` lines."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        names = {(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
        names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in names}
        lines = node.end_lineno - node.lineno + 1
        if names & ASSET_DECORATORS and lines > limit:
            out.append(f"{path.name}:{node.name} ({lines} lines)")
    return out


def test_no_asset_function_over_45_lines():
    """An asset is a thin call into alslm_ml: load, call, log, wrap metadata."""
    import alslm_assets

    files = list(Path(alslm_assets.__file__).parent.rglob("*.py"))
    assert len(files) > 5
    long = [f for p in files for f in _long_asset_functions(p)]
    assert not long, f"asset functions over {MAX_ASSET_LINES} lines (move the logic into alslm_ml): {long}"


def test_the_line_limit_check_catches_a_long_asset(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(50))
    src = tmp_path / "fat.py"
    src.write_text(f"from dagster import asset\n\n@asset(group_name='g')\ndef fat():\n{body}\n\n"
                   f"@asset\ndef thin():\n    return 1\n\ndef helper():\n{body}\n")
    assert _long_asset_functions(src) == ["fat.py:fat (51 lines)"]


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
