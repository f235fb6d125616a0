"""The export stage's steps as the export assets run them: a checkpoint + tokenizer become a
transformers folder (with its logit parity recorded) and GGUF files (each verified in llama.cpp
against the PyTorch model). Each step writes its files and its check record (parity.json,
verify.json) and returns plain metadata; the assets log it and turn the records into checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from alslm_ml.export import gguf_export, hf, locate, verify

PARITY_FILE = "parity.json"  # in data/export/hf/
VERIFY_FILE = "verify.json"  # in data/export/gguf/
PARITY_TOLERANCE = 1e-4
Log = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def input_tokenizer() -> Path:
    """data/tokenizer/tokenizer.json, or an error saying which asset makes it."""
    path = locate.tokenizer_file()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize the `tokenizer` asset first")
    return path


def export_hf_checked(ckpt: Path, tok_path: Path, out: Path) -> dict:
    """Export to `out`, reload it with plain transformers and compare its logits with the native
    model's on verify.PROMPTS; writes out/parity.json. Returns the parity and the model's shape."""
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    from alslm_ml.model import load_model

    hf.export_hf(ckpt, tok_path, out)
    reloaded = GPT2LMHeadModel.from_pretrained(out).eval()
    tok = PreTrainedTokenizerFast.from_pretrained(out)
    diff = hf.max_logit_diff(load_model(ckpt), reloaded, [[tok.eos_token_id] + tok.encode(p) for p in verify.PROMPTS])
    parity = {"max_abs_logit_diff": diff, "tolerance": PARITY_TOLERANCE, "ok": diff <= PARITY_TOLERANCE,
              "prompts": verify.PROMPTS}
    (out / PARITY_FILE).write_text(json.dumps(parity, indent=2))
    return {"max_abs_logit_diff": diff, "parameters": sum(p.numel() for p in reloaded.parameters()),
            "vocab_size": reloaded.config.vocab_size, "n_positions": reloaded.config.n_positions}


def check_quants(quants: list[str]) -> None:
    bad = [q for q in quants if q not in gguf_export.QUANT_TYPES or q == "f16"]
    if bad:
        raise ValueError(f"GGUFConfig.quants: unknown types {bad}; choose from q8_0, q5_k_m, q4_k_m")


def write_ggufs(ckpt: Path, tok_path: Path, folder: Path, quants: list[str],
                log: Log = _noop, warn: Log = _noop) -> tuple[dict[str, Path], dict[str, list]]:
    """The f16 GGUF (the quantizer's input) and each quantization; returns (quant -> file,
    quant -> tensors llama.cpp left unquantized because their width is not a block multiple)."""
    check_quants(quants)
    f16 = gguf_export.write_gguf_f16(ckpt, tok_path, locate.gguf_file("f16", folder))
    log(f"wrote {f16} ({f16.stat().st_size / 2**20:.1f} MB)")
    files, fallback = {"f16": f16}, {}
    for q in quants:
        files[q] = gguf_export.quantize(f16, locate.gguf_file(q, folder), q)
        fallback[q] = gguf_export.fallbacks(files[q], q)
        log(f"quantized {q}: {files[q].stat().st_size / 2**20:.1f} MB, types {gguf_export.type_counts(files[q])}")
        if fallback[q]:
            warn(f"{q}: {len(fallback[q])} tensors not quantized to {q} (width not a multiple of "
                 f"the block size), e.g. {fallback[q][0]}")
    return files, fallback


class TokenizerAdapter:
    """The `encode(text, add_special_tokens=False)` face of a tokenizers.Tokenizer, for verify."""

    def __init__(self, tok):
        self.tok, self.eos_id = tok, tok.token_to_id("<|eos|>")

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.tok.encode(text, add_special_tokens=add_special_tokens).ids


def verify_ggufs(files: dict[str, Path], ckpt: Path, tok_path: Path, fallback: dict[str, list],
                 folder: Path, log: Log = _noop) -> dict:
    """Load every GGUF in llama.cpp and compare it with the PyTorch model (logits, tokenization,
    greedy tokens); writes folder/verify.json. Returns the Markdown table and whether all passed."""
    from tokenizers import Tokenizer

    from alslm_ml.model import load_model

    model = load_model(ckpt)
    tok = TokenizerAdapter(Tokenizer.from_file(str(tok_path)))
    checks = []
    for q, path in files.items():
        c = verify.check_gguf(path, q, model, tok, tok.eos_id)
        log(f"{q}: max |logit diff| {c.max_logit_diff:.4g} (limit {c.tolerance * c.logit_scale:.4g}), "
            f"tokenization {'ok' if c.tokenization_ok else 'MISMATCH'}, greedy = torch: {c.greedy_match}")
        checks.append(c)
    (folder / VERIFY_FILE).write_text(json.dumps({"checks": [c.to_dict() for c in checks], "fallback": fallback}, indent=2))
    return {"table": verify.markdown_table(checks, fallback), "all_ok": all(c.ok for c in checks)}


def parity_record() -> tuple[bool, dict]:
    """(passed, metadata) from data/export/hf/parity.json, for the hf_logit_parity check."""
    path = locate.hf_dir() / PARITY_FILE
    if not path.exists():
        return False, {"error": f"{path} missing"}
    p = json.loads(path.read_text())
    return bool(p["ok"]), {"max_abs_logit_diff": p["max_abs_logit_diff"]}


def verify_record() -> tuple[bool, dict]:
    """(passed, metadata) from data/export/gguf/verify.json, for the gguf_matches_torch check."""
    path = locate.gguf_dir() / VERIFY_FILE
    if not path.exists():
        return False, {"error": f"{path} missing (verify=False?)"}
    checks = json.loads(path.read_text())["checks"]
    failed = [c["quant"] for c in checks if not c["ok"]]
    return not failed, {"failed": failed, "checked": [c["quant"] for c in checks]}
