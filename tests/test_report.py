"""eval_comparison report from eval output dirs."""

import json

from alslm_ml.benchmark import load_benchmark, stratified_sample
from alslm_ml.disclaimer import FULL
from alslm_ml.eval.entities import Registry
from alslm_ml.eval.runner import evaluate
from alslm_ml.report.comparison import write_eval_comparison
from alslm_ml.systems import Answer, System


class Fixed(System):
    """Answers every question with the reference (good=True) or with an invented drug."""

    def __init__(self, name, good, qs, retrieval=False):
        self.name, self.good, self.retrieval = name, good, retrieval
        self.ref = {q.question: q.reference_answer for q in qs}

    def answer(self, question, cfg, on_token=None):
        text = self.ref[question] if self.good else "Take zorbimab 40 mg daily."
        meta = {"retrieved_text": self.ref[question]} if self.retrieval else {}
        return Answer(self.name, question, text, meta=meta)


def test_report_compares_systems_and_lists_missing(tmp_path):
    qs = stratified_sample(load_benchmark(), 2)
    evaluate(Fixed("rag", True, qs, retrieval=True), qs, tmp_path / "eval" / "rag", Registry(), label="rag")
    evaluate(Fixed("scratch-q8_0", False, qs), qs, tmp_path / "eval" / "scratch-q8_0", Registry(), label="scratch-q8_0")
    evaluate(Fixed("scratch-f16", False, qs), qs, tmp_path / "eval" / "scratch-f16", Registry(), label="scratch-f16")
    res = write_eval_comparison(tmp_path / "eval", tmp_path / "reports")
    md = (tmp_path / "reports" / "eval_comparison.md").read_text()
    data = json.loads((tmp_path / "reports" / "eval_comparison.json").read_text())
    assert FULL in md and data["disclaimer"] == FULL
    assert list(data["systems"]) == ["scratch-f16", "scratch-q8_0", "rag"]
    assert "| Correct | 0.0% | 0.0% | 100.0% |" in md
    assert "| Confident fabrication | 100.0% | 100.0% | 0.0% |" in md
    assert set(data["not_run"]) == {"scratch-q5_k_m", "scratch-q4_k_m", "scratch-torch", "baseline", "base", "finetuned"}
    assert "## Quantization comparison" in md and "| scratch-q8_0 | 16 |" in md
    assert "| rag | 8 | 100.0% | 0 | 0 | 0 |" in md  # retrieval table (non-trap questions): all facts retrieved
    wins = {(d["wins"], d["loses"]): d["count"] for d in data["disagreements"]}
    assert wins == {("rag", "scratch-f16"): 16}  # one representative scratch variant (tie -> f16)
    for path in res["figures"].values():
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert set(res["figures"]) == {"accuracy_by_category", "failure_modes", "quantization"}


def test_report_with_no_results(tmp_path):
    res = write_eval_comparison(tmp_path / "eval", tmp_path / "reports")
    assert "No evaluation results found" in res["text"] and len(res["report"]["not_run"]) == 9
    assert res["figures"] == {}


def test_report_shows_both_benchmarks_side_by_side(tmp_path):
    from pathlib import Path

    from alslm_ml.benchmark import fact_coverage

    qs = stratified_sample(load_benchmark(), 2)
    blind = load_benchmark(Path(__file__).parent / "fixtures" / "eval" / "blind_fixture.json")
    evaluate(Fixed("rag", True, qs, retrieval=True), qs, tmp_path / "eval" / "rag", Registry(), label="rag")
    evaluate(Fixed("rag", True, blind, retrieval=True), blind, tmp_path / "eval" / "blind" / "rag", Registry(), label="rag@blind")
    evaluate(Fixed("baseline", False, blind), blind, tmp_path / "eval" / "blind" / "baseline", Registry(), label="baseline@blind")
    corpus = ["Riluzole reduces glutamate release. Tofersen targets SOD1."]
    (tmp_path / "eval" / "benchmark_coverage.json").write_text(json.dumps(
        {"benchmark": fact_coverage(qs, corpus), "blind": fact_coverage(blind, corpus), "documents": 1}))
    res = write_eval_comparison(tmp_path / "eval", tmp_path / "reports")
    md = res["text"]
    assert "## Both benchmarks side by side" in md
    assert "- blind benchmark (written without access to the corpus; only measures): 28.6% of its non-trap key facts" in md
    assert "| rag | project | 16 | 1.000 | 100.0% | 0.0% | 100.0% | 100.0% |" in md
    assert "| rag | blind | 8 | 1.000 | 100.0% | 0.0% | 100.0% | 100.0% |" in md
    assert "| baseline | blind | 8 | 0.000 | 0.0% |" in md
    assert "rag@blind recall / carry" in md
    assert set(res["report"]["blind"]) == {"rag@blind", "baseline@blind"}
    assert list(res["report"]["systems"]) == ["rag"]  # blind runs are not mixed into the main table
