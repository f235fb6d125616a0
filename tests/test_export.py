"""Export: transformers parity, the gpt2 GGUF layout, llama.cpp quantization and verification, on a
toy model + tokenizer trained in the test session (alslm_ml.export.toy)."""

import json

import numpy as np
import pytest
import torch

from alslm_ml.disclaimer import FULL
from alslm_ml.export import gguf_export, hf, verify
from alslm_ml.export.toy import build_toy, build_toy_exports
from alslm_ml.model import GPT, GPTConfig, load_model, save_model


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_exports(tmp_path_factory.getbasetemp() / "alslm_toy")


@pytest.fixture(scope="module")
def hf_tok(toy):
    return hf.load_tokenizer(toy["tokenizer"], 256)


def test_hf_export_reloads_offline_with_logit_parity(toy, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = hf.export_hf(toy["model"], toy["tokenizer"], tmp_path / "hf")
    assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>")
    assert model.config.eos_token_id == tok.eos_token_id
    native = load_model(toy["model"])
    prompts = [[tok.eos_token_id] + tok.encode(p) for p in verify.PROMPTS]
    diff = hf.max_logit_diff(native, model, prompts)
    assert diff <= 1e-4
    # the comparison is sensitive: one perturbed weight breaks parity
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] += 0.5
    assert hf.max_logit_diff(native, model, prompts) > 1e-4
    assert "not a medical resource" in (out / "README.md").read_text()


def test_gguf_layout_and_metadata(toy):
    meta = gguf_export.read_metadata(toy["f16"])
    cfg = load_model(toy["model"]).config
    assert meta["general.architecture"] == "gpt2" and meta["general.name"] == "ALS-LM"
    assert meta["general.license"] == "mit" and FULL in meta["general.description"]
    assert meta["gpt2.context_length"] == cfg.block_size and meta["gpt2.embedding_length"] == cfg.n_embd
    assert meta["gpt2.block_count"] == cfg.n_layer and meta["gpt2.attention.head_count"] == cfg.n_head
    assert abs(meta["gpt2.attention.layer_norm_epsilon"] - 1e-5) < 1e-9
    assert meta["tokenizer.ggml.model"] == "gpt2"
    tok = json.loads(toy["tokenizer"].read_text())
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    assert meta["tokenizer.ggml.bos_token_id"] == ids["<|bos|>"] and meta["tokenizer.ggml.eos_token_id"] == ids["<|eos|>"]
    assert meta["tokenizer.ggml.padding_token_id"] == ids["<|pad|>"] and meta["tokenizer.ggml.unknown_token_id"] == ids["<|unk|>"]
    types = gguf_export.tensor_types(toy["f16"])
    want = {"token_embd.weight", "position_embd.weight", "output_norm.weight", "output_norm.bias", "output.weight"}
    for i in range(cfg.n_layer):
        for t in ("attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"):
            want |= {f"blk.{i}.{t}.weight", f"blk.{i}.{t}.bias"}
    assert set(types) == want
    d = cfg.n_embd
    assert types["blk.0.attn_qkv.weight"] == ("F16", (d, 3 * d))
    assert types["blk.0.ffn_down.weight"] == ("F16", (4 * d, d))
    assert types["token_embd.weight"] == ("F16", (d, cfg.vocab_size))
    assert types["blk.0.attn_norm.bias"] == ("F32", (d,))


