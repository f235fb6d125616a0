"""Processing: cleaning, deduplication, splitting and statistics on small hand-made documents,
plus the Dagster assets end to end against a real DuckDB file."""

import random
from collections import Counter

import duckdb
import pandas as pd
import pytest

from alslm_ml.processing import (
    clean_document,
    clean_documents,
    corpus_stats,
    count_tokens,
    dedup_documents,
    find_leakage,
    split_documents,
)
from alslm_ml.processing.dedup import jaccard, shingle_hashes

WORDS = ["motor", "neuron", "degeneration", "affects", "the", "corticospinal", "tract", "and", "anterior", "horn", "cells", "causing", "weakness", "fasciculations", "spasticity", "dysarthria", "dysphagia", "respiratory", "insufficiency", "glutamate", "excitotoxicity", "protein", "aggregation", "axonal", "transport", "mitochondria", "astrocytes", "microglia", "inflammation", "riluzole", "edaravone", "tofersen", "antisense", "oligonucleotide", "superoxide", "dismutase", "repeat", "expansion", "frontotemporal", "dementia", "cognition", "electromyography", "conduction", "velocity", "denervation", "reinnervation", "ventilation", "gastrostomy", "nutrition", "survival"]


def prose(seed: int, n_words: int = 300) -> str:
    rng = random.Random(seed)
    sents = []
    while sum(len(s.split()) for s in sents) < n_words:
        sents.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + ".")
    paras = [" ".join(sents[i : i + 4]) for i in range(0, len(sents), 4)]
    return "\n\n".join(paras)


def doc(i, text, source="starter", licence="CC-BY-4.0"):
    return {"id": f"{source}:{i:04d}", "source": source, "url": f"alslm://{i}", "title": f"Doc {i}", "text": text,
            "date_accessed": "2026-11-22", "license": licence, "metadata": "{}"}


# --- cleaning -----------------------------------------------------------------------------

def test_clean_strips_markup_citations_and_non_content_sections():
    raw = (
        "# Riluzole\n\n<p>Riluzole <b>reduces</b> glutamate release [1, 2] in motor neurons (Bensimon et al., 1994).</p>\n\n"
        "It was approved in 1995 [3–5].\n\n## References\n\n1. Bensimon G. N Engl J Med 1994.\n\n"
        "2. Lacomblez L. Lancet 1996.\n\n## Mechanism\n\nIt blocks sodium channels."
    )
    counts = Counter()
    out = clean_document(raw, counts)
    assert "<p>" not in out and "<b>" not in out and "#" not in out
    assert "[1, 2]" not in out and "[3–5]" not in out and "et al" not in out
    assert "Lacomblez" not in out and "Bensimon G." not in out  # the reference section is gone
    assert "It blocks sodium channels." in out  # the section after it survives
    assert "Riluzole reduces glutamate release in motor neurons." in out
    assert counts["citations"] == 3
    assert counts["non_content_paragraphs"] == 3


@pytest.mark.parametrize(
    "sentence,reason",
    [
        ("There is currently no cure.", "currently"),
        ("As of March 2024, enrolment was open.", "as_of_date"),
        ("Page last updated on 3 May.", "last_updated"),
        ("Contact us for an appointment.", "contact"),
        ("Call 555-123-4567 for details.", "phone"),
        ("Office hours: 9 to 5.", "hours"),
        ("The visit costs $250 per session.", "price"),
    ],
)
def test_volatile_sentences_are_removed_with_their_reason(sentence, reason):
    counts = Counter()
    out = clean_document(f"Riluzole was approved by the FDA in 1995. {sentence} Edaravone followed in 2017.", counts)
    assert out == "Riluzole was approved by the FDA in 1995. Edaravone followed in 2017."
    assert counts[reason] == 1


