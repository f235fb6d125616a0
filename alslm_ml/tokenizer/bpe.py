"""Byte-level BPE trained on the corpus train split (design doc section 3).

A custom vocabulary keeps ALS terms whole (GPT-2's splits "fasciculation" into 3 pieces), so the
small model spends its capacity on content rather than on re-assembling word fragments. Byte-level
BPE never needs <|unk|> (every byte is in the base alphabet); the token exists for the contract.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
SPECIAL_TOKENS = [BOS, EOS, PAD, UNK]
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"
MAX_UINT16_VOCAB = 65536  # token streams are stored as uint16


def train_bpe(texts: Iterable[str], vocab_size: int = 16384, min_frequency: int = 2) -> Tokenizer:
    """Train byte-level BPE on `texts`. A small corpus may stop short of `vocab_size` (no pair left
    with `min_frequency` occurrences); the real size is `tok.get_vocab_size()`."""
    if not 256 + len(SPECIAL_TOKENS) < vocab_size <= MAX_UINT16_VOCAB:
        raise ValueError(f"vocab_size {vocab_size} must be in (260, {MAX_UINT16_VOCAB}] (uint16 token streams)")
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, out_dir: str | Path, meta: dict | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / TOKENIZER_FILE))
    (out / META_FILE).write_text(json.dumps(meta or {}, indent=2))
    return out / TOKENIZER_FILE


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load `tokenizer.json` (or the directory holding it) and check the special tokens exist."""
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.exists():
        raise FileNotFoundError(f"no tokenizer at {path}: materialize the `tokenizer` asset first")
    tok = Tokenizer.from_file(str(path))
    missing = [t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None]
    if missing:
        raise ValueError(f"{path}: special tokens {missing} missing from the vocabulary")
    return tok


def special_ids(tok: Tokenizer) -> dict[str, int]:
    return {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
