"""The library functions the thin assets call, tested without Dagster: named paths, the benchmark
files the `benchmark` asset's IO manager writes and reads, the one licence rule on the corpus
table, the evaluation suite, the tokenizer's split checks and the export check records."""

import duckdb
import pandas as pd
import pytest

from alslm_ml import paths
from alslm_ml.benchmark import (
    BenchmarkError,
    Benchmarks,
    composition,
    load_benchmark,
    prepare_benchmarks,
    read_benchmarks,
    write_benchmarks,
)
from alslm_ml.sources.config import load_sources_config
from alslm_ml.systems import Answer, System


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_produced_paths_follow_the_data_dir(data_dir):
    assert paths.benchmark_file() == data_dir / "eval" / "benchmark.json"
    assert paths.eval_results_dir("rag") == data_dir / "eval" / "rag"
    assert paths.eval_results_dir("rag", blind=True) == data_dir / "eval" / "blind" / "rag"
    assert paths.checkpoints_dir("tiny").is_dir() and not paths.tokenizer_file().exists()
    assert paths.finetune_merged_dir() == data_dir / "finetune" / "merged" and not paths.finetune_merged_dir().exists()
    for packaged in (paths.STARTER_DOCS, paths.SOURCES_YAML, paths.BENCHMARK_QUESTIONS, paths.MEDICAL_TERMS,
                     paths.ALIASES, paths.LEXICON_DIR, *paths.STARTER_QA, paths.TRAIN_CONFIGS / "ds_config_zero2.json"):
        assert packaged.exists(), packaged


def test_benchmark_files_round_trip_and_a_stale_blind_copy_is_removed(data_dir):
    own = load_benchmark()[:12]
    blind = load_benchmark()[12:15]
    write_benchmarks(Benchmarks(own, blind))
    back = read_benchmarks()
    assert [q.id for q in back.questions] == [q.id for q in own] and [q.id for q in back.blind] == [q.id for q in blind]
    write_benchmarks(Benchmarks(own))  # no blind benchmark this time: the old copy must not be evaluated
    assert not paths.blind_benchmark_file().exists() and read_benchmarks().blind is None


def test_reading_benchmarks_before_the_asset_ran_names_the_asset(data_dir):
    with pytest.raises(BenchmarkError, match="materialize the `benchmark` asset"):
        read_benchmarks()


def test_prepare_benchmarks_needs_an_explicit_blind_file_to_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="BenchmarkConfig.blind_path"):
        prepare_benchmarks(blind_path=tmp_path / "nope.json")
    b = prepare_benchmarks()
    assert len(b.questions) == len(load_benchmark())


def test_composition_flags_missing_categories_and_few_traps():
    qs = load_benchmark()
    ok, meta = composition(qs)
    assert ok and meta["missing_categories"] == [] and meta["questions"] == len(qs)
    ok, meta = composition([q for q in qs if not q.is_trap and q.category != "epidemiology"])
    assert not ok and meta["missing_categories"] == ["epidemiology"] and meta["trap_share"] == 0


def test_corpus_licence_check_uses_the_sources_allowlist(tmp_path):
    from alslm_ml.processing.corpus_build import licence_violations

    cfg = load_sources_config()  # starter: CC-BY*, CC0*, public-domain; clinicaltrials: public-domain only
    frame = pd.DataFrame({  # noqa: F841 (read by DuckDB)
        "id": ["s1", "s2", "c1", "c2", "s3"],
        "source": ["starter", "starter", "clinicaltrials", "clinicaltrials", "starter"],
        "license": ["CC-BY-4.0", "CC0-1.0", "public-domain", "CC-BY-4.0", None],
    })
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA alslm")
        con.execute("CREATE TABLE alslm.corpus AS SELECT * FROM frame")
        n, examples = licence_violations(con, cfg)
    # CC-BY is fine for starter but not for clinicaltrials; a missing licence is never fine
    assert n == 2 and examples == [{"id": "c2", "license": "CC-BY-4.0"}, {"id": "s3", "license": None}]


class Fixed(System):
    name = "fixed"

    def answer(self, question, cfg, on_token=None):
        return Answer(self.name, question, "Riluzole is approved for ALS.")


def test_suite_skips_a_system_that_cannot_load_and_labels_blind_runs(data_dir):
    from alslm_ml.eval.entities import Registry, build_registry
    from alslm_ml.eval.suite import BLIND_TAG, run_suite, sample_benchmarks
    from alslm_ml.systems import GenerationConfig

    bench = Benchmarks(load_benchmark()[:6], load_benchmark()[6:8])
    runs = sample_benchmarks(bench, per_category=0, blind_per_category=0)
    assert [r.tag for r in runs] == ["", BLIND_TAG] and len(runs[1].questions) == 2

    def load(name, **options):
        if name == "missing":
            raise FileNotFoundError("no model here")
        return Fixed()

    errors = []
    res = run_suite([("ok", "fixed", {}), ("gone", "missing", {})], runs, Registry(build_registry()),
                    GenerationConfig.greedy(8), 80.0, False, load, error=errors.append)
    assert set(res.summaries) == {"ok", "ok" + BLIND_TAG} and "gone" in res.failed and "no model here" in errors[0]
    assert len(res.rows) == 8
    assert res.results_dirs()["ok" + BLIND_TAG] == str(data_dir / "eval" / "blind" / "ok")
    assert (data_dir / "eval" / "blind" / "ok").is_dir()
    assert not sample_benchmarks(bench, 0, blind=False)[1:]


def test_split_check_rejects_unknown_split_values(tmp_path):
    from alslm_ml.tokenizer.from_table import check_splits

    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "split": ["train", "test"]})  # noqa: F841
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA alslm")
        con.execute("CREATE TABLE alslm.corpus_splits AS SELECT * FROM frame")
        with pytest.raises(ValueError, match=r"unexpected values \['test'\]"):
            check_splits(con)
        con.execute("UPDATE alslm.corpus_splits SET split = 'train'")
        with pytest.raises(ValueError, match="split == 'val'"):
            check_splits(con, required=("train", "val"))


def test_export_check_records_say_what_is_missing(data_dir):
    from alslm_ml.export import locate, pipeline

    assert pipeline.parity_record() == (False, {"error": f"{locate.hf_dir() / 'parity.json'} missing"})
    passed, meta = pipeline.verify_record()
    assert not passed and "verify=False?" in meta["error"]
    with pytest.raises(FileNotFoundError, match="checkpoint_dir: .* holds no config.json"):
        locate.checkpoint(data_dir / "nowhere")
    with pytest.raises(FileNotFoundError, match="materialize the `tokenizer` asset"):
        pipeline.input_tokenizer()