def test_volatile_prefilter_never_misses_a_volatile_paragraph():
    """maybe_volatile() only skips work: every paragraph a VOLATILE pattern matches must pass it.
    Fuzzed from the patterns' own vocabulary (dates, phones, times, prices, contacts)."""
    from alslm_ml.processing.clean import VOLATILE, maybe_volatile

    pieces = ["Currently", "currently", "at present", "As of", "as of", "March", "2024", "12", "May", "today", "Last",
              "page", "updated", "reviewed", "modified", "on", "Contact", "us", "call", "Call", "toll-free", "our",
              "email", "(555)", "555-123-4567", "555.123.4567", "555 123 4567", "1-800-", "+44 20 7946", "Hours:",
              "open", "Monday", "daily", "9am-5pm", "9:30 a.m. -", "10 p.m.–", "$250", "$ 5", "40 USD", "12.50 EUR",
              "GBP", "riluzole", "motor", "neuron", "the", "-", "–", ".", ",", "(", ")", "Café", "İstanbul", "ſ"]
    rng = random.Random(0)
    hits = 0
    for _ in range(20000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        if any(p.search(text) for p in VOLATILE.values()):
            hits += 1
            assert maybe_volatile(text), text
    assert hits > 2000  # the fuzz really exercises the patterns
    assert not maybe_volatile("Riluzole was approved in 1995 for motor neuron disease; 3 patients improved.")


def test_normalization_nfc_and_whitespace():
    out = clean_document("Caf\u0065\u0301   au\u00a0lait\r\n\r\n\r\nnext  para")
    assert out == "Caf\u00e9 au lait\n\nnext para"


def test_short_documents_are_dropped_and_counted():
    docs = [doc(1, prose(1, 300)), doc(2, "Too short to keep.")]
    kept, report = clean_documents(docs, min_tokens=100)
    assert [d["id"] for d in kept] == ["starter:0001"]
    assert report.dropped_short == ["starter:0002"]
    assert kept[0]["n_tokens"] == count_tokens(kept[0]["text"]) >= 100


# --- deduplication ------------------------------------------------------------------------

def perturb(text: str, seed: int, rate: float = 0.02) -> str:
    rng = random.Random(seed)
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * rate))):
        words[i] = rng.choice(WORDS)
    return " ".join(words)


def test_near_duplicates_removed_with_provenance_distinct_kept():
    base = [doc(i, prose(i, 600)) for i in range(20)]
    planted = [doc(100 + i, perturb(base[i]["text"], seed=i, rate=0.01)) for i in range(5)]
    res = dedup_documents(base + planted, threshold=0.85)
    kept_ids = {d["id"] for d in res.documents}
    assert kept_ids == {d["id"] for d in base}
    provenance = {(d["removed_id"], d["kept_id"]) for d in res.duplicates if d["kind"] == "document"}
    assert provenance == {(f"starter:{100 + i:04d}", f"starter:{i:04d}") for i in range(5)}


def test_dedup_is_independent_of_input_order():
    docs = [doc(i, prose(i % 7, 400)) for i in range(14)]  # pairs of exact duplicates
    a = dedup_documents(docs)
    b = dedup_documents(list(reversed(docs)))
    assert [d["id"] for d in a.documents] == [d["id"] for d in b.documents]
    assert len(a.documents) == 7


def test_repeated_paragraph_removed_once_short_headings_kept():
    shared = "This shared boilerplate paragraph about the motor neuron disease registry appears on many pages verbatim."
    d1 = doc(1, f"Overview\n\n{prose(1, 300)}\n\n{shared}")
    d2 = doc(2, f"Overview\n\n{prose(2, 300)}\n\n{shared.replace(' ', '  ')}")
    res = dedup_documents([d1, d2])
    texts = {d["id"]: d["text"] for d in res.documents}
    assert shared in texts["starter:0001"] and "boilerplate" not in texts["starter:0002"]
    assert texts["starter:0002"].startswith("Overview")  # short heading paragraphs are not deduplicated
    rows = [d for d in res.duplicates if d["kind"] == "paragraph"]
    assert [(r["removed_id"], r["kept_id"]) for r in rows] == [("starter:0002", "starter:0001")]



