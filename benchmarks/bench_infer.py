"""CPU inference speed of every GGUF type in llama.cpp: load time, time to first token, tokens/s.

    .venv/bin/python benchmarks/bench_infer.py [--skip-500m] [--threads 2] [--tokens 48]

Models:
  trained   data/export/gguf/als-lm-*.gguf when the export stage has run (the trained tiny model)
  toy       the toy model of alslm_ml.export.toy (2 x 256), always
  tiny-rand the `tiny` shape (4 x 256, vocab 8192, context 256) with random weights, always
  500m      the `500m` shape (24 x 1280, vocab 16384) with random weights; its GGUFs (~2.5 GB in all)
            are written to a temporary folder and deleted afterwards

Time to first token = prompt evaluation (a ~15-token chat prompt) + the first sampled token, i.e.
what a chat user waits for. tokens/s = greedy decode rate after the first token, end-of-text
ignored so every run decodes the same number of tokens. Goals (docs/export.md): first token
< 0.5 s for tiny, < 2 s for 500m Q4_K_M, on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from alslm_ml.export import gguf_export, locate
from alslm_ml.export.toy import build_toy_exports
from alslm_ml.markdown import table
from alslm_ml.scratch import format_prompt

QUESTION = "What does the export stage write, and which quantization types exist?"


def measure(path: Path, threads: int, n_tokens: int, repeats: int = 3) -> dict:
    from llama_cpp import Llama

    t0 = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=0, n_threads=threads, n_threads_batch=threads, verbose=False)
    llm.eval([llm.token_eos()])  # warm-up decode counts as loading, as in the scratch system
    load = time.perf_counter() - t0
    ids = [llm.token_eos()] + llm.tokenize((format_prompt(QUESTION)).encode(), add_bos=False, special=False)
    n = min(n_tokens, llm.n_ctx() - len(ids))
    ttft, rate, ttft_cpu, tok_cpu = [], [], [], []
    for _ in range(repeats):  # medians: the machine is shared, single runs are noisy
        llm.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        first, c1 = t0, c0
        for i, _ in enumerate(llm.generate(ids, temp=0.0, repeat_penalty=1.0, reset=True)):
            if i == 0:
                first, c1 = time.perf_counter(), time.process_time()
            if i + 1 >= n:
                break
        end, c2 = time.perf_counter(), time.process_time()
        ttft.append(first - t0)
        rate.append((n - 1) / max(end - first, 1e-9))
        ttft_cpu.append(c1 - c0)
        tok_cpu.append((c2 - c1) / max(n - 1, 1))
    llm.close()
    # CPU seconds are what the work costs regardless of how many other jobs share the cores: with
    # one thread, CPU time ~ the wall time on an idle core (spin-waiting inflates it with more).
    return {"size_mb": path.stat().st_size / 2**20, "load_s": load, "ttft_s": statistics.median(ttft),
            "tok_s": statistics.median(rate), "ttft_cpu_s": statistics.median(ttft_cpu),
            "cpu_tok_s": 1 / max(statistics.median(tok_cpu), 1e-9), "threads": threads,
            "prompt_tokens": len(ids), "tokens": n}


def bench_folder(label: str, files: dict[str, Path], threads: int, n_tokens: int,
                 only: set[str] | None = None) -> list[dict]:
    rows = []
    for quant in gguf_export.QUANT_TYPES:
        if quant in files and files[quant].exists() and (only is None or quant in only):
            r = {"model": label, "type": quant, **measure(files[quant], threads, n_tokens),
                 "fallback": len(gguf_export.fallbacks(files[quant], quant))}
            print(f"  {label:>8} {quant:>7}: {r['size_mb']:8.1f} MB  load {r['load_s']:.3f} s  "
                  f"first token {r['ttft_s']:.3f} s ({r['ttft_cpu_s']:.3f} CPU s)  {r['tok_s']:.1f} tok/s "
                  f"({r['cpu_tok_s']:.1f} per CPU s)", flush=True)
            rows.append(r)
    return rows


def export_trained(folder: Path) -> dict[str, Path]:
    """GGUFs of the best trained checkpoint, when one exists but was not exported yet."""
    try:
        ckpt = locate.best_checkpoint()
    except FileNotFoundError:
        return {}
    if not locate.tokenizer_file().exists():
        return {}
    files = {"f16": gguf_export.write_gguf_f16(ckpt, locate.tokenizer_file(), folder / "als-lm-f16.gguf")}
    for q in ("q8_0", "q5_k_m", "q4_k_m"):
        files[q] = gguf_export.quantize(files["f16"], folder / f"als-lm-{q}.gguf", q)
    print(f"  exported {ckpt} for the benchmark", flush=True)
    return files


def build_random(config: str, folder: Path, tokenizer: Path) -> dict[str, Path]:
    """GGUFs of a named config (`tiny`, `500m`) with random weights."""
    from alslm_ml.model import GPT, get_config

    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device("meta"):
        model = GPT(get_config(config, dropout=0.0))
    model = model.to_empty(device="cpu")
    with torch.no_grad():  # random weights of GPT-2 scale (the values do not change the speed)
        for name, p in model.named_parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.02)
            elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.fill_(1.0)
            else:
                p.zero_()
    model.lm_head.weight = model.transformer.wte.weight
    files = {"f16": gguf_export.write_gguf_f16_from(model, tokenizer, folder / "als-lm-f16.gguf", name=f"random-{config}")}
    del model
    for q in ("q8_0", "q5_k_m", "q4_k_m"):
        files[q] = gguf_export.quantize(files["f16"], folder / f"als-lm-{q}.gguf", q)
    print(f"  built random {config} GGUFs in {time.perf_counter() - t0:.0f} s", flush=True)
    return files


def markdown(rows: list[dict]) -> str:
    header = ["model", "type", "size (MB)", "threads", "load (s)", "first token (s)", "first token (CPU s)", "tokens/s",
              "tokens per CPU s", "fallback tensors"]
    return table(header, [[r["model"], r["type"], f"{r['size_mb']:.1f}", r["threads"], f"{r['load_s']:.3f}", f"{r['ttft_s']:.3f}",
                           f"{r['ttft_cpu_s']:.3f}", f"{r['tok_s']:.1f}", f"{r['cpu_tok_s']:.1f}", r["fallback"]] for r in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=48)
    p.add_argument("--skip-500m", action="store_true")
    p.add_argument("--tmp", default=tempfile.gettempdir(), help="where the 500m GGUFs go (deleted afterwards)")
    p.add_argument("--gguf-500m", default=None, help="reuse 500m GGUFs in this folder (kept) instead of building them")
    p.add_argument("--only", default=None, help="comma-separated types to measure, e.g. q4_k_m")
    args = p.parse_args(argv)
    rows: list[dict] = []
    only = set(args.only.split(",")) if args.only else set(gguf_export.QUANT_TYPES)
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="alslm-bench-") as tmp:
        trained = {q: locate.gguf_file(q) for q in gguf_export.QUANT_TYPES}
        if not any(f.exists() for f in trained.values()):
            trained = export_trained(Path(tmp) / "trained")
        if trained:
            rows += bench_folder("trained", trained, args.threads, args.tokens, only)
        else:
            print("  no trained checkpoint under data/checkpoints: skipping the trained model", flush=True)
        toy = build_toy_exports(Path(tmp) / "toy")
        rows += bench_folder("toy", toy, args.threads, args.tokens, only)
        tok = locate.tokenizer_file() if locate.tokenizer_file().exists() else toy["tokenizer"]
        rows += bench_folder("tiny-rand", build_random("tiny", Path(tmp) / "tiny", tok), args.threads, args.tokens, only)
        if not args.skip_500m:
            if args.gguf_500m:
                files = {q: Path(args.gguf_500m) / f"als-lm-{q}.gguf" for q in gguf_export.QUANT_TYPES}
                rows += bench_folder("500m", files, args.threads, args.tokens, only)
            else:
                folder = Path(tmp) / "500m"
                folder.mkdir()
                try:
                    rows += bench_folder("500m", build_random("500m", folder, tok), args.threads, args.tokens, only)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
    print()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
