"""Where the export stage reads and writes (names from alslm_ml.paths):

    data/checkpoints/<run>/best/model/   input checkpoint (newest `best` wins when several runs exist)
    data/tokenizer/tokenizer.json        input tokenizer
    data/export/hf/                      GPT2LMHeadModel + tokenizer
    data/export/gguf/als-lm-<quant>.gguf GGUF files (+ <name>.Modelfile for Ollama)

`checkpoint()` is the one way every exporter finds its input checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from alslm_ml import paths
from alslm_ml.export.gguf_export import FILE_PATTERN


def best_checkpoint(run: str | None = None) -> Path:
    """The `best/model` dir of `run`, or the most recently written one under data/checkpoints."""
    root = paths.checkpoints_root()
    pattern = f"{run}/best/model" if run else "*/best/model"
    found = [p for p in root.glob(pattern) if (p / "config.json").exists()]
    if not found:
        raise FileNotFoundError(f"no trained checkpoint at {root}/{pattern} (config.json + model.safetensors); "
                                "materialize the `model_checkpoint` asset or run `alslm train` first")
    return max(found, key=lambda p: (p / "config.json").stat().st_mtime)


def checkpoint(path: str | Path | None = None, field: str = "checkpoint_dir") -> Path:
    """The checkpoint to export: `path` when given (it must hold config.json; `field` names the
    setting in the error), else the newest data/checkpoints/*/best/model."""
    if not path:
        return best_checkpoint()
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{field}: {path} holds no config.json; expected a saved model folder "
                                "such as data/checkpoints/<run>/best/model")
    return path


def tokenizer_file() -> Path:
    return paths.tokenizer_file()


def hf_dir() -> Path:
    return paths.hf_export_dir()


def gguf_dir() -> Path:
    return paths.gguf_dir()


def gguf_file(quant: str, folder: str | Path | None = None) -> Path:
    """Where the GGUF of `quant` is (or would be) in `folder` (default data/export/gguf/)."""
    return Path(folder or paths.gguf_dir()) / FILE_PATTERN.format(quant=quant)