def test_document_left_too_short_by_paragraph_dedup_is_removed_as_residue():
    """A page that is mostly boilerplate shared with an earlier page keeps only its heading and a
    line after paragraph dedup: below the cleaning minimum it goes, with provenance."""
    shared = [prose(10 + i, 60) for i in range(3)]
    note = "A short local note of about a dozen words on this page."
    d1 = doc(1, "\n\n".join([prose(1, 200), *shared]))
    d2 = doc(2, "\n\n".join(["Overview", note, *shared]))
    d3 = doc(3, "\n\n".join([prose(3, 200), shared[0]]))  # long enough after losing one paragraph
    d4 = doc(4, "\n\n".join([prose(4, 200), note]))  # shares only the residue's own paragraph
    for d in (d1, d2, d3, d4):
        d["n_tokens"] = count_tokens(d["text"])
    res = dedup_documents([d1, d2, d3, d4], min_tokens=100)
    assert [d["id"] for d in res.documents] == ["starter:0001", "starter:0003", "starter:0004"]
    assert note in res.documents[-1]["text"]  # the removed residue does not claim it
    (residue,) = [r for r in res.duplicates if r["kind"] == "residue"]
    assert residue["removed_id"] == "starter:0002" and residue["kept_id"] == "starter:0001"
    assert 0.85 < residue["similarity"] < 1.0  # most of its words were copies
    n_paras = [len([p for p in t.split("\n\n") if len(p.split()) >= 8]) for t in shared]
    assert res.removed_residues == 1 and res.removed_paragraphs == sum(n_paras) + n_paras[0]
    kept3 = next(d for d in res.documents if d["id"] == "starter:0003")
    assert kept3["n_tokens"] == count_tokens(kept3["text"]) < d3["n_tokens"]
    # min_tokens=0 (the library default) keeps the residue
    assert "starter:0002" in {d["id"] for d in dedup_documents([d1, d2, d3]).documents}


# --- split --------------------------------------------------------------------------------

def test_split_is_stratified_seeded_and_groups_near_duplicates():
    docs = [doc(i, prose(i + 1000 * (src == "starter"), 300), source=src) for src in ("pubmed", "starter") for i in range(40)]
    # plant near-duplicate pairs (Jaccard between 0.7 and 0.85: they survive dedup but must not straddle the split)
    docs += [doc(900 + i, perturb(docs[i]["text"], seed=i, rate=0.025), source="pubmed") for i in range(6)]
    for i in range(6):  # the planted pairs really sit between the leakage and the dedup thresholds
        assert 0.7 <= jaccard(shingle_hashes(docs[i]["text"]), shingle_hashes(docs[-6 + i]["text"])) < 0.85
    docs += [doc(950 + i, docs[i]["text"], source="starter") for i in range(3)]  # cross-source copies
    out = split_documents(docs, val_fraction=0.1, seed=42)
    again = split_documents(list(reversed(docs)), val_fraction=0.1, seed=42)
    assert {d["id"]: d["split"] for d in out} == {d["id"]: d["split"] for d in again}
    by = Counter((d["source"], d["split"]) for d in out)
    assert 4 <= by[("starter", "val")] <= 6 and 4 <= by[("pubmed", "val")] <= 7
    split_of = {d["id"]: d["split"] for d in out}
    assert all(split_of[f"pubmed:{900 + i:04d}"] == split_of[f"pubmed:{i:04d}"] for i in range(6))
    assert all(split_of[f"starter:{950 + i:04d}"] == split_of[f"pubmed:{i:04d}"] for i in range(3))
    assert find_leakage(out) == []
    other_seed = split_documents(docs, val_fraction=0.1, seed=7)
    assert {d["id"] for d in other_seed if d["split"] == "val"} != {d["id"] for d in out if d["split"] == "val"}


