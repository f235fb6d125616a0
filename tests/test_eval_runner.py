"""The eval runner, `alslm eval`, and the evaluation assets with a test-double System."""

import json
from pathlib import Path

import duckdb
import pytest

from alslm_ml.benchmark import load_benchmark, stratified_sample
from alslm_ml.eval import cli
from alslm_ml.eval.entities import Registry
from alslm_ml.eval.runner import evaluate, load_eval_results, tables
from alslm_ml.systems import Answer, GenerationConfig, System


class ScriptedSystem(System):
    """Test double for the runner: answers with each question's reference answer, a fabricated
    answer, an exception, or a repetition loop, chosen by question index; exposes retrieved text."""

    name = "scripted"

    def __init__(self, questions, mode="mixed"):
        self.by_text = {q.question: (i, q) for i, q in enumerate(questions)}
        self.mode, self.calls, self.seen_cfg = mode, 0, None

    def answer(self, question, cfg, on_token=None):
        self.calls += 1
        self.seen_cfg = cfg
        i, q = self.by_text[question]
        if self.mode == "good":
            text = q.reference_answer
        elif i % 4 == 1:
            raise RuntimeError("model crashed")
        elif i % 4 == 2:
            text = "It is treated with zorbimab 40 mg, studied in NCT99999999."
        elif i % 4 == 3:
            text = "als als als als " * 10
        else:
            text = q.reference_answer
        return Answer(self.name, question, text, completion_tokens=len(text.split()), seconds=0.01,
                      meta={"retrieved_text": ["a passage", q.reference_answer] if i % 2 == 0 else ["unrelated passage"]})


@pytest.fixture
def questions():
    return stratified_sample(load_benchmark(), 2, seed=3)  # 16 questions, every category


def test_evaluate_scores_records_errors_and_resumes(tmp_path, questions):
    system = ScriptedSystem(questions)
    summary = evaluate(system, questions, tmp_path, Registry(), GenerationConfig.greedy(32), label="scripted")
    rows, saved = load_eval_results(tmp_path)
    assert summary == saved and summary["n"] == len(questions) == len(rows)
    assert system.seen_cfg.temperature == 0.0 and system.seen_cfg.max_tokens == 32
    errors = [r for r in rows if r["error"]]
    assert len(errors) == 4 and all("model crashed" in r["error"] and r["mode"] == "degenerate" for r in errors)
    assert {r["mode"] for r in rows} >= {"accurate", "degenerate", "confident_fabrication"}
    fab = [r for r in rows if "zorbimab" in r["answer"]]
    assert all({e["text"] for e in r["unknown_entities"]} >= {"zorbimab", "NCT99999999"} for r in fab if not r["is_trap"])
    assert summary["fabrication_rate"] > 0 and summary["errors"] == 4
    assert summary["degenerate_rate"] == pytest.approx(8 / 16)
    assert summary["retrieval"]["n"] > 0
    assert summary["retrieval"]["retrieval_failures"] + summary["retrieval"]["generation_failures"] == summary["retrieval"]["wrong"]
    # Resume: answered questions are not asked again; failed ones are retried.
    again = ScriptedSystem(questions)
    evaluate(again, questions, tmp_path, Registry(), GenerationConfig.greedy(32), label="scripted")
    assert again.calls == 4
    t = tables(rows)
    assert set(t) == {"responses", "scores", "fabrications", "taxonomy"}
    assert len(t["responses"]) == len(t["scores"]) == len(t["taxonomy"]) == len(questions)
    assert set(t["fabrications"]["entity"]) >= {"zorbimab", "NCT99999999"}


def test_perfect_system_scores_perfectly(tmp_path, questions):
    s = evaluate(ScriptedSystem(questions, "good"), questions, tmp_path, Registry(), label="good")
    assert s["mean_accuracy"] == 1.0 and s["pass_rate"] == 1.0 and s["trap_refusal_rate"] == 1.0
    assert s["fabrication_rate"] == 0.0 and s["contradiction_rate"] == 0.0 and s["taxonomy"]["accurate"] == 1.0


