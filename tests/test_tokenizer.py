"""Tokenizer stage: BPE training, special tokens, <|eos|> separators, uint16 memmap round trip,
the medical-term list and check, and the Dagster assets end to end (tokenizer -> check ->
tokenized_corpus -> model_checkpoint on a micro config).

Texts are synthetic (no medical claims): sentences that mention terms, so the BPE learns them.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
from dagster import materialize, mem_io_manager

from alslm_ml.terms import load_terms
from alslm_ml.tokenizer import (
    check_terms,
    load_tokenizer,
    save_tokenizer,
    special_ids,
    summarize_terms,
    tokenization_stats,
    train_bpe,
    worst_terms_markdown,
    write_token_streams,
)
from alslm_ml.tokenizer.encode import open_stream, read_meta

WORDS = ("report", "patient", "study", "measure", "clinic", "score", "weekly", "group", "note", "review",
         "riluzole", "fasciculation", "electromyography", "neurodegeneration")


def synthetic_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 80))) + f". Document {i} ends here."
            for i in range(n)]


@pytest.fixture(scope="module")
def tok():
    return train_bpe(synthetic_texts(200, 0), vocab_size=400, min_frequency=2)


def test_special_tokens_first_and_unique(tok):
    ids = special_ids(tok)
    assert ids == {"<|bos|>": 0, "<|eos|>": 1, "<|pad|>": 2, "<|unk|>": 3}
    assert tok.encode("<|eos|>").ids == [1]  # a special token is never split
    assert tok.get_vocab_size() <= 400


def test_byte_level_round_trip_and_learned_terms(tok):
    text = "Riluzole, ÉMG naïve — 42 µg ✓"
    assert tok.decode(tok.encode(text).ids) == text  # byte-level: any text survives
    assert tok.encode(" fasciculation").tokens == ["Ġfasciculation"]  # frequent word -> one token


def test_save_load_and_missing_tokenizer(tok, tmp_path):
    save_tokenizer(tok, tmp_path, {"vocab_size": tok.get_vocab_size()})
    again = load_tokenizer(tmp_path)
    assert again.encode(" riluzole study").ids == tok.encode(" riluzole study").ids
    with pytest.raises(FileNotFoundError, match="materialize the `tokenizer` asset"):
        load_tokenizer(tmp_path / "nowhere")


def test_vocab_size_bounds():
    with pytest.raises(ValueError, match="uint16"):
        train_bpe(["abc"], vocab_size=70000)


def test_token_streams_eos_separated_uint16_round_trip(tok, tmp_path):
    train, val = synthetic_texts(20, 1), synthetic_texts(3, 2)
    meta = write_token_streams(tok, {"train": train, "val": val}, tmp_path)
    stream = open_stream(tmp_path / "train.bin")
    assert stream.dtype == np.uint16 and len(stream) == meta["splits"]["train"]["tokens"]
    assert read_meta(tmp_path)["vocab_size"] == tok.get_vocab_size()
    eos = tok.token_to_id("<|eos|>")
    assert int((stream == eos).sum()) == len(train) and stream[-1] == eos
    docs = np.split(np.asarray(stream), np.flatnonzero(stream == eos) + 1)[:-1]
    assert [tok.decode(d[:-1].tolist()) for d in docs] == train  # exact text back, document by document
    assert not list(tmp_path.glob("*.tmp"))


def test_streamed_batches_and_worker_processes_write_the_same_stream(tok, tmp_path):
    """tokenized_corpus feeds batches from DuckDB, optionally encoded by worker processes: the
    bytes are those of the plain list."""
    from alslm_ml.tokenizer.encode import encode_batches

    texts = synthetic_texts(40, 3)
    write_token_streams(tok, {"train": texts}, tmp_path / "list")
    batches = (texts[i : i + 7] for i in range(0, len(texts), 7))
    docs, n = encode_batches(tok, batches, tmp_path / "w.bin", workers=2)
    assert (tmp_path / "w.bin").read_bytes() == (tmp_path / "list" / "train.bin").read_bytes()
    assert docs == 40 and n == len(open_stream(tmp_path / "w.bin"))


def test_open_stream_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenized_corpus"):
        open_stream(tmp_path / "train.bin")
    (tmp_path / "odd.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="odd.bin"):
        open_stream(tmp_path / "odd.bin")


def test_medical_terms_list():
    terms = load_terms()
    assert len(terms) >= 200
    cats = {c for c, _ in terms}
    assert {"drugs and therapies", "genes", "proteins and molecular biology", "diagnostics and measures", "anatomy"} <= cats
    names = {t for _, t in terms}
    assert {"riluzole", "edaravone", "tofersen", "SOD1", "C9orf72", "TARDBP", "FUS", "ATXN2",
            "El Escorial criteria", "upper motor neuron", "electromyography", "fasciculation"} <= names


def test_duplicate_terms_rejected(tmp_path):
    f = tmp_path / "terms.txt"
    f.write_text("# genes\nSOD1\nsod1\n")
    with pytest.raises(ValueError, match="duplicate term 'sod1'"):
        load_terms(f)


def test_check_terms_flags_fragmented_words(tok):
    results = check_terms(tok, [("drugs", "riluzole"), ("genes", "HNRNPA2B1"), ("anatomy", "upper motor neuron")])
    by = {r.term: r for r in results}
    assert not by["riluzole"].flagged and by["riluzole"].max_word_tokens == 1
    assert by["HNRNPA2B1"].flagged and len(by["HNRNPA2B1"].tokens) > 2  # never seen: falls apart
    s = summarize_terms(results)
    assert s["n_flagged"] == sum(r.flagged for r in results) and s["n_terms"] == 3
    md = worst_terms_markdown(results)
    assert md.splitlines()[2].startswith("| HNRNPA2B1 |")


def test_tokenization_stats(tok):
    texts = synthetic_texts(5, 3)
    st = tokenization_stats(tok, texts)
    n_tok = sum(len(tok.encode(t).ids) for t in texts)
    assert st["tokens"] == n_tok
    assert st["chars_per_token"] == pytest.approx(sum(map(len, texts)) / n_tok)
    assert 1.0 <= st["fertility"] < 2.0  # mostly whole-word tokens


# --- the Dagster assets -------------------------------------------------------------------------

def test_assets_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    from alslm_assets.assets.tokenizer import medical_term_coverage, tokenized_corpus, tokenizer
    from alslm_assets.assets.training import model_checkpoint

    texts = synthetic_texts(120, 4)
    frame = pd.DataFrame({"id": [f"d{i}" for i in range(120)], "source": "starter", "title": "t", "text": texts,  # noqa: F841 (read by DuckDB)
                          "split": ["val" if i % 10 == 0 else "train" for i in range(120)]})

    import duckdb
    from dagster import AssetSpec
    from dagster_duckdb import DuckDBResource

    db = str(tmp_path / "warehouse.duckdb")  # the table the corpus_splits asset writes
    with duckdb.connect(db) as con:
        con.execute("CREATE SCHEMA alslm")
        con.execute("CREATE TABLE alslm.corpus_splits AS SELECT * FROM frame")
    corpus_splits_stub = AssetSpec("corpus_splits")

    run_config = {"ops": {
        "tokenizer": {"config": {"vocab_size": 300}},
        "model_checkpoint": {"config": {"config": "micro", "run_name": "t", "gpus": 0,
                                        "overrides": ["max_steps=20", "model_overrides={\"vocab_size\": 300, \"block_size\": 32, \"n_layer\": 2, \"n_head\": 2, \"n_embd\": 64}"]}},
    }}
    res = materialize([corpus_splits_stub, tokenizer, medical_term_coverage, tokenized_corpus, model_checkpoint],
                      resources={"io_manager": mem_io_manager, "duckdb": DuckDBResource(database=db)}, run_config=run_config,
                      selection=["tokenizer", "tokenized_corpus", "model_checkpoint"])
    assert res.success
    tmeta = res.asset_materializations_for_node("tokenizer")[0].metadata
    assert tmeta["vocab_size"].value <= 300 and tmeta["fertility_tokens_per_word"].value > 0
    checks = res.get_asset_check_evaluations()
    assert len(checks) == 1
    chk = checks[0]
    # a 300-token vocabulary on 120 synthetic documents cannot cover 233 medical terms
    assert not chk.passed and chk.severity.value == "WARN" and "small corpus" in chk.description
    assert chk.metadata["n_terms"].value >= 200 and "| term |" in chk.metadata["worst_terms"].value
    meta = json.loads((tmp_path / "tokens" / "meta.json").read_text())
    assert meta["splits"]["train"]["documents"] == 108 and meta["splits"]["val"]["documents"] == 12
    m = res.asset_materializations_for_node("model_checkpoint")[0].metadata
    assert m["steps"].value == 20 and m["best_val_loss"].value < m["unigram_baseline_val_loss"].value
    assert "data:image/png;base64," in m["loss_curve"].value and (tmp_path / "checkpoints" / "t" / "loss_curve.png").exists()
    assert "train/val gap" in m["overfitting"].value
    from alslm_ml.model import load_model

    assert load_model(tmp_path / "checkpoints" / "t" / "best" / "model").config.vocab_size == 300
