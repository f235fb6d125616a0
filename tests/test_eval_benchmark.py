"""The shipped benchmark and the loader's validation."""

import json
from collections import Counter

import pytest

from alslm_ml.benchmark import (
    CATEGORIES,
    BenchmarkError,
    load_benchmark,
    parse_benchmark,
    stratified_sample,
)
from alslm_ml.eval.entities import Registry
from alslm_ml.eval.scoring import score_answer
from alslm_ml.eval.taxonomy import classify


def test_shipped_benchmark_size_categories_and_traps():
    qs = load_benchmark()
    assert len(qs) >= 160
    cats = Counter(q.category for q in qs)
    assert set(cats) == set(CATEGORIES) and min(cats.values()) >= 15
    assert sum(q.is_trap for q in qs) >= 0.10 * len(qs)
    assert {q.difficulty for q in qs} == {"easy", "medium", "hard"}
    assert all(3 <= len(q.key_facts) <= 5 for q in qs)
    assert all(q.source for q in qs)
    assert len({q.question.lower() for q in qs}) == len(qs)


def test_every_reference_answer_scores_as_accurate():
    """The scoring must accept the benchmark's own reference answers: all key facts present in
    non-trap references, every trap reference denies the premise, no reference names an unknown entity."""
    reg = Registry()
    for q in load_benchmark():
        s = score_answer(q, q.reference_answer, reg)
        assert s.passed and not s.facts_missing, (q.id, s.facts_missing)
        assert not s.unknown_entities, (q.id, s.unknown_entities)
        assert classify(q, q.reference_answer, s).mode == "accurate", q.id
        if q.is_trap:
            assert s.refused, q.id


def _entry(**over):
    e = {"id": "x-1", "category": "drug_treatment", "difficulty": "easy", "question": "Q?",
         "reference_answer": "A.", "key_facts": ["a"], "source": "FDA label", "is_trap": False}
    e.update(over)
    return e


def test_loader_accepts_verified_answer_alias_and_extra_fields(tmp_path):
    e = _entry(extra="ignored")
    e["verified_answer"] = e.pop("reference_answer")
    path = tmp_path / "b.json"
    path.write_text(json.dumps([e]))
    (q,) = load_benchmark(path)
    assert q.reference_answer == "A." and q.key_facts == ("a",)


def test_loader_accepts_source_as_object_or_string(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps([_entry(id="o-1", source={"type": "pubmed", "id": "PMC123456"}),
                                _entry(id="o-2", source="FDA label")]))
    q1, q2 = load_benchmark(path)
    assert q1.source == "pubmed: PMC123456" and q2.source == "FDA label"
    path.write_text(json.dumps([_entry(id="o-3", source={"type": "", "id": None})]))
    with pytest.raises(BenchmarkError, match=r"'o-3': field 'source' is missing or not a non-empty string or an object"):
        load_benchmark(path)


@pytest.mark.parametrize("field,value,msg", [
    ("category", "astrology", "'category'"),
    ("difficulty", "extreme", "'difficulty'"),
    ("key_facts", [], "'key_facts'"),
    ("key_facts", "glutamate", "'key_facts'"),
    ("is_trap", "yes", "'is_trap'"),
    ("question", "", "'question'"),
    ("source", None, "'source'"),
])
def test_bad_entry_names_id_and_field(tmp_path, field, value, msg):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"questions": [_entry(id="ok-1"), _entry(id="bad-7", **{field: value})]}))
    with pytest.raises(BenchmarkError) as err:
        load_benchmark(path)
    assert "bad-7" in str(err.value) and msg in str(err.value) and str(path) in str(err.value)


def test_missing_reference_duplicate_id_and_bad_json(tmp_path):
    e = _entry()
    del e["reference_answer"]
    with pytest.raises(BenchmarkError, match="'reference_answer'"):
        parse_benchmark([e])
    with pytest.raises(BenchmarkError, match="duplicate id"):
        parse_benchmark([_entry(), _entry()])
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    with pytest.raises(BenchmarkError, match="not valid JSON"):
        load_benchmark(bad)


def test_stratified_sample_covers_categories_with_traps():
    qs = load_benchmark()
    s = stratified_sample(qs, 5, seed=1)
    assert len(s) == 40
    assert Counter(q.category for q in s) == {c: 5 for c in CATEGORIES}
    trap_cats = {q.category for q in qs if q.is_trap}
    assert {q.category for q in s if q.is_trap} == trap_cats
    assert stratified_sample(qs, 5, seed=1) == s
    assert len({q.difficulty for q in s}) == 3
    assert stratified_sample(qs, 0) == qs


def test_most_questions_answerable_from_starter_corpus():
    """RAG is only fairly evaluated if the corpus holds the answers: most non-trap questions must
    have at least half their key facts (verbatim, case-insensitive) in one starter document."""
    from pathlib import Path

    docs_dir = Path(__file__).resolve().parents[1] / "alslm_ml" / "sources" / "starter" / "docs"
    docs = [p.read_text(encoding="utf-8").lower() for p in docs_dir.glob("*/*.md")]
    if len(docs) < 20:
        pytest.skip("starter corpus not present")
    qs = [q for q in load_benchmark() if not q.is_trap]
    covered = sum(
        any(sum(f.lower() in d for f in q.key_facts) / len(q.key_facts) >= 0.5 for d in docs) for q in qs
    )
    assert covered / len(qs) >= 0.8, f"only {covered}/{len(qs)} questions answerable from the starter corpus"
