"""Token streams for training: one uint16 memmap per split, documents joined by <|eos|>.

The training loop samples fixed-length windows from these flat streams (nanoGPT's train.bin /
val.bin), so an <|eos|> between documents is the only boundary the model sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from alslm_ml.tokenizer.bpe import EOS, MAX_UINT16_VOCAB

DTYPE = np.uint16
META_FILE = "meta.json"


def _encode_texts(tok: Tokenizer, texts: Sequence[str], eos: int) -> np.ndarray:
    """One batch as a uint16 array, <|eos|> after every document."""
    encs = tok.encode_batch(list(texts))
    lengths = np.fromiter((len(e.ids) + 1 for e in encs), dtype=np.int64, count=len(encs))
    arr = np.empty(int(lengths.sum()), dtype=DTYPE)
    pos = 0
    for e, k in zip(encs, lengths.tolist()):
        arr[pos : pos + k - 1] = e.ids
        arr[pos + k - 1] = eos
        pos += k
    return arr


_WORKER_TOKENIZERS: dict[str, Tokenizer] = {}


def _encode_in_worker(texts: Sequence[str], tokenizer_json: str, eos: int) -> tuple[int, np.ndarray]:
    """`_encode_texts` in a worker process, the tokenizer loaded once per worker."""
    tok = _WORKER_TOKENIZERS.get(tokenizer_json)
    if tok is None:
        tok = _WORKER_TOKENIZERS[tokenizer_json] = Tokenizer.from_str(tokenizer_json)
    return len(texts), _encode_texts(tok, texts, eos)


def encode_batches(tok: Tokenizer, batches: Iterable[Sequence[str]], out_path: str | Path,
                   desc: str = "encode", workers: int = 1) -> tuple[int, int]:
    """Encode batches of texts into `out_path` as uint16, each document followed by <|eos|>,
    appending batch by batch in order (memory: a few batches). `workers` > 1 encodes in that many
    worker processes (HF tokenizers runs single-threaded under TOKENIZERS_PARALLELISM=false).
    Returns (documents, tokens). Writes to a temp file first, so a crash never leaves a
    half-written .bin."""
    if tok.get_vocab_size() > MAX_UINT16_VOCAB:
        raise ValueError(f"vocab size {tok.get_vocab_size()} does not fit uint16 token streams")
    eos = tok.token_to_id(EOS)
    if eos is None:
        raise ValueError(f"tokenizer has no {EOS} token")
    out_path = Path(out_path)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    n = docs = 0
    if workers > 1:
        from functools import partial

        from alslm_ml.processing.parallel import imap

        encoded = imap(partial(_encode_in_worker, tokenizer_json=tok.to_str(), eos=eos), batches, workers)
    else:
        encoded = ((len(t), _encode_texts(tok, t, eos)) for t in batches)
    try:
        with open(tmp, "wb") as f:
            for k, arr in tqdm(encoded, desc=desc, unit="batch", leave=False, disable=None):
                arr.tofile(f)
                n += arr.size
                docs += k
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return docs, n


def _as_batches(texts: Sequence[str], batch: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(texts), batch):
        yield texts[i : i + batch]


def encode_split(tok: Tokenizer, texts: Sequence[str], out_path: str | Path, batch: int = 256,
                 desc: str = "encode") -> int:
    """Encode a list of texts (see `encode_batches`). Returns the number of tokens."""
    return encode_batches(tok, _as_batches(texts, batch), out_path, desc)[1]


def write_token_streams(tok: Tokenizer, splits: dict[str, Sequence[str] | Iterable[Sequence[str]]], out_dir: str | Path,
                        extra_meta: dict | None = None, workers: int = 1) -> dict:
    """Write `<split>.bin` for every split and `meta.json` (counts, vocab size, dtype). A split is
    a list of texts, or an iterable of text batches (streamed from DuckDB by tokenized_corpus)."""
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
        batches = _as_batches(texts, 256) if isinstance(texts, Sequence) and (not texts or isinstance(texts[0], str)) else texts
        docs, n = encode_batches(tok, batches, out / f"{name}.bin", desc=f"encode {name}", workers=workers)
        meta["splits"][name] = {"documents": docs, "tokens": n, "file": f"{name}.bin"}
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
