"""Training configuration: one dataclass, named presets, JSON/YAML files, `key=value` overrides.

Presets:
  tiny  — the embedded default: the tiny GPT on the starter corpus, ≤ 5 min on 2 CPU cores.
  micro — a 2-layer toy used by the tests (seconds).
  500m / 1b — the design's GPU runs under DeepSpeed, bf16, 32,768 tokens per optimizer step; micro
          batch, accumulation, checkpointing, ZeRO stage and offload come from the fit plan for the
          GPU at hand (alslm_ml.train.budget.plan_fit), each overridable by its field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from alslm_ml.model import GPTConfig, get_config

HERE = Path(__file__).resolve().parent


@dataclass
class TrainConfig:
    model: str = "tiny"  # a name in alslm_ml.model.CONFIGS
    model_overrides: dict = field(default_factory=dict)  # e.g. {"block_size": 128, "dropout": 0.2}
    seed: int = 1337
    # batch: tokens per optimizer step = batch_size * grad_accum * block_size * world size
    batch_size: int = 16  # micro batch per process; 0 = the largest that fits (fit plan, budget.py)
    grad_accum: int = 1  # 0 = enough micro batches for tokens_per_step
    tokens_per_step: int = 0  # kept when the fit plan picks the micro batch; 0 = batch_size*grad_accum*block*world
    max_steps: int = 600
    max_seconds: float = 0.0  # stop (and checkpoint) after this wall time; 0 = no limit
    # AdamW + cosine schedule (design 5.3)
    lr: float = 6e-4
    min_lr_ratio: float = 0.1  # cosine decays to 10% of peak
    warmup_steps: int = 2000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # monitoring / early stopping (design 5.5)
    log_interval: int = 100
    eval_interval: int = 500
    eval_batches: int = 20
    patience: int = 5  # evaluations without val improvement before stopping; 0 = never stop early
    # checkpoints (design 5.6)
    checkpoint_interval: int = 1000
    keep_last: int = 3
    # hardware
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on CUDA when supported, else fp32) | bf16 | fp32
    gradient_checkpointing: bool | None = False  # None = on only if the fit plan needs it (off on CPU)
    compile: bool | None = None  # torch.compile the model: None = on CUDA (not under ZeRO-3), off on CPU
    threads: int = 0  # torch CPU threads; 0 = torch's default
    peak_flops: float = 0.0  # for MFU; 0 = look up the GPU / estimate the CPU (see metrics.py)
    deepspeed_config: str = ""  # path to a DeepSpeed JSON; used when launched by `deepspeed`
    # On CUDA the fit plan (budget.py) decides these from the model size and the free GPU memory;
    # a value set here pins that choice. On CPU, -1/None keep the DeepSpeed JSON's.
    zero_stage: int = -1  # -1 = the plan's (CUDA) / the JSON's (CPU)
    offload_optimizer: bool | None = None  # optimizer CPU offload; None = the plan's / the JSON's
    offload_param: bool | None = None  # ZeRO-3 parameter CPU offload; None = the plan's / the JSON's

    def model_config(self, vocab_size: int | None = None) -> GPTConfig:
        cfg = get_config(self.model, **self.model_overrides)
        if vocab_size is not None and vocab_size > cfg.vocab_size:
            raise ValueError(f"tokenizer vocab {vocab_size} exceeds model {self.model!r} vocab_size {cfg.vocab_size}; "
                             "raise model_overrides.vocab_size or train a smaller tokenizer")
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    # Tuned on the starter corpus (~120K tokens) on 2 shared CPU cores: see docs/training.md.
    # One thread: on a shared 2-core machine a second thread mostly waits (measured 3x slower
    # under load); the 270 s budget keeps the stage under 5 minutes whatever the load.
    "tiny": dict(model="tiny", model_overrides={"block_size": 128, "dropout": 0.2}, batch_size=8,
                 max_steps=600, max_seconds=270, lr=2e-3, warmup_steps=30, log_interval=10,
                 eval_interval=50, eval_batches=8, checkpoint_interval=100, patience=5, threads=1),
    "micro": dict(model="tiny", model_overrides={"vocab_size": 256, "block_size": 32, "n_layer": 2,
                                                "n_head": 2, "n_embd": 64, "dropout": 0.1},
                  batch_size=8, max_steps=60, lr=3e-3, warmup_steps=5, log_interval=1, eval_interval=10,
                  eval_batches=2, checkpoint_interval=10, patience=5, threads=1),
    "500m": dict(model="500m", batch_size=0, grad_accum=0, tokens_per_step=32768, max_steps=60000, lr=6e-4,
                 warmup_steps=2000, log_interval=100, eval_interval=500, checkpoint_interval=1000,
                 gradient_checkpointing=None, deepspeed_config=str(HERE / "ds_config_zero2.json")),
    "1b": dict(model="1b", batch_size=0, grad_accum=0, tokens_per_step=32768, max_steps=60000, lr=3e-4,
               warmup_steps=2000, log_interval=100, eval_interval=500, checkpoint_interval=1000,
               gradient_checkpointing=None, deepspeed_config=str(HERE / "ds_config_zero3.json")),
}


def _coerce(name: str, raw: str):
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    if name not in kinds:
        raise ValueError(f"unknown training option {name!r}; known: {sorted(kinds)}")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_config(spec: str, overrides: list[str] | None = None) -> TrainConfig:
    """`spec` is a preset name or a .json/.yaml file (which may name a `preset` to start from).
    `overrides` are `key=value` strings (values parsed as JSON when they parse)."""
    if spec in PRESETS:
        raw = dict(PRESETS[spec])
    else:
        path = Path(spec)
        if not path.exists():
            raise FileNotFoundError(f"training config {spec!r}: not a preset ({sorted(PRESETS)}) nor a file")
        data = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of training options")
        base = data.pop("preset", None)
        raw = {**(PRESETS[base] if base else {}), **data}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        k, v = item.split("=", 1)
        raw[k.strip()] = _coerce(k.strip(), v)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"training config {spec!r}: unknown options {sorted(unknown)}")
    return TrainConfig(**raw)
