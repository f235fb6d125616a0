"""Export stage: model_checkpoint + tokenizer -> hf_model, gguf_models -> ollama_model.

Thin calls into alslm_ml.export; every file lands under data/export/. Each asset also records the
checks it ran (logit parity, tokenization, greedy agreement) and asset checks turn those records
into pass/fail results in the UI.
"""

import json
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from alslm_ml.export import gguf_export as ge
from alslm_ml.export import hf, locate, verify
from alslm_ml.export import ollama as oll

GROUP = "export"
PARITY_FILE = "parity.json"
VERIFY_FILE = "verify.json"


class ExportConfig(Config):
    checkpoint_dir: str = ""  # default: model_checkpoint's best_model, else newest data/checkpoints/*/best/model


class GGUFConfig(ExportConfig):
    quants: list[str] = ["q8_0", "q5_k_m", "q4_k_m"]  # f16 is always written: the quantizer's input
    verify: bool = True  # load every file in llama.cpp and compare with the PyTorch model


class OllamaConfig(Config):
    model_name: str = oll.MODEL_NAME
    quant: str = "q5_k_m"  # the design's recommended default (6.2)
    host: str = ""  # default $OLLAMA_HOST or http://127.0.0.1:11434
    timeout_s: float = 1.0  # how long to wait for a server to answer /api/version


def _checkpoint(context: AssetExecutionContext, config: ExportConfig) -> Path:
    if config.checkpoint_dir:
        return Path(config.checkpoint_dir)
    event = context.instance.get_latest_materialization_event(AssetKey("model_checkpoint"))
    mat = event.asset_materialization if event else None
    best = mat.metadata.get("best_model") if mat else None
    if best is not None and (Path(best.value) / "config.json").exists():
        return Path(best.value)
    return locate.best_checkpoint()


def _tokenizer() -> Path:
    path = locate.tokenizer_file()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize the `tokenizer` asset first")
    return path


@asset(group_name=GROUP, deps=["model_checkpoint", "tokenizer"],
       description="The checkpoint as transformers GPT2LMHeadModel + PreTrainedTokenizerFast (safetensors) in data/export/hf/.")
def hf_model(context: AssetExecutionContext, config: ExportConfig) -> MaterializeResult:
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    from alslm_ml.model import load_model

    ckpt, tok_path = _checkpoint(context, config), _tokenizer()
    out = locate.hf_dir()
    context.log.info(f"exporting {ckpt} + {tok_path} to {out}")
    hf.export_hf(ckpt, tok_path, out)
    native = load_model(ckpt)
    reloaded = GPT2LMHeadModel.from_pretrained(out).eval()
    tok = PreTrainedTokenizerFast.from_pretrained(out)
    eos = tok.eos_token_id
    diff = hf.max_logit_diff(native, reloaded, [[eos] + tok.encode(p) for p in verify.PROMPTS])
    parity = {"max_abs_logit_diff": diff, "tolerance": 1e-4, "ok": diff <= 1e-4, "prompts": verify.PROMPTS}
    (out / PARITY_FILE).write_text(json.dumps(parity, indent=2))
    context.log.info(f"reloaded from {out}: max |logit diff| vs native = {diff:.3g}")
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(out)), "checkpoint": MetadataValue.path(str(ckpt)),
        "max_abs_logit_diff": diff, "parameters": sum(p.numel() for p in reloaded.parameters()),
        "vocab_size": reloaded.config.vocab_size, "n_positions": reloaded.config.n_positions,
    })


@asset_check(asset=hf_model, description="transformers logits equal the native model's within 1e-4.")
def hf_logit_parity() -> AssetCheckResult:
    path = locate.hf_dir() / PARITY_FILE
    if not path.exists():
        return AssetCheckResult(passed=False, metadata={"error": f"{path} missing"})
    p = json.loads(path.read_text())
    return AssetCheckResult(passed=bool(p["ok"]), metadata={"max_abs_logit_diff": p["max_abs_logit_diff"]})


@asset(group_name=GROUP, deps=["model_checkpoint", "tokenizer"],
       description="f16 GGUF in llama.cpp's gpt2 layout + Q8_0/Q5_K_M/Q4_K_M from llama.cpp's quantizer, each verified in llama.cpp.")
