"""Instruction data: loading/validation, seed-002 filters, normalization, benchmark overlap check
(real rapidfuzz) and the 85/10/5 split; plus the shipped Q&A files against the shipped benchmark."""

from __future__ import annotations

import json

import pytest

from alslm_ml.finetune import data as d
from alslm_ml.finetune.data import Example


def _write(path, lines):
    path.write_text("\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n")
    return path


def test_normalize_strips_control_characters_and_collapses_whitespace():
    assert d.normalize("What\x00 is\tALS?\r\n\n  really\x07 ") == "What is ALS? really"
    assert d.normalize("ALS\u200b\u2028motor   neuron") == "ALS motor neuron"


@pytest.mark.parametrize("question,answer,reason", [
    ("ALS?", "A motor neuron disease.", "question_too_short"),
    ("Is riluzole approved?", "Yes.", "bare_boolean_answer"),
    ("Is it inherited?", "FALSE", "bare_boolean_answer"),
    ("What is SOD1?", "A gene.", "answer_too_short"),
    ("What is SOD1?", "A gene encoding superoxide dismutase 1.", None),
])
def test_quality_filters(question, answer, reason):
    assert d.quality_issue(Example(question, answer)) == reason


def test_load_qa_validates_lines(tmp_path):
    ok = {"question": "What is riluzole?", "answer": "A drug used in ALS.", "doc_id": "doc-a"}
    rows = d.load_qa_jsonl(_write(tmp_path / "ok.jsonl", [ok, "", ok]), {"doc-a"})
    assert len(rows) == 2 and rows[0].origin.endswith("ok.jsonl:1")

    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        d.load_qa_jsonl(_write(tmp_path / "bad.jsonl", [ok, "{oops"]), {"doc-a"})
    with pytest.raises(ValueError, match=r"miss\.jsonl:1: field 'answer'"):
        d.load_qa_jsonl(_write(tmp_path / "miss.jsonl", [{"question": "Q?", "doc_id": "doc-a"}]), {"doc-a"})
    with pytest.raises(ValueError, match=r"ids\.jsonl:1: field 'doc_id' = 'doc-z'"):
        d.load_qa_jsonl(_write(tmp_path / "ids.jsonl", [{**ok, "doc_id": "doc-z"}]), {"doc-a"})


def test_load_flashcards_json_jsonl_csv(tmp_path):
    cards = [{"instruction": "Answer this question truthfully", "input": "What does SOD1 encode?",
              "output": "Superoxide dismutase 1."},
             {"instruction": "What is a fasciculation?", "input": "", "output": "A visible muscle twitch."}]
    (tmp_path / "c.json").write_text(json.dumps(cards))
    _write(tmp_path / "c.jsonl", cards)
    (tmp_path / "c.csv").write_text("instruction,input,output\nAnswer this,What does SOD1 encode?,Superoxide dismutase 1.\n")
    for name in ("c.json", "c.jsonl"):
        rows = d.load_flashcards(tmp_path / name)
        assert [r.question for r in rows] == ["What does SOD1 encode?", "What is a fasciculation?"]
        assert rows[1].answer == "A visible muscle twitch."
    assert d.load_flashcards(tmp_path / "c.csv")[0].question == "What does SOD1 encode?"
    (tmp_path / "bad.csv").write_text("instruction,input\nx,y\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: field 'output' is missing"):
        d.load_flashcards(tmp_path / "bad.csv")


def test_near_match_thresholds():
    bench = "Which neurons are relatively spared in ALS?"
    assert d.near_match("Which motor neurons are relatively spared in ALS?", bench)[0]
    assert d.near_match("which neurons are relatively spared in als", bench)[0]  # case/punctuation
    assert not d.near_match("How is ALS diagnosed with electromyography?", bench)[0]
    # a short generic question inside a longer one is not a near match (word floor)
    assert not d.near_match("What is ALS?", "What is ALS and how is riluzole dosed in the clinic?")[0]


def test_build_filters_counts_decontaminates_and_splits():
    bench = [("b1", "What happened in the phase 3 trial of minocycline in ALS?")]
    raw = [Example(f"Question number {i} about motor neuron biology?", f"Answer number {i} with enough text.",
                   "doc", f"f:{i}") for i in range(40)]
    raw += [Example("What happened in the phase 3 trial of  minocycline in ALS?", "It was harmful to patients.", "doc", "f:x"),
            Example("ALS?", "A long enough answer.", "doc", "f:y"),
            Example("Is this a duplicate?", "No", "doc", "f:z"),
            Example("Question number 3 about motor neuron biology?", "A repeated question.", "doc", "f:dup")]
    splits, report = d.build(raw, bench)
    assert report["removed"] == {"benchmark_near_match": 1, "question_too_short": 1, "bare_boolean_answer": 1,
                                 "duplicate_question": 1}
    assert [h["benchmark_id"] for h in report["benchmark_near_matches"]] == ["b1"]
    assert report["kept"] == 40 and report["splits"] == {"train": 34, "val": 4, "test": 2}
    kept = [e.origin for s in splits.values() for e in s]
    assert sorted(kept) == sorted(f"f:{i}" for i in range(40))  # disjoint and complete
    again, _ = d.build(raw, bench)
    assert [e.origin for e in again["val"]] == [e.origin for e in splits["val"]]  # seed 42 is fixed


def test_write_read_and_fingerprint(tmp_path):
    splits = d.split([Example(f"Question {i}?", f"Answer {i} text.") for i in range(20)])
    d.write_splits(splits, tmp_path)
    assert [e.question for e in d.read_split(tmp_path, "test")] == [e.question for e in splits["test"]]
    fp = d.fingerprint(tmp_path)
    (tmp_path / "val.jsonl").write_text("")
    assert d.fingerprint(tmp_path) != fp
    with pytest.raises(FileNotFoundError, match="instruction_dataset"):
        d.read_split(tmp_path / "none", "train")


@pytest.mark.skipif(not all(p.is_file() for p in d.STARTER_QA), reason="starter Q&A files not written yet")
def test_shipped_qa_is_grounded_and_disjoint_from_benchmark():
    ids = d.starter_doc_ids()
    raw = [e for p in d.STARTER_QA for e in d.load_qa_jsonl(p, ids)]
    assert len(raw) >= 100 and {e.doc_id for e in raw} <= ids
    bench = d.benchmark_pairs()
    splits, report = d.build(raw, bench)
    rows = [e for s in splits.values() for e in s]
    assert d.benchmark_overlaps(rows, bench) == []
    assert report["kept"] == len(rows) == sum(report["splits"].values())
