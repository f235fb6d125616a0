"""Tokenizer stage: corpus_splits -> tokenizer (+ medical-term check) -> tokenized_corpus.

Both read the alslm.corpus_splits table in batches (BPE training from an iterator, encoding appended
batch by batch), so a gigabyte corpus never sits in memory.

Both assets are files under the data directory (data/tokenizer/, data/tokens/); each is a thin call
into alslm_ml.tokenizer plus metadata.
"""


import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from alslm_ml import paths
from alslm_ml.terms import load_terms
from alslm_ml.tokenizer import bpe, validate
from alslm_ml.tokenizer.from_table import tokenize_splits, train_tokenizer

GROUP = "tokenizer"
# Below this many characters of training text the BPE cannot learn whole-word merges for rare
# terms; the medical-term check then warns instead of failing the run (see docs/training.md).
SMALL_CORPUS_CHARS = 5_000_000


class TokenizerConfig(dg.Config):
    vocab_size: int = 8192  # embedded default = the tiny model's vocab; 16384 for a full corpus (design 3.1)
    min_frequency: int = 2
    stats_max_mb: float = 0.0  # fertility/compression measured on this many MB of val text (0 = all of it)
    batch_rows: int = 1000  # documents per batch read from corpus_splits


class TermCheckConfig(dg.Config):
    max_tokens_per_word: int = 2  # a term word split into more pieces is flagged (design 3.2)
    max_flagged_fraction: float = 0.20  # the check fails above this share of flagged terms


@dg.asset(group_name=GROUP, deps=["corpus_splits"],
       description="Byte-level BPE (HF tokenizers) trained on the train split: data/tokenizer/tokenizer.json.")
def tokenizer(context: dg.AssetExecutionContext, config: TokenizerConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as con:
        path, meta = train_tokenizer(con, paths.tokenizer_dir(), config.vocab_size, config.min_frequency,
                                     config.batch_rows, config.stats_max_mb, log=context.log.info)
    note = ("embedded default: 8,192 = the tiny model's vocab; set vocab_size 16384 for a full corpus"
            if config.vocab_size < 16384 else "design vocab size")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "vocab_size": meta["vocab_size"],
        "target_vocab_size": config.vocab_size,
        "vocab_note": note,
        "train_chars": meta["train_chars"],
        "fertility_tokens_per_word": round(meta["fertility"], 4),
        "compression_chars_per_token": round(meta["chars_per_token"], 4),
        "stats_split": meta["stats_split"],
        "special_tokens": dg.MetadataValue.json(meta["special_tokens"]),
    })


@dg.asset_check(asset=tokenizer, description=(
    "Medical-term coverage (design 3.2): each of the shipped ALS/medical terms is tokenized; a term whose "
    "word breaks into >2 tokens is flagged; fails above 20% flagged. On a corpus under 5M characters (the "
    "embedded default) a failure is a WARN: a small corpus cannot learn whole-word merges for rare terms."))
def medical_term_coverage(context: dg.AssetCheckExecutionContext, config: TermCheckConfig) -> dg.AssetCheckResult:
    tok = bpe.load_tokenizer(paths.tokenizer_dir())
    meta = json.loads((paths.tokenizer_dir() / bpe.META_FILE).read_text())
    results = validate.check_terms(tok, load_terms(), config.max_tokens_per_word)
    for r in results:
        context.log.debug(f"{r.term!r}: {len(r.tokens)} tokens {r.tokens}{'  FLAGGED' if r.flagged else ''}")
    s = validate.summarize_terms(results)
    passed = s["flagged_fraction"] <= config.max_flagged_fraction
    small = meta.get("train_chars", 0) < SMALL_CORPUS_CHARS
    context.log.info(f"{s['n_flagged']}/{s['n_terms']} terms flagged ({s['flagged_fraction']:.1%}); "
                     f"threshold {config.max_flagged_fraction:.0%}; passed={passed}")
    desc = f"{s['n_flagged']}/{s['n_terms']} terms fragment into >{config.max_tokens_per_word} tokens per word"
    if not passed and small:
        desc += (f" — expected on a small corpus ({meta.get('train_chars', 0):,} chars < {SMALL_CORPUS_CHARS:,}); "
                 "train on the full corpus and/or raise vocab_size (design: 16K, then 32K)")
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN if small else dg.AssetCheckSeverity.ERROR,
        description=desc,
        metadata={
            "n_terms": s["n_terms"],
            "n_flagged": s["n_flagged"],
            "flagged_fraction": round(s["flagged_fraction"], 4),
            "threshold": config.max_flagged_fraction,
            "mean_tokens_per_term": round(s["mean_tokens_per_term"], 3),
            "single_token_words": s["single_token_words"],
            "fertility_tokens_per_word": round(meta.get("fertility", 0.0), 4),
            "compression_chars_per_token": round(meta.get("chars_per_token", 0.0), 4),
            "train_chars": meta.get("train_chars", 0),
            "worst_terms": dg.MetadataValue.md(validate.worst_terms_markdown(results)),
        },
    )


class TokenizedCorpusConfig(dg.Config):
    batch_rows: int = 1000  # documents encoded and appended per batch
    workers: int = 1  # worker processes encoding batches (2 on a 2-core machine at scale)


@dg.asset(group_name=GROUP, deps=[tokenizer, "corpus_splits"], description="Train/val token streams (uint16 memmaps, <|eos|> between documents): data/tokens/.")
def tokenized_corpus(context: dg.AssetExecutionContext, config: TokenizedCorpusConfig, duckdb: DuckDBResource) -> dg.MaterializeResult:
    tok = bpe.load_tokenizer(paths.tokenizer_dir())
    out = paths.tokens_dir()
    with duckdb.get_connection() as con:
        meta = tokenize_splits(con, tok, out, paths.tokenizer_file(), config.batch_rows, config.workers)
    for name, info in meta["splits"].items():
        context.log.info(f"{name}: {info['documents']} documents -> {info['tokens']:,} tokens ({out / info['file']})")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)),
        "vocab_size": meta["vocab_size"],
        "train_tokens": meta["splits"]["train"]["tokens"],
        "val_tokens": meta["splits"]["val"]["tokens"],
        "train_documents": meta["splits"]["train"]["documents"],
        "val_documents": meta["splits"]["val"]["documents"],
        "eos_id": meta["eos_id"],
    })