def test_cli_prints_headline_json(tmp_path, monkeypatch, capsys, questions):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path / "data"))
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([q.to_dict() for q in questions]))
    made = {}

    def fake_load_system(name, **options):
        made.update(name=name, **options)
        return ScriptedSystem(questions, "good")

    monkeypatch.setattr(cli, "load_system", fake_load_system)
    rc = cli.main(["--system", "scratch", "--backend", "torch", "--benchmark", str(bench), "--out", str(tmp_path / "o"), "--limit", "5"])
    assert rc == 0 and made == {"name": "scratch", "backend": "torch"}
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(line) == ["n", "mean_accuracy", "pass_rate", "fabrication_rate", "contradiction_rate", "trap_refusal_rate",
                          "degenerate_rate"]
    assert line["n"] == 5 and line["mean_accuracy"] == 1.0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["system"] == "scratch-torch"
    assert cli.system_label("scratch", "llamacpp", "q4_k_m") == "scratch-q4_k_m" and cli.system_label("rag", None, None) == "rag"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "q-9", "category": "nope"}]))
    assert cli.main(["--system", "rag", "--benchmark", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "q-9" in capsys.readouterr().err
    made.clear()
    rc = cli.main(["--system", "rag", "--benchmark", str(bench), "--out", str(tmp_path / "r"), "--limit", "2",
                   "--option", "k=3", "--option", "answer_mode=auto", "--option", "expand=false", "--option", "dense_sentences=2.5"])
    assert rc == 0 and made == {"name": "rag", "k": 3, "answer_mode": "auto", "expand": False, "dense_sentences": 2.5}
    assert cli.main(["--system", "rag", "--benchmark", str(bench), "--out", str(tmp_path / "r"), "--option", "k3"]) == 2
    assert "--option 'k3': expected KEY=VALUE" in capsys.readouterr().err


def test_carry_through_context_recall_and_answer_length_in_the_summary(tmp_path, questions):
    """ScriptedSystem: even-indexed questions retrieve the reference (all facts in context), odd
    ones an unrelated passage; answers are the reference, a fabrication, an error or a loop."""
    summary = evaluate(ScriptedSystem(questions), questions, tmp_path, Registry())
    rows, _ = load_eval_results(tmp_path)
    real = [r for r in rows if not r["is_trap"]]
    for r in real:
        if r["retrieval_accuracy"] == 1.0:  # every fact was in the passages
            assert r["carry_through"] == r["accuracy"]
        elif r["retrieval_accuracy"] == 0.0:
            assert r["carry_through"] is None and r["facts_retrieved"] == 0
    held = sum(r["facts_retrieved"] or 0 for r in real)
    assert summary["retrieval"]["carry_through"] == round(sum(r["facts_carried"] or 0 for r in real) / held, 4)
    assert summary["retrieval"]["context_recall"] == round(sum(r["retrieval_accuracy"] for r in real) / len(real), 4)
    assert summary["non_trap_accuracy"] == round(sum(r["accuracy"] for r in real) / len(real), 4)
    assert summary["mean_answer_tokens"] == round(sum(len(r["answer"].split()) for r in rows if not r["error"]) / len(rows), 1)
    assert summary["max_answer_tokens"] == max(r["answer_tokens"] for r in rows)
    cats = summary["by_category"]
    assert set(cats) == {q.category for q in questions} and all("context_recall" in c and "carry_through" in c for c in cats.values())
    assert all(r["carry_through"] is None for r in rows if r["is_trap"])


def test_assets_benchmark_registry_eval_and_report(tmp_path, monkeypatch, questions):
    """Materialize the evaluation assets on a real DuckDB warehouse with a test-double system."""
    import pandas as pd
    from dagster import AssetSpec, materialize

    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    from alslm_assets.assets import evaluation
    from alslm_assets.resources import shared_resources

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA alslm")
        corpus = pd.DataFrame({"id": ["d1"], "source": ["starter"], "title": ["KIF5A"], "text": ["bosutinib and KIF5A"]})
        conn.register("corpus_df", corpus)
        conn.execute("CREATE TABLE alslm.corpus AS SELECT * FROM corpus_df")
    blind = Path(__file__).parent / "fixtures" / "eval" / "blind_fixture.json"
    monkeypatch.setattr(evaluation, "load_system",
                        lambda name, **o: ScriptedSystem(load_benchmark() + load_benchmark(blind), "mixed"))
    specs = [AssetSpec(k) for k in ("corpus", "vector_index", "gguf_models", "model_checkpoint", "finetuned_model")]
    res = materialize(
        [*specs, evaluation.benchmark, evaluation.benchmark_composition, evaluation.entity_registry, evaluation.eval_rag, evaluation.eval_baseline, evaluation.eval_comparison],
        resources=shared_resources(),
        selection=["benchmark", "entity_registry", "eval_rag", "eval_baseline", "eval_comparison"],
        run_config={"ops": {"eval_rag": {"config": {"per_category": 2}}, "eval_baseline": {"config": {"per_category": 1}},
                            "benchmark": {"config": {"blind_path": str(blind)}}}},
    )
    assert res.success
    (check,) = res.get_asset_check_evaluations()
    assert check.passed and check.metadata["questions"].value == 169 and check.metadata["blind_questions"].value == 8
    coverage = json.loads((tmp_path / "eval" / "benchmark_coverage.json").read_text())
    assert coverage["documents"] == 1 and coverage["blind"]["facts"] == 7 and coverage["benchmark"]["verbatim"] < 0.05
    assert json.loads((tmp_path / "eval" / "benchmark.json").read_text())["questions"]
    reg = json.loads((tmp_path / "eval" / "entity_registry.json").read_text())
    assert {"kif5a", "bosutinib"} <= {r["entity"] for r in reg}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        n = dict(conn.execute("SELECT system, count(*) FROM alslm.eval_scores GROUP BY system").fetchall())
        assert n == {"rag": 16, "baseline": 8, "rag@blind": 8, "baseline@blind": 8}  # blind: all 8 (5 per category)
        # the asset's own table is the summary; per-question rows are stored once, in eval_scores & co.
        (row, brow) = conn.execute("SELECT system, n, pass_rate, contradiction_rate FROM alslm.eval_rag ORDER BY system").fetchall()
        assert brow[:2] == ("rag@blind", 8)
        passed = conn.execute("SELECT avg(passed::INT) FROM alslm.eval_scores WHERE system = 'rag'").fetchone()[0]
        assert row[:2] == ("rag", 16) and row[2] == pytest.approx(passed, abs=1e-4)
        joined = dict(conn.execute("SELECT system, count(*) FROM alslm.eval_answers GROUP BY system").fetchall())
        assert joined == {"rag": 16, "baseline": 8, "rag@blind": 8, "baseline@blind": 8}  # one row per system and question
        assert conn.execute("SELECT count(*) FROM alslm.eval_answers WHERE mode IS NULL OR answer IS NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM alslm.eval_fabrications WHERE entity = 'zorbimab'").fetchone()[0] > 0
    md = (tmp_path / "reports" / "eval_comparison.md").read_text()
    assert "| Confident fabrication |" in md and "`finetuned`" in md and "retrieval failures" in md
    assert "| rag | blind | 8 |" in md and "| baseline | blind | 8 |" in md and "blind benchmark (written without" in md
    meta = res.asset_materializations_for_node("eval_comparison")[0].metadata
    assert "report" in meta and "figure_failure_modes" in meta


def test_retrieved_text_shapes():
    from alslm_ml.eval.runner import _retrieved_text
    from alslm_ml.systems import SourceRef

    assert _retrieved_text(Answer("rag", "q", "a", meta={"retrieved_text": ["p1", "p2"]})) == "p1\n\np2"
    assert _retrieved_text(Answer("rag", "q", "a", meta={"retrieved_text": "p"})) == "p"
    assert _retrieved_text(Answer("baseline", "q", "a", meta={"retrieved_text": []})) is None
    assert _retrieved_text(Answer("x", "q", "a")) is None
    src = SourceRef(1, "d1", "t", "u", "starter", text="from source")
    assert _retrieved_text(Answer("rag", "q", "a", sources=[src])) == "from source"


def test_retrained_model_at_the_same_path_is_asked_again(tmp_path, questions):
    """The resume cache is keyed on the model files' state, not only their path."""
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"first weights")

    class FileBacked(ScriptedSystem):
        def describe(self):
            return {"system": "scripted", "model_file": str(weights)}

    out = tmp_path / "eval"
    first = FileBacked(questions, "good")
    evaluate(first, questions, out, Registry(), label="scripted")
    same = FileBacked(questions, "good")
    evaluate(same, questions, out, Registry(), label="scripted")
    assert first.calls == len(questions) and same.calls == 0  # unchanged model: answers reused
    weights.write_bytes(b"retrained weights, different size")
    retrained = FileBacked(questions, "good")
    evaluate(retrained, questions, out, Registry(), label="scripted")
    assert retrained.calls == len(questions)


def test_negated_key_facts_reach_results_and_scores_table(tmp_path, questions):
    """A contradicting answer: facts_negated lands in results.json and, json-encoded like
    facts_found, in the scores table as stored in DuckDB."""
    (q,) = [q for q in load_benchmark() if q.id == "drug-001"]  # glutamate, excitotoxicity, sodium channel

    class Contradicting(ScriptedSystem):
        def answer(self, question, cfg, on_token=None):
            return Answer(self.name, question, "Riluzole does not reduce glutamate excitotoxicity and does not "
                          "block sodium channels.", completion_tokens=12, seconds=0.01)

    summary = evaluate(Contradicting([q]), [q], tmp_path, Registry(), label="contra")
    assert summary["mean_accuracy"] == 0.0 and summary["pass_rate"] == 0.0 and summary["contradiction_rate"] == 1.0
    rows, _ = load_eval_results(tmp_path)
    (row,) = rows
    assert row["facts_negated"] == ["glutamate", "excitotoxicity", "sodium channel"] == row["facts_missing"]
    assert row["facts_found"] == [] and row["fact_scores"] == [100.0, 100.0, 100.0]
    assert (row["mode"], row["severity"]) == ("confident_fabrication", "high") and "'glutamate'" in row["rule"]
    scores = tables(rows)["scores"]
    with duckdb.connect() as conn:
        conn.register("s", scores)
        got = conn.execute("SELECT facts_negated, facts_found FROM s").fetchone()
    assert json.loads(got[0]) == row["facts_negated"] and json.loads(got[1]) == []
    # Rows from runs scored before this field existed still make tables.
    old = [{k: v for k, v in row.items() if k != "facts_negated"}]
    assert tables(old)["scores"]["facts_negated"].tolist() == ["[]"]