def gguf_models(context: AssetExecutionContext, config: GGUFConfig) -> MaterializeResult:
    from tokenizers import Tokenizer

    from alslm_ml.model import load_model

    bad = [q for q in config.quants if q not in ge.QUANT_TYPES or q == "f16"]
    if bad:
        raise ValueError(f"GGUFConfig.quants: unknown types {bad}; choose from q8_0, q5_k_m, q4_k_m")
    ckpt, tok_path = _checkpoint(context, config), _tokenizer()
    folder = locate.gguf_dir()
    f16 = ge.write_gguf_f16(ckpt, tok_path, locate.gguf_file("f16", folder))
    context.log.info(f"wrote {f16} ({f16.stat().st_size / 2**20:.1f} MB)")
    files = {"f16": f16}
    fallback: dict[str, list] = {}
    for q in config.quants:
        files[q] = ge.quantize(f16, locate.gguf_file(q, folder), q)
        fallback[q] = ge.fallbacks(files[q], q)
        context.log.info(f"quantized {q}: {files[q].stat().st_size / 2**20:.1f} MB, types {ge.type_counts(files[q])}")
        if fallback[q]:
            context.log.warning(f"{q}: {len(fallback[q])} tensors not quantized to {q} (width not a multiple of "
                                f"the block size), e.g. {fallback[q][0]}")
    meta = {"folder": MetadataValue.path(str(folder)), "checkpoint": MetadataValue.path(str(ckpt))}
    if config.verify:
        model = load_model(ckpt)
        tok = _HFTok(Tokenizer.from_file(str(tok_path)))
        checks = []
        for q, path in files.items():
            c = verify.check_gguf(path, q, model, tok, tok.eos_id)
            context.log.info(f"{q}: max |logit diff| {c.max_logit_diff:.4g} (limit {c.tolerance * c.logit_scale:.4g}), "
                             f"tokenization {'ok' if c.tokenization_ok else 'MISMATCH'}, greedy = torch: {c.greedy_match}")
            checks.append(c)
        (folder / VERIFY_FILE).write_text(json.dumps({"checks": [c.to_dict() for c in checks], "fallback": fallback}, indent=2))
        meta["table"] = MetadataValue.md(verify.markdown_table(checks, fallback))
        meta["all_ok"] = all(c.ok for c in checks)
    meta["fallback_tensors"] = MetadataValue.json(fallback)
    meta["sizes_mb"] = MetadataValue.json({q: round(p.stat().st_size / 2**20, 2) for q, p in files.items()})
    return MaterializeResult(metadata=meta)


class _HFTok:
    """The `encode(text, add_special_tokens=False)` face of a tokenizers.Tokenizer, for verify."""

    def __init__(self, tok):
        self.tok, self.eos_id = tok, tok.token_to_id("<|eos|>")

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.tok.encode(text, add_special_tokens=add_special_tokens).ids


@asset_check(asset=gguf_models, description="Every GGUF passed tokenization, logit-tolerance and greedy checks in llama.cpp.")
def gguf_matches_torch() -> AssetCheckResult:
    path = locate.gguf_dir() / VERIFY_FILE
    if not path.exists():
        return AssetCheckResult(passed=False, metadata={"error": f"{path} missing (verify=False?)"})
    checks = json.loads(path.read_text())["checks"]
    failed = [c["quant"] for c in checks if not c["ok"]]
    return AssetCheckResult(passed=not failed, metadata={"failed": failed, "checked": [c["quant"] for c in checks]})


@asset(group_name=GROUP, deps=["gguf_models"],
       description="Ollama Modelfile next to each GGUF; registers `als-lm` when an Ollama server answers.")
def ollama_model(context: AssetExecutionContext, config: OllamaConfig) -> MaterializeResult:
    from alslm_ml.model.io import read_config

    folder = locate.gguf_dir()
    ggufs = sorted(folder.glob("als-lm-*.gguf"))
    if not ggufs:
        raise FileNotFoundError(f"no als-lm-*.gguf in {folder}: materialize `gguf_models` first")
    num_ctx = int(ge.read_metadata(ggufs[0]).get("gpt2.context_length", 0)) or read_config(locate.best_checkpoint()).block_size
    modelfiles = {p.stem: oll.write_modelfile(p, num_ctx) for p in ggufs}
    chosen = locate.gguf_file(config.quant, folder)
    if not chosen.exists():
        raise FileNotFoundError(f"OllamaConfig.quant={config.quant!r} but {chosen} does not exist")
    mf = chosen.with_suffix(".Modelfile")
    command = oll.create_command(mf, config.model_name)
    meta = {"modelfiles": MetadataValue.json({k: str(v) for k, v in modelfiles.items()}), "command": command}
    base = config.host or oll.host()
    version = oll.server_version(base, timeout=config.timeout_s)
    if version is None:
        context.log.warning(f"no Ollama server answered at {base}: skipped registration. To register by hand: {command}")
        return MaterializeResult(metadata={**meta, "registered": False, "host": base})
    cli = oll.client(base)
    statuses = oll.register(cli, chosen, num_ctx, config.model_name, on_status=context.log.info)
    reply = oll.ask_once(cli, "What is ALS-LM?", config.model_name)
    context.log.info(f"ollama {version} registered {config.model_name}; sample answer: {reply['text'][:200]!r}")
    return MaterializeResult(metadata={**meta, "registered": True, "host": base, "ollama_version": version,
                                       "create_status": statuses[-1], "sample_answer": reply["text"][:500]})
