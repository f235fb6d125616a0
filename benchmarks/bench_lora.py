"""LoRA training speed on SmolLM2-135M-Instruct: seconds per optimizer step, tokens/s and peak
memory, on CPU (or CUDA when present). Uses the real chat-templated starter Q&A when the
instruction data set exists, else synthetic ALS-style pairs of similar length.

    .venv/bin/python benchmarks/bench_lora.py --steps 3 --micro-batch 2 --grad-accum 1
    .venv/bin/python benchmarks/bench_lora.py --no-checkpointing --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from alslm_ml.finetune.data import Example, read_split
from alslm_ml.finetune.model import device_and_dtype, load_base
from alslm_ml.finetune.train import LoraSettings, add_lora, collate, encode, peak_memory_gb, token_loss
from alslm_ml.paths import sub


def examples(n: int) -> list[Example]:
    try:
        rows = read_split(sub("finetune", "dataset"), "train")
    except FileNotFoundError:
        rows = []
    if len(rows) >= n:
        return rows[:n]
    return [Example(f"What does item {i} of the ALS functional rating scale measure in daily life?",
                    "It measures one everyday function, such as speech, swallowing, walking or breathing, "
                    "on a five-point scale from normal to lost.") for i in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed optimizer steps (after one warm-up step)")
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=4)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--no-checkpointing", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = device_and_dtype(args.device)
    s = LoraSettings(r=args.r, micro_batch=args.micro_batch, grad_accum=args.grad_accum,
                     max_length=args.max_length, gradient_checkpointing=not args.no_checkpointing)
    model, tok = load_base(device)
    model = add_lora(model, s)
    model.train()
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=s.lr)
    eff = s.micro_batch * s.grad_accum
    data = [encode(e, tok, s.max_length) for e in examples(eff * (args.steps + 1))]
    times, tokens = [], 0
    for step in range(args.steps + 1):
        chunk = data[step * eff:(step + 1) * eff]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, eff, s.micro_batch):
            mb = chunk[i:i + s.micro_batch]
            loss, n = token_loss(model, collate(mb, tok.pad_token_id))
            (loss / max(1, n)).backward()
            if step:
                tokens += sum(len(b["input_ids"]) for b in mb)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:  # step 0 is warm-up
            times.append(time.perf_counter() - t0)
    total = sum(times)
    print(f"device {device} ({dtype}), threads {torch.get_num_threads()}, r {s.r}, micro batch {s.micro_batch} x "
          f"accum {s.grad_accum}, checkpointing {s.gradient_checkpointing}")
    print(f"seconds/step {total / len(times):.2f}  tokens/s {tokens / total:.1f}  "
          f"mean tokens/sequence {tokens / (len(times) * eff):.0f}  peak memory {peak_memory_gb(device):.2f} GB")


if __name__ == "__main__":
    main()
