"""The instruction_dataset asset and its benchmark check, invoked directly with a real corpus frame,
the shipped starter Q&A and a user's flashcards file."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from dagster import build_asset_context
from dagster_duckdb import DuckDBResource

from alslm_assets.assets import finetune as fa
from alslm_ml.benchmark import Benchmarks, Question, load_benchmark
from alslm_ml.finetune import data as d


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    return tmp_path


def corpus_db(tmp_path, ids: list[str]) -> DuckDBResource:
    """A warehouse whose alslm.corpus table (written by the corpus asset) holds these ids."""
    frame = pd.DataFrame({"id": ids})  # noqa: F841 (read by DuckDB)
    db = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(db) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS alslm")
        con.execute("CREATE OR REPLACE TABLE alslm.corpus AS SELECT * FROM frame")
    return DuckDBResource(database=db)


def test_instruction_dataset_from_flashcards_and_check(data_dir):
    cards = [{"instruction": "Answer truthfully", "input": f"What is fact number {i} about motor neurons?",
              "output": f"Fact {i} is a statement long enough to keep."} for i in range(30)]
    cards.append({"instruction": "Answer", "input": "Which neurons are relatively spared in ALS?",
                  "output": "Oculomotor neurons are relatively spared."})
    cards.append({"instruction": "Answer", "input": "Is it genetic?", "output": "no"})
    path = data_dir / "cards.json"
    path.write_text(json.dumps(cards))
    bench = Benchmarks([Question("b-1", "patient_care", "easy", "Which motor neurons are relatively spared in ALS?",
                                 "Oculomotor neurons.", ("oculomotor",), "test")])

    ctx = build_asset_context()
    res = fa.instruction_dataset(ctx, config=fa.InstructionConfig(flashcards_path=str(path), include_starter=False),
                                 duckdb=corpus_db(data_dir, ["x"]), benchmark=bench)
    meta = {k: v.value if hasattr(v, "value") else v for k, v in res.metadata.items()}
    assert meta["input"] == 32 and meta["kept"] == 30
    assert meta["removed"]["bare_boolean_answer"] == 1 and meta["removed"]["benchmark_near_match"] == 1
    assert "b-1" in meta["benchmark_near_matches"]
    out = data_dir / "finetune" / "dataset"
    assert sum(len(d.read_split(out, n)) for n in ("train", "val", "test")) == 30
    assert json.loads((out / "meta.json").read_text())["fingerprint"] == meta["fingerprint"]
    assert fa.instruction_dataset_disjoint_from_benchmark(bench).passed

    # a near match slipped into a split makes the check fail
    with open(out / "test.jsonl", "a") as f:
        f.write(json.dumps({"question": "Which neurons are relatively spared in ALS?", "answer": "Some.",
                            "doc_id": "", "origin": "hand"}) + "\n")
    check = fa.instruction_dataset_disjoint_from_benchmark(bench)
    assert not check.passed and check.metadata["near_matches"].value >= 1  # vs b-1 (and the shipped benchmark)


@pytest.mark.skipif(not all(p.is_file() for p in d.STARTER_QA), reason="starter Q&A files not written yet")
def test_instruction_dataset_from_starter(data_dir, caplog):
    ids = d.starter_corpus_ids()  # front-matter id -> corpus id ("starter:<slug>")
    bench = Benchmarks(load_benchmark())
    res = fa.instruction_dataset(build_asset_context(), config=fa.InstructionConfig(),
                                 duckdb=corpus_db(data_dir, sorted(ids.values())), benchmark=bench)
    meta = {k: v.value if hasattr(v, "value") else v for k, v in res.metadata.items()}
    assert meta["train"] > meta["val"] > meta["test"] > 0
    assert meta["train"] + meta["val"] + meta["test"] == meta["kept"]
    assert "not in `corpus`" not in caplog.text  # every cited document is in the corpus
    assert fa.instruction_dataset_disjoint_from_benchmark(bench).passed


def test_instruction_examples_warn_about_documents_dedup_removed():
    warnings = []
    ids = d.starter_corpus_ids()
    raw = d.load_examples(True, corpus_ids=set(list(ids.values())[1:]), warn=warnings.append)
    cited = {e.doc_id for e in raw}
    assert len(warnings) == (1 if next(iter(ids)) in cited else 0)
    assert all("not in `corpus`" in w for w in warnings)


def test_experiment_config_full_is_the_seed_recipe():
    full = fa.ExperimentConfig(full=True)
    assert full.lora_overrides() == {"max_steps_per_epoch": 0, "micro_batch": 4, "grad_accum": 4, "max_length": 512}
    assert full.eval_settings().loss_examples == 0 and full.eval_settings().gen_examples == 0
    assert fa.experiment_partitions.get_partition_keys() == ["r8", "r16", "lr5e-5", "epochs3"]
