"""Check an exported GGUF in llama.cpp against the PyTorch model it came from.

For each file: llama.cpp's tokenization equals the HF tokenizer's on test strings; logits for every
position of fixed prompts are within the type's tolerance of the PyTorch logits; f16 and Q8_0
greedy continuations equal PyTorch's greedy continuation token for token. Also measured: file
size, load time, and decode speed (tokens/s).

Tolerances are on max |logit difference| divided by the logit scale (max |logit| of the PyTorch
model on the same prompts, at least 1), because a trained model's logits are ~10x a random one's:

    f16     0.002  weights rounded to 11-bit mantissas (measured ~0.0004 on the toy model)
    q8_0    0.03   8-bit blocks of 32 with one scale each (measured ~0.01)
    q5_k_m  0.10   5/6-bit k-quants in super-blocks of 256 (measured ~0.03)
    q4_k_m  0.20   4/6-bit k-quants (measured ~0.08); greedy output may drift, so not required
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from alslm_ml import markdown
from alslm_ml.model import GPT
from alslm_ml.threads import llama_threads

TOLERANCE = {"f16": 0.002, "q8_0": 0.03, "q5_k_m": 0.10, "q4_k_m": 0.20}
GREEDY_MUST_MATCH = ("f16", "q8_0")
TEST_STRINGS = [
    "What is ALS-LM?",
    "User: Which quantization types exist?\nAssistant:",
    "  leading spaces, tabs\tand\nnew lines  ",
    "Numbers 1024 and 3.14; punctuation!? (brackets) [x] {y}",
    "Unicode: café naïve µg → 🙂",
    "special tokens inline <|eos|> and <|bos|>",
    "",
]
PROMPTS = [
    "User: What is ALS-LM?\nAssistant:",
    "The export stage maps every tensor",
    "User: Which quantization types exist?\nAssistant:",
]


@dataclass
class GGUFCheck:
    quant: str
    path: str
    size_mb: float
    load_seconds: float
    tokens_per_second: float
    max_logit_diff: float
    logit_scale: float
    tolerance: float
    tokenization_ok: bool
    greedy_match: bool
    greedy_required: bool
    tokenization_mismatches: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        within = self.max_logit_diff <= self.tolerance * self.logit_scale
        return self.tokenization_ok and within and (self.greedy_match or not self.greedy_required)

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def open_llama(path: str | Path, n_ctx: int, logits_all: bool = True, n_threads: int | None = None):
    from llama_cpp import Llama


    return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=min(512, n_ctx), logits_all=logits_all,
                 n_threads=n_threads or llama_threads(path), verbose=False)


def llama_greedy(llm, prompt_ids: list[int], n: int) -> tuple[list[int], float]:
    """Argmax decoding on llama.cpp's raw logits (no sampler, no penalty); returns (ids, tokens/s)."""
    llm.reset()
    llm.eval(prompt_ids)
    out = []
    t0 = time.perf_counter()
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        if llm.n_tokens >= llm.n_ctx():
            break
        llm.eval([nxt])
    return out, len(out) / max(time.perf_counter() - t0, 1e-9)


@torch.no_grad()
def torch_greedy(model: GPT, prompt_ids: list[int], n: int) -> list[int]:
    x = torch.tensor([prompt_ids], dtype=torch.long)
    return list(model.generate(x, max_new_tokens=n, temperature=0.0))


def check_gguf(path: str | Path, quant: str, model: GPT, hf_tokenizer, start_id: int,
               n_greedy: int = 24) -> GGUFCheck:
    """Load one GGUF in llama.cpp and compare it with the PyTorch model (see module docstring).
    Prompts start with `start_id` (<|eos|>, the document boundary the model was trained on)."""
    path = Path(path)
    n_ctx = model.config.block_size
    t0 = time.perf_counter()
    llm = open_llama(path, n_ctx)
    load_s = time.perf_counter() - t0
    try:
        mismatches = []
        for s in TEST_STRINGS:
            want = hf_tokenizer.encode(s, add_special_tokens=False)
            got = llm.tokenize(s.encode("utf-8"), add_bos=False, special=True)
            if list(got) != list(want):
                mismatches.append({"text": s, "hf": want, "llama.cpp": list(got)})
        worst, scale, greedy_ok, speeds = 0.0, 1.0, True, []
        for p in PROMPTS:
            ids = [start_id] + hf_tokenizer.encode(p, add_special_tokens=False)
            with torch.no_grad():
                ref, _ = model(torch.tensor([ids]))
            ref = ref[0].float().numpy()
            llm.reset()
            llm.eval(ids)
            got = np.asarray(llm.scores[: len(ids)])
            worst = max(worst, float(np.abs(got - ref).max()))
            scale = max(scale, float(np.abs(ref).max()))
            n = min(n_greedy, n_ctx - len(ids))
            g_llama, tps = llama_greedy(llm, ids, n)
            speeds.append(tps)
            greedy_ok &= g_llama == torch_greedy(model, ids, n)
    finally:
        llm.close()
    return GGUFCheck(
        quant=quant, path=str(path), size_mb=path.stat().st_size / 2**20, load_seconds=load_s,
        tokens_per_second=float(np.median(speeds)), max_logit_diff=worst, logit_scale=scale,
        tolerance=TOLERANCE[quant], tokenization_ok=not mismatches, greedy_match=greedy_ok,
        greedy_required=quant in GREEDY_MUST_MATCH, tokenization_mismatches=mismatches,
    )


def markdown_table(checks: list[GGUFCheck], fallback: dict[str, list] | None = None) -> str:
    header = ["type", "size (MB)", "load (s)", "tokens/s", "max logit diff", "tolerance x scale", "greedy = torch",
              "fallback tensors"]
    rows = [[c.quant, f"{c.size_mb:.2f}", f"{c.load_seconds:.3f}", f"{c.tokens_per_second:.0f}", f"{c.max_logit_diff:.4g}",
             f"{c.tolerance * c.logit_scale:.4g}",
             f"{'yes' if c.greedy_match else 'no'}{'' if c.greedy_required else ' (not required)'}",
             len((fallback or {}).get(c.quant, []))] for c in checks]
    return markdown.table(header, rows)
