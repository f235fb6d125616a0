"""Where the export stage reads and writes, following alslm_ml.paths conventions:

    data/checkpoints/<run>/best/model/   input checkpoint (newest `best` wins when several runs exist)
    data/tokenizer/tokenizer.json        input tokenizer
    data/export/hf/                      GPT2LMHeadModel + tokenizer
    data/export/gguf/als-lm-<quant>.gguf GGUF files (+ <name>.Modelfile for Ollama)
"""

from __future__ import annotations

from pathlib import Path

from alslm_ml import paths
from alslm_ml.export.gguf_export import FILE_PATTERN


def best_checkpoint(run: str | None = None) -> Path:
    """The `best/model` dir of `run`, or the most recently written one under data/checkpoints."""
    root = paths.data_dir() / "checkpoints"
    pattern = f"{run}/best/model" if run else "*/best/model"
    found = [p for p in root.glob(pattern) if (p / "config.json").exists()]
    if not found:
        raise FileNotFoundError(f"no trained checkpoint at {root}/{pattern} (config.json + model.safetensors); "
                                "materialize the `model_checkpoint` asset or run `alslm train` first")
    return max(found, key=lambda p: (p / "config.json").stat().st_mtime)


def tokenizer_file() -> Path:
    return paths.data_dir() / "tokenizer" / "tokenizer.json"


def hf_dir() -> Path:
    return paths.sub("export", "hf")


def gguf_dir() -> Path:
    return paths.sub("export", "gguf")


def gguf_file(quant: str, folder: str | Path | None = None) -> Path:
    """Where the GGUF of `quant` is (or would be); creates nothing."""
    return Path(folder or paths.data_dir() / "export" / "gguf") / FILE_PATTERN.format(quant=quant)
