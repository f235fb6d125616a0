"""Model weights on disk: `config.json` + `model.safetensors` in one directory.

safetensors holds tensors only, so loading never unpickles arbitrary objects. The tied output head
is stored once (as transformer.wte.weight) and re-tied on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from alslm_ml.model.gpt import GPT, GPTConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def state_dict_for_save(model: GPT) -> dict[str, torch.Tensor]:
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    sd.pop("lm_head.weight", None)  # tied to transformer.wte.weight
    return sd


def save_model(model: GPT, out_dir: str | Path, extra_config: dict | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state_dict_for_save(model), out / WEIGHTS, metadata={"format": "pt", "arch": "alslm-gpt2"})
    (out / CONFIG).write_text(json.dumps({**model.config.to_dict(), **(extra_config or {})}, indent=2))
    return out


def read_config(model_dir: str | Path) -> GPTConfig:
    path = Path(model_dir) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"no {CONFIG} in {model_dir}: not an ALS-LM model directory")
    raw = json.loads(path.read_text())
    known = {k: raw[k] for k in GPTConfig.__dataclass_fields__ if k in raw}
    return GPTConfig(**known)


def load_model(model_dir: str | Path, device: str | torch.device = "cpu") -> GPT:
    """Load a model saved by save_model (or the `model/` part of a training checkpoint)."""
    model_dir = Path(model_dir)
    cfg = read_config(model_dir)
    weights = model_dir / WEIGHTS
    if not weights.exists():
        raise FileNotFoundError(f"no {WEIGHTS} in {model_dir}")
    model = GPT(cfg)
    sd = load_file(str(weights), device="cpu")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ValueError(f"{weights}: missing tensors {missing}, unexpected tensors {unexpected}")
    return model.to(device).eval()
