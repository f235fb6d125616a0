"""Export stage: model_checkpoint + tokenizer -> hf_model, gguf_models -> ollama_model.

Thin calls into alslm_ml.export; every file lands under data/export/. Each asset also records the
checks it ran (logit parity, tokenization, greedy agreement) and asset checks turn those records
into pass/fail results in the UI.
"""

import dagster as dg

from alslm_assets.metadata import as_metadata
from alslm_ml.export import gguf_export, locate, ollama, pipeline

GROUP = "export"


class ExportConfig(dg.Config):
    checkpoint_dir: str = ""  # default: the newest data/checkpoints/*/best/model (what model_checkpoint wrote)


class GGUFConfig(ExportConfig):
    quants: list[str] = ["q8_0", "q5_k_m", "q4_k_m"]  # f16 is always written: the quantizer's input
    verify: bool = True  # load every file in llama.cpp and compare with the PyTorch model


class OllamaConfig(dg.Config):
    model_name: str = ollama.MODEL_NAME
    quant: str = "q5_k_m"  # the design's recommended default (6.2)
    host: str = ""  # default $OLLAMA_HOST or http://127.0.0.1:11434
    timeout_s: float = 1.0  # how long to wait for a server to answer /api/version


@dg.asset(group_name=GROUP, deps=["model_checkpoint", "tokenizer"],
       description="The checkpoint as transformers GPT2LMHeadModel + PreTrainedTokenizerFast (safetensors) in data/export/hf/.")
def hf_model(context: dg.AssetExecutionContext, config: ExportConfig) -> dg.MaterializeResult:
    ckpt, tok_path = locate.checkpoint(config.checkpoint_dir), pipeline.input_tokenizer()
    out = locate.hf_dir()
    context.log.info(f"exporting {ckpt} + {tok_path} to {out}")
    meta = pipeline.export_hf_checked(ckpt, tok_path, out)
    context.log.info(f"reloaded from {out}: max |logit diff| vs native = {meta['max_abs_logit_diff']:.3g}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(out)), "checkpoint": dg.MetadataValue.path(str(ckpt)), **meta})


@dg.asset_check(asset=hf_model, description="transformers logits equal the native model's within 1e-4.")
def hf_logit_parity() -> dg.AssetCheckResult:
    passed, meta = pipeline.parity_record()
    return dg.AssetCheckResult(passed=passed, metadata=as_metadata(meta))


@dg.asset(group_name=GROUP, deps=["model_checkpoint", "tokenizer"],
       description="f16 GGUF in llama.cpp's gpt2 layout + Q8_0/Q5_K_M/Q4_K_M from llama.cpp's quantizer, each verified in llama.cpp.")
def gguf_models(context: dg.AssetExecutionContext, config: GGUFConfig) -> dg.MaterializeResult:
    pipeline.check_quants(config.quants)
    ckpt, tok_path = locate.checkpoint(config.checkpoint_dir), pipeline.input_tokenizer()
    folder = locate.gguf_dir()
    files, fallback = pipeline.write_ggufs(ckpt, tok_path, folder, config.quants, context.log.info, context.log.warning)
    meta = {"folder": dg.MetadataValue.path(str(folder)), "checkpoint": dg.MetadataValue.path(str(ckpt))}
    if config.verify:
        verified = pipeline.verify_ggufs(files, ckpt, tok_path, fallback, folder, context.log.info)
        meta.update({"table": dg.MetadataValue.md(verified["table"]), "all_ok": verified["all_ok"]})
    meta["fallback_tensors"] = dg.MetadataValue.json(fallback)
    meta["sizes_mb"] = dg.MetadataValue.json({q: round(p.stat().st_size / 2**20, 2) for q, p in files.items()})
    return dg.MaterializeResult(metadata=meta)


@dg.asset_check(asset=gguf_models, description="Every GGUF passed tokenization, logit-tolerance and greedy checks in llama.cpp.")
def gguf_matches_torch() -> dg.AssetCheckResult:
    passed, meta = pipeline.verify_record()
    return dg.AssetCheckResult(passed=passed, metadata=as_metadata(meta))


@dg.asset(group_name=GROUP, deps=["gguf_models"],
       description="Ollama Modelfile next to each GGUF; registers `als-lm` when an Ollama server answers.")
def ollama_model(context: dg.AssetExecutionContext, config: OllamaConfig) -> dg.MaterializeResult:
    from alslm_ml.model.io import read_config

    folder = locate.gguf_dir()
    ggufs = sorted(folder.glob("als-lm-*.gguf"))
    if not ggufs:
        raise FileNotFoundError(f"no als-lm-*.gguf in {folder}: materialize `gguf_models` first")
    num_ctx = int(gguf_export.read_metadata(ggufs[0]).get("gpt2.context_length", 0)) or read_config(locate.checkpoint()).block_size
    modelfiles = {p.stem: ollama.write_modelfile(p, num_ctx) for p in ggufs}
    chosen = locate.gguf_file(config.quant, folder)
    if not chosen.exists():
        raise FileNotFoundError(f"OllamaConfig.quant={config.quant!r} but {chosen} does not exist")
    mf = chosen.with_suffix(".Modelfile")
    command = ollama.create_command(mf, config.model_name)
    meta = {"modelfiles": dg.MetadataValue.json({k: str(v) for k, v in modelfiles.items()}), "command": command}
    base = config.host or ollama.host()
    version = ollama.server_version(base, timeout=config.timeout_s)
    if version is None:
        context.log.warning(f"no Ollama server answered at {base}: skipped registration. To register by hand: {command}")
        return dg.MaterializeResult(metadata={**meta, "registered": False, "host": base})
    cli = ollama.client(base)
    statuses = ollama.register(cli, chosen, num_ctx, config.model_name, on_status=context.log.info)
    reply = ollama.ask_once(cli, "What is ALS-LM?", config.model_name)
    context.log.info(f"ollama {version} registered {config.model_name}; sample answer: {reply['text'][:200]!r}")
    return dg.MaterializeResult(metadata={**meta, "registered": True, "host": base, "ollama_version": version,
                                       "create_status": statuses[-1], "sample_answer": reply["text"][:500]})
