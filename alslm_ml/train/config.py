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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from alslm_ml import paths
from alslm_ml.config_values import parse_assignment
from alslm_ml.errors import UserError
from alslm_ml.model import CONFIGS, GPTConfig, get_config

HERE = paths.TRAIN_CONFIGS
DEFAULT_DEEPSPEED_CONFIG = HERE / "ds_config_zero2.json"  # ZeRO-2; the 1b preset names ds_config_zero3.json


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
                 gradient_checkpointing=None, deepspeed_config=str(DEFAULT_DEEPSPEED_CONFIG)),
    "1b": dict(model="1b", batch_size=0, grad_accum=0, tokens_per_step=32768, max_steps=60000, lr=3e-4,
               warmup_steps=2000, log_interval=100, eval_interval=500, checkpoint_interval=1000,
               gradient_checkpointing=None, deepspeed_config=str(HERE / "ds_config_zero3.json")),
}


# Accepted values per field: (kind, check, description). Every field is checked before a run
# directory is touched, so a typo never costs a finished run.
_INT, _NUM, _BOOL, _STR = "int", "num", "bool", "str"
RULES: dict[str, tuple[str, object, str]] = {
    "model": (_STR, lambda v: v in CONFIGS, "one of " + ", ".join(CONFIGS)),
    "model_overrides": ("dict", None, "a mapping of GPTConfig fields"),
    "seed": (_INT, lambda v: v >= 0, "an integer >= 0"),
    "batch_size": (_INT, lambda v: v >= 0, "an integer >= 1, or 0 (the fit plan's)"),
    "grad_accum": (_INT, lambda v: v >= 0, "an integer >= 1, or 0 (enough for tokens_per_step)"),
    "tokens_per_step": (_INT, lambda v: v >= 0, "an integer >= 0 (0 = batch_size x grad_accum x block size)"),
    "max_steps": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "max_seconds": (_NUM, lambda v: v >= 0, "a number >= 0 (0 = no limit)"),
    "lr": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "min_lr_ratio": (_NUM, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "warmup_steps": (_INT, lambda v: v >= 0, "an integer >= 0"),
    "weight_decay": (_NUM, lambda v: v >= 0, "a number >= 0"),
    "beta1": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "beta2": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "grad_clip": (_NUM, lambda v: v >= 0, "a number >= 0 (0 = off)"),
    "log_interval": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "eval_interval": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "eval_batches": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "patience": (_INT, lambda v: v >= 0, "an integer >= 0 (0 = never stop early)"),
    "checkpoint_interval": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "keep_last": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "device": (_STR, lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
    "dtype": (_STR, lambda v: v in ("auto", "bf16", "fp32"), "auto, bf16 or fp32"),
    "gradient_checkpointing": ("bool?", None, "true, false or null (the fit plan's)"),
    "compile": ("bool?", None, "true, false or null (on for CUDA, off on CPU)"),
    "threads": (_INT, lambda v: v >= 0, "an integer >= 0 (0 = torch's default)"),
    "peak_flops": (_NUM, lambda v: v >= 0, "a number >= 0 (0 = look it up)"),
    "deepspeed_config": (_STR, lambda v: not v or Path(v).is_file(), "an existing DeepSpeed JSON file, or empty"),
    "zero_stage": (_INT, lambda v: v in (-1, 0, 1, 2, 3), "-1 (the fit plan's on CUDA, the JSON's on CPU), 0, 1, 2 or 3"),
    "offload_optimizer": ("bool?", None, "true, false or null (the fit plan's / the JSON's)"),
    "offload_param": ("bool?", None, "true, false or null (the fit plan's / the JSON's)"),
}
MODEL_RULES: dict[str, tuple[str, object, str]] = {
    "vocab_size": (_INT, lambda v: 1 <= v <= 65536, "an integer in [1, 65536] (token ids are stored as uint16)"),
    "block_size": (_INT, lambda v: v >= 2, "an integer >= 2"),
    "n_layer": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "n_head": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "n_embd": (_INT, lambda v: v >= 1, "an integer >= 1"),
    "dropout": (_NUM, lambda v: 0 <= v < 1, "a number in [0, 1)"),
}


def _kind_ok(kind: str, v) -> bool:
    if kind == "bool?":
        return v is None or isinstance(v, bool)
    if kind == _BOOL:
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    return {_INT: isinstance(v, int), _NUM: isinstance(v, (int, float)) and v == v, _STR: isinstance(v, str),
            "dict": isinstance(v, dict)}[kind]


def _check_value(where: str, name: str, v, rule: tuple[str, object, str]) -> None:
    kind, ok, accepted = rule
    if not _kind_ok(kind, v) or (ok is not None and not ok(v)):
        raise UserError(f"{where}: field {name!r} is {v!r}; expected {accepted}")


def validate(raw: dict, origin: dict[str, str]) -> None:
    """Check every field of a raw config; `origin[field]` says where it came from (file, --set)."""
    unknown = sorted(set(raw) - set(RULES))
    if unknown:
        where = origin.get(unknown[0], "training config")
        raise UserError(f"{where}: unknown training option(s) {unknown}; known: {', '.join(RULES)}")
    for name, v in raw.items():
        _check_value(origin.get(name, "training config"), name, v, RULES[name])
    where = origin.get("model_overrides", "training config")
    for name, v in raw.get("model_overrides", {}).items():
        if name not in MODEL_RULES:
            raise UserError(f"{where}: model_overrides.{name} is not a model field; known: {', '.join(MODEL_RULES)}")
        _check_value(where, f"model_overrides.{name}", v, MODEL_RULES[name])
    try:
        get_config(raw.get("model", "tiny"), **raw.get("model_overrides", {}))
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from None


def _read_file(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of training options, got {type(data).__name__}")
    return data


def load_train_config(spec: str, overrides: list[str] | None = None) -> TrainConfig:
    """`spec` is a preset name or a .json/.yaml file (which may name a `preset` to start from).
    `overrides` are `key=value` strings (values parsed as JSON when they parse). Every field is
    validated (type, range, known name) and a bad one raises UserError naming file and field."""
    origin: dict[str, str] = {}
    if spec in PRESETS:
        raw = dict(PRESETS[spec])
        origin = {k: f"preset {spec!r}" for k in raw}
    else:
        path = Path(spec)
        if not path.exists():
            raise UserError(f"training config {spec!r}: not a preset ({', '.join(PRESETS)}) nor an existing file")
        if path.is_dir():
            raise UserError(f"training config {spec!r} is a directory; give a .json/.yaml file or a preset")
        data = _read_file(path)
        base = data.pop("preset", None)
        if base is not None and base not in PRESETS:
            raise UserError(f"{path}: field 'preset' is {base!r}; expected one of {', '.join(PRESETS)}")
        raw = {**(PRESETS[base] if base else {}), **data}
        origin = {**{k: f"preset {base!r}" for k in (PRESETS[base] if base else {})}, **{k: str(path) for k in data}}
    for item in overrides or []:
        k, v = parse_assignment(item, "--set", "--set max_steps=200")
        if k not in RULES:
            raise UserError(f"--set {item}: unknown training option {k!r}; known: {', '.join(RULES)}")
        raw[k] = v
        origin[k] = f"--set {item}"
    validate(raw, origin)
    return TrainConfig(**raw)