def test_find_leakage_reports_pairs_across_splits():
    a = doc(1, prose(1, 400))
    b = doc(2, perturb(a["text"], seed=3, rate=0.03))
    c = doc(3, prose(3, 400))
    leaks = find_leakage([{**a, "split": "train"}, {**b, "split": "val"}, {**c, "split": "val"}])
    assert [(x["val_id"], x["train_id"]) for x in leaks] == [("starter:0002", "starter:0001")]
    assert leaks[0]["similarity"] >= 0.7


# --- stats --------------------------------------------------------------------------------

def test_corpus_stats_counts():
    df = pd.DataFrame([
        {**doc(1, "Riluzole and riluzole and SOD1."), "n_tokens": 7, "split": "train"},
        {**doc(2, "SOD1 mutation in familial ALS.", source="pubmed"), "n_tokens": 6, "split": "val"},
    ])
    s = corpus_stats(df, terms=["riluzole", "SOD1", "tofersen"])
    assert s["documents"] == 2 and s["tokens"] == 13
    assert s["bytes"] == len("Riluzole and riluzole and SOD1.") + len("SOD1 mutation in familial ALS.")
    assert dict(s["top_medical_terms"]) == {"riluzole": 2, "SOD1": 2}
    assert {r["source"]: r["documents"] for r in s["by_source"]} == {"starter": 1, "pubmed": 1}


# --- Dagster assets against a real DuckDB file ---------------------------------------------

def test_processing_assets_materialize_into_duckdb(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    from dagster import AssetKey, AssetSpec, materialize
    from dagster_duckdb import DuckDBResource
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    from alslm_assets.assets import processing
    from alslm_assets.partitions import source_partitions

    db = str(tmp_path / "warehouse.duckdb")
    texts = [prose(i, 400) for i in range(30)]
    raw = pd.DataFrame([doc(i, t) for i, t in enumerate(texts)] + [doc(99, perturb(texts[0], 1, 0.01)), doc(98, "short")])  # noqa: F841 (read by DuckDB below)
    with duckdb.connect(db) as con:
        con.execute("create schema alslm")
        con.execute("create table alslm.raw_documents as select * from raw")
    io = {"io_manager": DuckDBPandasIOManager(database=db, schema="alslm"), "duckdb": DuckDBResource(database=db)}
    raw_spec = AssetSpec("raw_documents", partitions_def=source_partitions, metadata={"partition_expr": "source"})
    r1 = materialize([raw_spec, processing.clean_documents], partition_key="starter", resources=io, selection=[processing.clean_documents])
    assert r1.success
    clean_spec = AssetSpec("clean_documents", partitions_def=source_partitions, metadata={"partition_expr": "source"})
    r2 = materialize([clean_spec, processing.corpus, processing.corpus_splits, processing.corpus_stats], resources=io,
                     selection=[processing.corpus, processing.corpus_splits, processing.corpus_stats])
    assert r2.success
    checks = {e.check_name: e.passed for e in r2.get_asset_check_evaluations()}
    assert checks == {"unique_ids": True, "licence_allowlist": True, "dedup_ratio": True, "no_leakage": True}
    with duckdb.connect(db) as con:
        assert con.execute("select count(*) from alslm.clean_documents").fetchone()[0] == 31
        assert con.execute("select count(*) from alslm.corpus").fetchone()[0] == 30
        assert con.execute("select removed_id, kept_id from alslm.corpus_duplicates where kind='document'").fetchall() == [("starter:0099", "starter:0000")]
        assert con.execute("select split, count(*) from alslm.corpus_splits group by split order by split").fetchall() == [("train", 27), ("val", 3)]
    assert (tmp_path / "stats" / "stats.md").read_text().startswith("# Corpus statistics")
    mat = r2.asset_materializations_for_node("corpus_stats")[0]
    assert mat.asset_key == AssetKey("corpus_stats") and mat.metadata["documents"].value == 30
