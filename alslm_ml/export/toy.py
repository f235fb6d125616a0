"""A toy model + tokenizer built in seconds, for tests, benchmarks and smoke runs of the export
and serving path when no trained checkpoint exists.

It is the real thing in miniature: a byte-level BPE `tokenizer.json` with the project's special
tokens and a `GPT` saved with `save_model`, trained for a few dozen steps on text about this
repository (no medical content) in the chat format the scratch system uses, so its greedy output
is peaked (quantization checks are meaningful) and it learns to end an answer with <|eos|>.
"""

from __future__ import annotations

from pathlib import Path

import torch

from alslm_ml.disclaimer import FULL, SCRATCH_SYSTEM_PROMPT, SHORT
from alslm_ml.model import GPT, GPTConfig, save_model

_QA = [
    ("What is ALS-LM?", "ALS-LM is a research project, not a medical resource."),
    ("Can I use this for medical decisions?", "No. " + SHORT),
    ("Who should I ask about ALS care?", "Consult qualified healthcare providers."),
    ("What does the export stage write?", "It writes GGUF files and an Ollama Modelfile."),
    ("Which quantization types exist?", "f16, q8_0, q5_k_m and q4_k_m."),
]


def toy_text() -> str:
    """A few KB of text in the scratch system's prompt format (see alslm_ml.scratch)."""
    parts = [SCRATCH_SYSTEM_PROMPT, FULL]
    for q, a in _QA * 4:
        parts.append(f"User: {q}\nAssistant: {a}<|eos|>")
    parts.append(
        "The export stage maps every tensor of the GPT-2 checkpoint onto llama.cpp names, writes an "
        "f16 file, and quantizes it. Numbers like 1024, 3.14 and 2026 survive tokenization. "
        "Unicode too: café, naïve, µg, → and emoji 🙂."
    )
    return "\n\n".join(parts)


def train_tokenizer(out_path: Path, text: str, vocab_size: int = 600) -> Path:
    """The project's tokenizer trainer (byte-level BPE + special tokens) on the toy text."""
    from alslm_ml.tokenizer.bpe import train_bpe

    tok = train_bpe([text], vocab_size=vocab_size, min_frequency=2)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_path))
    return out_path


def build_toy(out_dir: str | Path, n_embd: int = 256, n_layer: int = 2, n_head: int = 4,
              block_size: int = 256, steps: int = 80, seed: int = 0) -> tuple[Path, Path]:
    """Write <out_dir>/tokenizer.json and <out_dir>/model/; return (model_dir, tokenizer_path).
    steps=0 leaves the weights random."""
    from tokenizers import Tokenizer

    out = Path(out_dir)
    text = toy_text()
    tok_path = train_tokenizer(out / "tokenizer.json", text)
    tok = Tokenizer.from_file(str(tok_path))
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=tok.get_vocab_size(), block_size=block_size, n_layer=n_layer,
                    n_head=n_head, n_embd=n_embd, dropout=0.0)
    model = GPT(cfg)
    if steps:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small matrices: one thread beats two contended ones by ~4x
        # like the real token streams: documents separated by <|eos|>, no <|bos|>
        eos = tok.token_to_id("<|eos|>")
        ids = torch.tensor([eos] + tok.encode(text).ids, dtype=torch.long)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        T = min(64, block_size)
        model.train()
        for _ in range(steps):
            starts = torch.randint(0, len(ids) - T - 1, (8,))
            x = torch.stack([ids[s : s + T] for s in starts])
            y = torch.stack([ids[s + 1 : s + T + 1] for s in starts])
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.set_num_threads(threads)
    model.eval()
    model_dir = save_model(model, out / "model")
    return model_dir, tok_path


def build_toy_exports(out_dir: str | Path, quants=("q8_0", "q5_k_m", "q4_k_m")) -> dict[str, Path]:
    """The toy model plus its f16 GGUF and quantizations, built once per folder (reused after):
    {"model": model_dir, "tokenizer": tokenizer.json, "f16": ..., "q8_0": ..., ...}."""
    from alslm_ml.export import gguf_export

    out = Path(out_dir)
    done = out / "DONE"
    files = {"model": out / "model", "tokenizer": out / "tokenizer.json"}
    files.update({q: out / gguf_export.FILE_PATTERN.format(quant=q) for q in ("f16", *quants)})
    if done.exists():
        return files
    build_toy(out)
    gguf_export.write_gguf_f16(files["model"], files["tokenizer"], files["f16"])
    for q in quants:
        gguf_export.quantize(files["f16"], files[q], q)
    done.touch()
    return files