def test_gguf_tensor_values_match_checkpoint(toy):
    import gguf

    model = load_model(toy["model"])
    sd = model.state_dict()
    reader = gguf.GGUFReader(str(toy["f16"]))
    arrays = {t.name: np.asarray(t.data) for t in reader.tensors}
    for native, name in [("transformer.h.1.attn.c_attn.weight", "blk.1.attn_qkv.weight"),
                         ("transformer.h.0.mlp.c_proj.bias", "blk.0.ffn_down.bias"),
                         ("transformer.wpe.weight", "position_embd.weight")]:
        np.testing.assert_allclose(arrays[name].astype(np.float32), sd[native].numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(arrays["output.weight"], arrays["token_embd.weight"])


@pytest.mark.parametrize("quant", gguf_export.QUANT_TYPES)
def test_every_gguf_passes_llamacpp_checks(toy, hf_tok, quant):
    c = verify.check_gguf(toy[quant], quant, load_model(toy["model"]), hf_tok, hf_tok.eos_token_id)
    assert c.tokenization_ok, c.tokenization_mismatches
    assert c.max_logit_diff <= c.tolerance * c.logit_scale, c.to_dict()
    if quant in ("f16", "q8_0"):
        assert c.greedy_match
    assert c.ok and c.load_seconds > 0 and c.tokens_per_second > 0
    if quant != "f16":
        assert c.max_logit_diff > 1e-4  # really quantized, not a copy of the f16 weights
        assert gguf_export.fallbacks(toy[quant], quant) == []  # every width of the toy is a multiple of 256
    table = verify.markdown_table([c])
    assert f"| {quant} |" in table


def test_quantized_types_and_sizes(toy):
    sizes = {q: toy[q].stat().st_size for q in gguf_export.QUANT_TYPES}
    assert sizes["f16"] > sizes["q8_0"] > sizes["q5_k_m"] > sizes["q4_k_m"]
    assert "Q8_0" in gguf_export.type_counts(toy["q8_0"])
    assert "Q4_K" in gguf_export.type_counts(toy["q4_k_m"]) and "Q5_K" in gguf_export.type_counts(toy["q5_k_m"])


def test_kquant_fallback_is_detected_for_narrow_models(toy, tmp_path):
    torch.manual_seed(0)
    tok_vocab = json.loads(toy["tokenizer"].read_text())
    n_vocab = max(tok_vocab["model"]["vocab"].values()) + 1
    model = GPT(GPTConfig(vocab_size=n_vocab, block_size=64, n_layer=1, n_head=2, n_embd=96, dropout=0.0))
    mdir = save_model(model, tmp_path / "narrow")
    f16 = gguf_export.write_gguf_f16(mdir, toy["tokenizer"], tmp_path / "narrow-f16.gguf")
    q4 = gguf_export.quantize(f16, tmp_path / "narrow-q4_k_m.gguf", "q4_k_m")
    fb = gguf_export.fallbacks(q4, "q4_k_m")
    names = {f["tensor"] for f in fb}
    assert "blk.0.attn_qkv.weight" in names and "token_embd.weight" in names  # width 96: no k-quant
    assert "blk.0.ffn_down.weight" in names  # width 384: not a multiple of 256 either
    assert all(f["type"] not in {"Q4_K", "Q5_K", "Q6_K"} for f in fb)
    assert gguf_export.fallbacks(gguf_export.quantize(f16, tmp_path / "narrow-q8_0.gguf", "q8_0"), "q8_0") == []  # 96 % 32 == 0


def test_vocab_is_padded_to_the_model_rows(toy, tmp_path):
    from llama_cpp import Llama

    base = load_model(toy["model"])
    big = GPT(GPTConfig(**{**base.config.to_dict(), "vocab_size": base.config.vocab_size + 24}))
    mdir = save_model(big, tmp_path / "big")
    path = gguf_export.write_gguf_f16(mdir, toy["tokenizer"], tmp_path / "big.gguf")
    vocab = gguf_export.read_vocab(toy["tokenizer"], big.config.vocab_size)
    assert vocab["tokens"][-1] == f"[PAD{big.config.vocab_size - 1}]" and vocab["types"][-1] == 5  # UNUSED
    llm = Llama(model_path=str(path), n_ctx=64, verbose=False)
    assert llm.n_vocab() == big.config.vocab_size
    llm.close()


def test_bad_inputs_name_the_file(toy, tmp_path):
    spec = json.loads(toy["tokenizer"].read_text())
    spec["model"]["type"] = "WordPiece"
    bad = tmp_path / "tokenizer.json"
    bad.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"tokenizer.json: model.type is 'WordPiece'"):
        gguf_export.read_vocab(bad, 10_000)
    with pytest.raises(ValueError, match="vocab_size is 10"):
        gguf_export.read_vocab(toy["tokenizer"], 10)
    with pytest.raises(FileNotFoundError, match="quantizer input"):
        gguf_export.quantize(tmp_path / "missing.gguf", tmp_path / "out.gguf", "q8_0")
    with pytest.raises(ValueError, match="unknown quantization"):
        gguf_export.quantize(toy["f16"], tmp_path / "out.gguf", "q3_xs")


@pytest.mark.slow
def test_random_init_tiny_config_exports(tmp_path):
    """The real `tiny` shape (4 x 256, vocab 8192) with random weights: f16 parity in llama.cpp."""
    from alslm_ml.model import get_config

    _, tok_path = build_toy(tmp_path / "t", steps=0)
    model = GPT(get_config("tiny", dropout=0.0))
    mdir = save_model(model, tmp_path / "tiny")
    path = gguf_export.write_gguf_f16(mdir, tok_path, tmp_path / "tiny-f16.gguf")
    tok = hf.load_tokenizer(tok_path, 256)
    c = verify.check_gguf(path, "f16", load_model(mdir), tok, tok.eos_token_id, n_greedy=4)
    assert c.tokenization_ok and c.max_logit_diff <= c.tolerance * c.logit_scale
