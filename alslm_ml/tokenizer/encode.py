"""Token streams for training: one uint16 memmap per split, documents joined by <|eos|>.

The training loop samples fixed-length windows from these flat streams (nanoGPT's train.bin /
val.bin), so an <|eos|> between documents is the only boundary the model sees.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from alslm_ml.tokenizer.bpe import EOS, MAX_UINT16_VOCAB

DTYPE = np.uint16
META_FILE = "meta.json"


def encode_split(tok: Tokenizer, texts: Sequence[str], out_path: str | Path, batch: int = 256,
                 desc: str = "encode") -> int:
    """Encode `texts` into `out_path` as uint16, each document followed by <|eos|>. Returns the
    number of tokens. Writes to a temp file first, so a crash never leaves a half-written .bin."""
    if tok.get_vocab_size() > MAX_UINT16_VOCAB:
        raise ValueError(f"vocab size {tok.get_vocab_size()} does not fit uint16 token streams")
    eos = tok.token_to_id(EOS)
    if eos is None:
        raise ValueError(f"tokenizer has no {EOS} token")
    out_path = Path(out_path)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    n = 0
    with open(tmp, "wb") as f:
        for i in tqdm(range(0, len(texts), batch), desc=desc, unit="batch", leave=False, disable=None):
            chunk = []
            for enc in tok.encode_batch(list(texts[i : i + batch])):
                chunk.extend(enc.ids)
                chunk.append(eos)
            arr = np.asarray(chunk, dtype=DTYPE)
            arr.tofile(f)
            n += arr.size
    tmp.replace(out_path)
    return n


def write_token_streams(tok: Tokenizer, splits: dict[str, Sequence[str]], out_dir: str | Path,
                        extra_meta: dict | None = None) -> dict:
    """Write `<split>.bin` for every split and `meta.json` (counts, vocab size, dtype)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "vocab_size": tok.get_vocab_size(),
        "dtype": "uint16",
        "eos_id": tok.token_to_id(EOS),
        "splits": {},
        **(extra_meta or {}),
    }
    for name, texts in splits.items():
        n = encode_split(tok, texts, out / f"{name}.bin", desc=f"encode {name}")
        meta["splits"][name] = {"documents": len(texts), "tokens": n, "file": f"{name}.bin"}
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    return meta


def open_stream(path: str | Path) -> np.memmap:
    """Read-only uint16 memmap over a token stream, with a clear error when it is missing/empty."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no token stream at {path}: materialize `tokenized_corpus` first")
    if path.stat().st_size == 0 or path.stat().st_size % np.dtype(DTYPE).itemsize:
        raise ValueError(f"{path}: size {path.stat().st_size} bytes is not a non-empty uint16 stream")
    return np.memmap(path, dtype=DTYPE, mode="r")


def read_meta(tokens_dir: str | Path) -> dict:
    path = Path(tokens_dir) / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {META_FILE} in {tokens_dir}: materialize `tokenized_corpus` first")
    return json.loads(path.read_text())
