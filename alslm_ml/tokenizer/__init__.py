"""Tokenizer stage (design doc section 3): byte-level BPE, medical-term validation, token streams."""

from alslm_ml.tokenizer.bpe import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    load_tokenizer,
    save_tokenizer,
    special_ids,
    train_bpe,
)
from alslm_ml.tokenizer.encode import open_stream, read_meta, write_token_streams
from alslm_ml.tokenizer.validate import (
    check_terms,
    stats_from_counts,
    summarize_terms,
    tokenization_counts,
    tokenization_stats,
    worst_terms_markdown,
)

__all__ = [
    "BOS", "EOS", "PAD", "UNK", "SPECIAL_TOKENS", "train_bpe", "save_tokenizer", "load_tokenizer",
    "special_ids", "write_token_streams", "open_stream", "read_meta", "check_terms", "tokenization_stats",
    "summarize_terms", "worst_terms_markdown", "tokenization_counts", "stats_from_counts",
]
