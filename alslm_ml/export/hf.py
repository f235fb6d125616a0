"""The native checkpoint as a transformers GPT2LMHeadModel + PreTrainedTokenizerFast.

The native model is GPT-2's layout exactly, so the mapping is one-to-one; the only change is that
GPT-2's Conv1D stores its weight as (in, out) where nn.Linear stores (out, in), so the four matrix
weights of each block are transposed. The head is tied to wte, as in GPT-2.
"""

from __future__ import annotations

from pathlib import Path

import torch

from alslm_ml.disclaimer import FULL
from alslm_ml.model import GPT, load_model

SPECIAL = {"bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>", "unk_token": "<|unk|>"}
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_config(model: GPT, tokenizer=None):
    from transformers import GPT2Config

    c = model.config
    ids = {}
    if tokenizer is not None:
        ids = {f"{k[:-6]}_token_id": tokenizer.convert_tokens_to_ids(v) for k, v in SPECIAL.items()
               if k != "unk_token"}
    return GPT2Config(
        vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer,
        n_head=c.n_head, n_inner=4 * c.n_embd, activation_function="gelu_new",
        layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        tie_word_embeddings=True, **ids,
    )


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Native state dict -> GPT2LMHeadModel names (Conv1D weights transposed)."""
    out = {}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to transformer.wte.weight
        out[name] = t.t().contiguous() if name.endswith(_CONV1D) else t
    return out


def load_tokenizer(tokenizer_path: str | Path, model_max_length: int):
    from transformers import PreTrainedTokenizerFast

    path = Path(tokenizer_path)
    if not path.exists():
        raise FileNotFoundError(f"tokenizer file {path} does not exist (run the tokenizer asset)")
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), model_max_length=model_max_length, **SPECIAL)
    missing = [v for v in SPECIAL.values() if tok.convert_tokens_to_ids(v) in (None, tok.unk_token_id) and v != SPECIAL["unk_token"]]
    if missing:
        raise ValueError(f"{path}: special tokens {missing} are not in the vocabulary")
    return tok


def to_hf_model(model: GPT, tokenizer=None):
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel(hf_config(model, tokenizer))
    missing, unexpected = hf.load_state_dict(hf_state_dict(model), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" and not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise ValueError(f"GPT2 mapping mismatch: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    return hf.eval()


def export_hf(model_dir: str | Path, tokenizer_path: str | Path, out_dir: str | Path) -> Path:
    """Write GPT2LMHeadModel (safetensors) + tokenizer to out_dir; loadable offline with
    AutoModelForCausalLM/AutoTokenizer.from_pretrained(out_dir)."""
    model = load_model(model_dir)
    tok = load_tokenizer(tokenizer_path, model.config.block_size)
    if len(tok) > model.config.vocab_size:
        raise ValueError(f"{tokenizer_path}: {len(tok)} tokens but the model in {model_dir} has "
                         f"vocab_size {model.config.vocab_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    to_hf_model(model, tok).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    (out / "README.md").write_text(
        f"# ALS-LM (GPT-2 layout)\n\n{FULL}\n\nExported from `{model_dir}`. Load offline with\n"
        "`GPT2LMHeadModel.from_pretrained(dir)` and `PreTrainedTokenizerFast.from_pretrained(dir)`.\n"
    )
    return out


@torch.no_grad()
def max_logit_diff(model: GPT, hf_model, token_lists: list[list[int]]) -> float:
    """Largest |native - transformers| logit over every position of every prompt."""
    worst = 0.0
    for ids in token_lists:
        x = torch.tensor([ids], dtype=torch.long)
        a, _ = model(x)
        b = hf_model(x).logits
        worst = max(worst, (a - b).abs().max().item())
    return worst
