"""Decoder-only GPT-2 (design doc section 4): the model, its named configs, and weight I/O."""

from alslm_ml.model.gpt import CONFIGS, GPT, GPTConfig, get_config
from alslm_ml.model.io import load_model, save_model

__all__ = ["CONFIGS", "GPT", "GPTConfig", "get_config", "load_model", "save_model"]
