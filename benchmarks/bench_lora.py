"""LoRA training speed on SmolLM2-135M-Instruct: seconds per optimizer step, tokens/s and peak
memory, on CPU (or CUDA when present). Uses the real chat-templated starter Q&A when the
instruction data set exists, else synthetic ALS-style pairs of similar length.

    .venv/bin/python benchmarks/bench_lora.py --steps 3 --micro-batch 2 --grad-accum 1
    .venv/bin/python benchmarks/bench_lora.py --no-checkpointing --threads 1
    python benchmarks/bench_lora.py --random-init --steps 10 --answer-tokens 128   # GPU check: no GGUF needed

--random-init builds SmolLM2-135M's shape (LlamaConfig below) with random weights and random
token sequences of --seq-len, for machines without the packaged GGUF (its 98 MB do not travel to
a lent GPU); the speed does not depend on the values. --answer-tokens also times one greedy
answer of that many new tokens with the LoRA model (transformers generate, KV cache), which is
how the base and fine-tuned systems answer.
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


def smollm2_shape():
    """SmolLM2-135M-Instruct's architecture (its config.json), randomly initialised."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192, rms_norm_eps=1e-5,
                      rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg)


def random_data(n: int, seq_len: int, vocab: int = 49152) -> list[dict]:
    """Sequences of seq_len random ids; the last third is the scored 'answer', as in chat data."""
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(3, vocab, (seq_len,), generator=g).tolist()
        cut = seq_len - seq_len // 3
        out.append({"input_ids": ids, "labels": [-100] * cut + ids[cut:]})
    return out


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
    p.add_argument("--random-init", action="store_true", help="SmolLM2-135M's shape with random weights (see above)")
    p.add_argument("--seq-len", type=int, default=256, help="sequence length with --random-init")
    p.add_argument("--answer-tokens", type=int, default=0, help="also time one greedy answer of this many tokens")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = device_and_dtype(args.device)
    s = LoraSettings(r=args.r, micro_batch=args.micro_batch, grad_accum=args.grad_accum,
                     max_length=args.max_length, gradient_checkpointing=not args.no_checkpointing)
    eff = s.micro_batch * s.grad_accum
    if args.random_init:
        model, pad_id = smollm2_shape().to(device=device, dtype=dtype), 2
        data = random_data(eff * (args.steps + 1), args.seq_len)
    else:
        model, tok = load_base(device)
        pad_id = tok.pad_token_id
        data = [encode(e, tok, s.max_length) for e in examples(eff * (args.steps + 1))]
    model = add_lora(model, s)
    model.train()
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=s.lr, fused=device.startswith("cuda"))
    times, tokens = [], 0
    for step in range(args.steps + 1):
        chunk = data[step * eff:(step + 1) * eff]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, eff, s.micro_batch):
            mb = chunk[i:i + s.micro_batch]
            loss, n = token_loss(model, collate(mb, pad_id))
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
    if args.answer_tokens:
        model.eval()
        model.config.use_cache = True
        prompt = torch.tensor([data[0]["input_ids"][:200]], device=device)
        for _pass in ("warm-up", "timed"):  # the second pass is the one reported
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.no_grad():
                out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                     max_new_tokens=args.answer_tokens, min_new_tokens=args.answer_tokens,
                                     pad_token_id=pad_id, use_cache=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        print(f"one greedy answer: {out.shape[1] - prompt.shape[1]} new tokens after a {prompt.shape[1]}-token prompt "
              f"in {dt:.2f} s ({(out.shape[1] - prompt.shape[1]) / dt:.0f} tokens/s)")


if __name__ == "__main__":
    main()
