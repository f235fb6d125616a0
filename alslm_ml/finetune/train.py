"""LoRA fine-tuning (seed 002, section 5) in a plain PyTorch loop: chat-templated examples,
loss on the answer tokens only, AdamW + cosine schedule with linear warmup, gradient
accumulation to the effective batch, gradient checkpointing.
"""

from __future__ import annotations

import math
import random
import resource
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from alslm_ml.finetune.data import QA_SYSTEM_PROMPT, Example


@dataclass
class LoraSettings:
    """Seed 002's recipe. `max_steps_per_epoch` caps an epoch's optimizer steps (0 = a full pass)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lr: float = 2e-4
    epochs: int = 2
    micro_batch: int = 4
    grad_accum: int = 4  # effective batch = micro_batch * grad_accum = 16
    max_length: int = 512
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_steps_per_epoch: int = 0
    gradient_checkpointing: bool = True
    seed: int = 42

    def to_dict(self) -> dict:
        return asdict(self)


# --- tokenization ----------------------------------------------------------------------------


def encode(ex: Example, tok, max_length: int, system_prompt: str = QA_SYSTEM_PROMPT) -> dict:
    """input_ids of the full chat, labels = the answer tokens (prompt masked with -100)."""
    msgs = ex.messages(system_prompt)
    prompt = tok.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(msgs, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("chat template: the full conversation does not extend the prompt")
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tok(full[len(prompt):], add_special_tokens=False)["input_ids"]
    ids = (p_ids + a_ids)[:max_length]
    labels = ([-100] * len(p_ids) + a_ids)[:max_length]
    return {"input_ids": ids, "labels": labels, "truncated": len(p_ids) + len(a_ids) > max_length}


def has_answer(enc: dict) -> bool:
    """Whether truncation left at least one scored answer token (prompts longer than max_length
    leave none and are skipped)."""
    return any(t != -100 for t in enc["labels"][1:])


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sequence; padding is masked in attention and labels."""
    n = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        k = len(b["input_ids"])
        ids[i, :k] = torch.tensor(b["input_ids"])
        labels[i, :k] = torch.tensor(b["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def token_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Sum of next-token cross-entropy over the answer tokens, and their count.

    The LM head (576 x 49152, a third of the model's FLOPs per token) runs only at positions whose
    next token is scored, not over the long chat prompt."""
    dev = next(model.parameters()).device
    batch = {k: v.to(dev) for k, v in batch.items()}
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    logits = base.lm_head(hidden[:, :-1][keep]).float()
    loss = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    return loss, int(keep.sum())


# --- LoRA ------------------------------------------------------------------------------------


def add_lora(model, s: LoraSettings):
    """Wrap the model with trainable LoRA adapters; everything else is frozen."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(s.seed)  # LoRA A matrices are drawn from torch's global generator
    cfg = LoraConfig(r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout,
                     target_modules=list(s.target_modules), task_type="CAUSAL_LM", bias="none")
    if s.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
        model.config.use_cache = False
    return get_peft_model(model, cfg)


def cosine_lr(step: int, total: int, warmup: int, lr: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def peak_memory_gb(device: str) -> float:
    """Peak GPU memory allocated, or on CPU the process's peak resident set (Linux KiB)."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def train_lora(model, tok, examples: list[Example], s: LoraSettings, progress: bool = True,
               log=None) -> dict:
    """Train the (already LoRA-wrapped) model in place. Returns loss history and timing."""
    torch.manual_seed(s.seed)
    rng = random.Random(s.seed)
    encoded = [e for e in (encode(ex, tok, s.max_length) for ex in examples) if has_answer(e)]
    if not encoded:
        raise ValueError(f"train_lora: no example keeps an answer token within max_length={s.max_length}")
    eff = s.micro_batch * s.grad_accum
    steps_per_epoch = max(1, len(encoded) // eff)
    if s.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, s.max_steps_per_epoch)
    total = steps_per_epoch * s.epochs
    warmup = max(1, round(total * s.warmup_ratio))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    model.train()
    history, n_tokens, t0 = [], 0, time.perf_counter()
    bar = tqdm(total=total, desc=f"LoRA r={s.r} lr={s.lr:g}", disable=not progress, unit="step")
    step = 0
    for epoch in range(s.epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for k in range(steps_per_epoch):
            chunk = [encoded[i] for i in order[k * eff:(k + 1) * eff]] or [encoded[order[0]]]
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total, warmup, s.lr)
            micro = [chunk[i:i + s.micro_batch] for i in range(0, len(chunk), s.micro_batch)]
            n_target = sum(sum(t != -100 for t in b["labels"][1:]) for b in chunk)
            loss_sum = 0.0
            for mb in micro:
                loss, _ = token_loss(model, collate(mb, tok.pad_token_id))
                (loss / max(1, n_target)).backward()  # mean over the whole effective batch
                loss_sum += loss.item()
                n_tokens += sum(len(b["input_ids"]) for b in mb)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step_loss = loss_sum / max(1, n_target)
            history.append({"step": step + 1, "epoch": epoch + 1, "loss": round(step_loss, 5),
                            "lr": opt.param_groups[0]["lr"]})
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}")
            if log:
                log(f"step {step}/{total} epoch {epoch + 1} loss {step_loss:.4f}")
    bar.close()
    model.eval()
    secs = time.perf_counter() - t0
    tail = history[-max(1, steps_per_epoch):]  # the last epoch's steps
    return {"steps": total, "train_loss": sum(h["loss"] for h in tail) / len(tail),
            "history": history, "train_tokens": n_tokens, "train_seconds": secs,
            "tokens_per_second": n_tokens / secs if secs else 0.0}


@torch.no_grad()
def eval_loss(model, tok, examples: list[Example], max_length: int, batch_size: int = 8) -> float:
    """Mean cross-entropy per answer token (exp of it is the perplexity)."""
    model.eval()
    encoded = [e for e in (encode(ex, tok, max_length) for ex in examples) if has_answer(e)]
    total, count = 0.0, 0
    for i in range(0, len(encoded), batch_size):
        loss, n = token_loss(model, collate(encoded[i:i + batch_size], tok.pad_token_id))
        total, count = total + loss.item(), count + n
    if count == 0:
        raise ValueError(f"eval_loss: no example keeps an answer token within max_length={max_length}")
    return total / count
