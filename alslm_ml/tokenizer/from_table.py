"""Train the BPE and write the token streams from the `corpus_splits` table, read in batches so a
gigabyte corpus never sits in memory. These are the tokenizer assets' steps; the assets log the
results and wrap them in Dagster metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alslm_ml.processing import store, tables
from alslm_ml.tokenizer.bpe import save_tokenizer, special_ids, train_bpe
from alslm_ml.tokenizer.encode import write_token_streams
from alslm_ml.tokenizer.validate import stats_from_counts, tokenization_counts

Log = Callable[[str], None]


def check_splits(con, required: tuple[str, ...] = ()) -> dict[str, int]:
    """Documents per split; an error for a split value other than train/val, or a missing required split."""
    counts = tables.split_counts(con)
    bad = sorted(set(counts) - {"train", "val"})
    if bad:
        raise ValueError(f"corpus_splits.split has unexpected values {bad} (expected train/val)")
    for name in required:
        if not counts.get(name):
            raise ValueError(f"corpus_splits has no rows with split == {name!r}; training needs both splits")
    return counts


def train_tokenizer(con, out_dir: Path, vocab_size: int, min_frequency: int = 2, batch_rows: int = store.BATCH_ROWS,
                    stats_max_mb: float = 0.0, log: Log = lambda _: None) -> tuple[Path, dict]:
    """Byte-level BPE on the train split, saved in out_dir; fertility and compression measured on
    the val split (train when there is no val), capped at stats_max_mb (0 = all). Returns the
    tokenizer.json path and its meta (also saved next to it)."""
    counts = check_splits(con)
    if not counts.get("train"):
        raise ValueError("corpus_splits has no rows with split == 'train'; nothing to train the tokenizer on")
    chars = con.execute(f"SELECT coalesce(sum(length(text)), 0) FROM {store.table('corpus_splits')} "
                        "WHERE split = 'train'").fetchone()[0]
    log(f"training BPE (target vocab {vocab_size}) on {counts['train']} train documents, {chars:,} characters")
    tok = train_bpe(tables.split_texts(con, "train", batch_rows), vocab_size, min_frequency)
    stats_split = "val" if counts.get("val") else "train"
    totals = {"tokens": 0, "words": 0, "chars": 0}
    for texts in tables.split_texts(con, stats_split, batch_rows, max_chars=int(stats_max_mb * 1e6) or None):
        for k, v in tokenization_counts(tok, texts).items():
            totals[k] += v
    stats = stats_from_counts(totals)
    meta = {"target_vocab_size": vocab_size, "vocab_size": tok.get_vocab_size(), "min_frequency": min_frequency,
            "train_documents": counts["train"], "train_chars": chars, "special_tokens": special_ids(tok),
            "stats_split": stats_split, **stats}
    path = save_tokenizer(tok, out_dir, meta)
    log(f"vocab {tok.get_vocab_size()}, fertility {stats['fertility']:.3f} tokens/word, "
        f"{stats['chars_per_token']:.2f} chars/token; saved {path}")
    return path, meta


def tokenize_splits(con, tok, out_dir: Path, tokenizer_path: Path, batch_rows: int = store.BATCH_ROWS,
                    workers: int = 1) -> dict:
    """train.bin / val.bin (uint16, <|eos|> between documents) + meta.json in out_dir; returns the meta."""
    check_splits(con, required=("train", "val"))
    splits = {name: tables.split_texts(con, name, batch_rows) for name in ("train", "val")}
    return write_token_streams(tok, splits, out_dir, extra_meta={"tokenizer": str(tokenizer_path)}, workers=workers)
