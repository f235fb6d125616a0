"""`alslm review`: sampling, scripted-stdin and pseudo-terminal sessions, resume, Cohen's kappa."""

import io
import json
import os
import sys
from pathlib import Path

import pexpect
import pytest

from alslm_ml.benchmark import load_benchmark, stratified_sample
from alslm_ml.eval import review
from alslm_ml.eval.entities import Registry
from alslm_ml.eval.runner import evaluate
from alslm_ml.systems import Answer, System

REPO = Path(__file__).resolve().parents[1]


class Echo(System):
    name = "echo"

    def answer(self, question, cfg, on_token=None):
        return Answer(self.name, question, "Riluzole may reduce glutamate. " + question)


@pytest.fixture
def results_dir(tmp_path):
    qs = stratified_sample(load_benchmark(), 6, seed=0)  # 48 questions
    evaluate(Echo(), qs, tmp_path / "echo", Registry(), label="echo")
    return tmp_path / "echo"


def test_sample_is_stratified_deterministic_and_sized(results_dir):
    rows = review.load_rows(results_dir)
    s = review.sample_items(rows, 40, seed=2)
    assert len(s) == 40 and len({review.item_key(r) for r in s}) == 40
    assert len({r["category"] for r in s}) == 8
    assert [r["question_id"] for r in s] == [r["question_id"] for r in review.sample_items(rows, 40, seed=2)]


def test_scripted_stdin_records_and_resumes(results_dir):
    rows = review.load_rows(results_dir)
    path = results_dir / "reviews_a.jsonl"
    # item 1: incorrect (with an invalid answer retried), blending, high; item 2: correct; item 3: skip; then quit.
    script = "i\n9\n2\nh\nmixes drugs\nc\n\nb\nq\n"
    out = io.StringIO()
    n = review.review(rows, "alice", path, n=30, inp=io.StringIO(script), out=out)
    assert n == 2
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["correctness"] for r in recs] == ["incorrect", "correct"]
    assert recs[0]["failure_mode"] == "plausible_blending" and recs[0]["severity"] == "high" and recs[0]["notes"] == "mixes drugs"
    assert recs[1]["failure_mode"] == "none"
    text = out.getvalue()
    assert "please answer one of" in text and "Stopped; progress saved." in text and "2/30 reviewed" in text
    # Resume: the two reviewed items are skipped; the session starts at item 3.
    out2 = io.StringIO()
    review.review(rows, "alice", path, n=30, inp=io.StringIO("r\n\n"), out=out2)
    assert "2/30 already reviewed" in out2.getvalue() and "=== [3/30]" in out2.getvalue()
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(recs) == 3 and recs[2]["correctness"] == "refusal"
    assert recs[2]["key"] not in {recs[0]["key"], recs[1]["key"]}


def test_cohen_kappa_values():
    assert review.cohen_kappa(list("aabb"), list("aabb")) == 1.0
    assert review.cohen_kappa(list("aabb"), list("bbaa")) == -1.0
    # Classic example: po = 0.7, pe = 0.5 -> 0.4
    a = ["y"] * 5 + ["n"] * 5
    b = ["y"] * 4 + ["n"] + ["y"] * 2 + ["n"] * 3
    assert review.cohen_kappa(a, b) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        review.cohen_kappa(["a"], [])


def test_kappa_command(tmp_path, capsys):
    def write(name, labels):
        p = tmp_path / name
        p.write_text("".join(json.dumps({"key": f"s::{i}", "correctness": c, "failure_mode": m}) + "\n"
                             for i, (c, m) in enumerate(labels)))
        return p

    a = write("a.jsonl", [("correct", "none"), ("incorrect", "plausible_blending"), ("incorrect", "confident_fabrication"), ("refusal", "none")])
    b = write("b.jsonl", [("correct", "none"), ("incorrect", "confident_fabrication"), ("incorrect", "confident_fabrication"), ("correct", "none")])
    assert review.main(["kappa", str(a), str(b)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 4
    assert res["correctness"]["agreement"] == 0.75 and res["failure_mode"]["agreement"] == 0.75
    assert res["correctness"]["kappa"] == pytest.approx(review.cohen_kappa(
        ["correct", "incorrect", "incorrect", "refusal"], ["correct", "incorrect", "incorrect", "correct"]))
    empty = write("c.jsonl", [])
    assert review.main(["kappa", str(a), str(empty)]) == 2


def test_pseudo_terminal_session(results_dir):
    """Drive `alslm review` through a real pty, as a reviewer would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    cmd = f"{sys.executable} -m alslm_ml.cli review {results_dir} --reviewer bob --n 30"
    child = pexpect.spawn(cmd, cwd=str(REPO), env=env, encoding="utf-8", timeout=60)
    child.expect("Research artifact")
    child.expect(r"\[1/30\]")
    child.expect("Correctness")
    child.sendline("p")
    child.expect("Failure mode")
    child.sendline("5")
    child.expect("Severity")
    child.sendline("m")
    child.expect("Notes")
    child.sendline("missing context")
    child.expect(r"\[2/30\]")
    child.expect("Correctness")
    child.sendline("q")
    child.expect("progress saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    (rec,) = [json.loads(x) for x in (results_dir / "reviews_bob.jsonl").read_text().splitlines()]
    assert rec["correctness"] == "partially_correct" and rec["failure_mode"] == "accurate_but_misleading"
    assert rec["severity"] == "medium" and rec["reviewer"] == "bob"


def test_missing_results_dir(tmp_path, capsys):
    assert review.main([str(tmp_path), "--reviewer", "x"]) == 2
    assert "no results.json" in capsys.readouterr().err
