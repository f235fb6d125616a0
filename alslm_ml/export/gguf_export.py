"""The native checkpoint as GGUF in llama.cpp's `gpt2` layout, and its quantizations.

Tensor map (native name -> GGUF name; nn.Linear already stores (out, in), which is ggml's
row-major layout, so nothing is transposed):

    transformer.wte.weight            token_embd.weight   (and output.weight: the tied head)
    transformer.wpe.weight            position_embd.weight
    transformer.h.N.ln_1.{weight,bias}        blk.N.attn_norm.{weight,bias}
    transformer.h.N.attn.c_attn.{weight,bias} blk.N.attn_qkv.{weight,bias}
    transformer.h.N.attn.c_proj.{weight,bias} blk.N.attn_output.{weight,bias}
    transformer.h.N.ln_2.{weight,bias}        blk.N.ffn_norm.{weight,bias}
    transformer.h.N.mlp.c_fc.{weight,bias}    blk.N.ffn_up.{weight,bias}
    transformer.h.N.mlp.c_proj.{weight,bias}  blk.N.ffn_down.{weight,bias}
    transformer.ln_f.{weight,bias}            output_norm.{weight,bias}

Matrices are written as f16, norms and biases as f32 (what llama.cpp's converter does).
Quantized files are made from the f16 file by llama.cpp's own quantizer (llama_model_quantize).
"""

from __future__ import annotations

import ctypes
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from alslm_ml.disclaimer import FULL
from alslm_ml.model import GPT, load_model

QUANT_TYPES = ("f16", "q8_0", "q5_k_m", "q4_k_m")
FILE_PATTERN = "als-lm-{quant}.gguf"
MODEL_NAME = "ALS-LM"
LICENSE = "mit"
SPECIAL = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>", "unk": "<|unk|>"}
# The prompt format of the scratch system (alslm_ml.scratch), as a chat template for tools
# that read tokenizer.chat_template (llama.cpp server, llama-cpp-python chat completion).
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
_BLOCK = {
    "ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down",
}


def gguf_name(native: str) -> str:
    """Native parameter name -> llama.cpp gpt2 tensor name."""
    fixed = {"transformer.wte.weight": "token_embd.weight", "transformer.wpe.weight": "position_embd.weight",
             "transformer.ln_f.weight": "output_norm.weight", "transformer.ln_f.bias": "output_norm.bias"}
    if native in fixed:
        return fixed[native]
    m = re.fullmatch(r"transformer\.h\.(\d+)\.(.+)\.(weight|bias)", native)
    if not m or m.group(2) not in _BLOCK:
        raise KeyError(f"no GGUF name for tensor {native!r}")
    return f"blk.{m.group(1)}.{_BLOCK[m.group(2)]}.{m.group(3)}"


def gguf_tensors(model: GPT) -> dict[str, np.ndarray]:
    """GGUF name -> array: matrices f16, norms and biases (1-D) f32."""
    out = {}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        a = t.detach().float().cpu().numpy()
        out[gguf_name(name)] = a.astype(np.float16) if a.ndim == 2 else a.astype(np.float32)
    out["output.weight"] = out["token_embd.weight"]  # tied head, stored as llama.cpp's converter does
    return out


def read_vocab(tokenizer_path: str | Path, vocab_size: int) -> dict:
    """tokens, token types, merges, special ids and add_bos from a HF tokenizer.json, padded with
    unused [PADn] tokens up to the model's vocab_size (llama.cpp needs one token per embedding row)."""
    import gguf

    path = Path(tokenizer_path)
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: model.type is {model.get('type')!r}; the gpt2 GGUF layout needs byte-level BPE")
    pre = json.dumps(spec.get("pre_tokenizer"))
    if "ByteLevel" not in pre:
        raise ValueError(f"{path}: pre_tokenizer has no ByteLevel step; llama.cpp's gpt2 tokenizer would differ")
    by_id: dict[int, str] = {i: t for t, i in model["vocab"].items()}
    kinds: dict[int, int] = {i: gguf.TokenType.NORMAL for i in by_id}
    for added in spec.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        kinds[added["id"]] = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
    n = max(by_id) + 1
    if n > vocab_size:
        raise ValueError(f"{path}: {n} tokens but the model's vocab_size is {vocab_size}")
    tokens, types = [], []
    for i in range(vocab_size):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(kinds[i])
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    ids = {}
    for key, tok in SPECIAL.items():
        if tok not in tokens:
            raise ValueError(f"{path}: special token {tok} missing from the vocabulary")
        ids[key] = tokens.index(tok)
    post = json.dumps(spec.get("post_processor"))
    return {"tokens": tokens, "types": types, "merges": merges, "ids": ids, "add_bos": SPECIAL["bos"] in post}


def write_gguf_f16(model_dir: str | Path, tokenizer_path: str | Path, out_path: str | Path,
                   name: str = MODEL_NAME) -> Path:
    """Write the f16 GGUF (header, metadata, tensors) with gguf.GGUFWriter."""
    return write_gguf_f16_from(load_model(model_dir), tokenizer_path, out_path, name)


def write_gguf_f16_from(model: GPT, tokenizer_path: str | Path, out_path: str | Path,
                        name: str = MODEL_NAME) -> Path:
    """write_gguf_f16 for a model already in memory (benchmarks: no 2 GB fp32 round trip)."""
    import gguf

    c = model.config
    vocab = read_vocab(tokenizer_path, c.vocab_size)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".gguf.partial")
    w = gguf.GGUFWriter(str(tmp), arch="gpt2")
    w.add_name(name)
    w.add_license(LICENSE)
    w.add_description(f"Trained from scratch on an ALS corpus. {FULL}")
    w.add_context_length(c.block_size)
    w.add_embedding_length(c.n_embd)
    w.add_feed_forward_length(4 * c.n_embd)
    w.add_block_count(c.n_layer)
    w.add_head_count(c.n_head)
    w.add_layer_norm_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(vocab["tokens"])
    w.add_token_types(vocab["types"])
    w.add_token_merges(vocab["merges"])
    w.add_bos_token_id(vocab["ids"]["bos"])
    w.add_eos_token_id(vocab["ids"]["eos"])
    w.add_pad_token_id(vocab["ids"]["pad"])
    w.add_unk_token_id(vocab["ids"]["unk"])
    w.add_add_bos_token(vocab["add_bos"])
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    for tname, arr in gguf_tensors(model).items():
        w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=True)
    w.close()
    tmp.replace(out)
    return out


def quantize(src: str | Path, dst: str | Path, quant: str, nthread: int = 0) -> Path:
    """llama.cpp's quantizer (llama_model_quantize) from the f16 file to q8_0 / q5_k_m / q4_k_m."""
    import llama_cpp

    ftypes = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q5_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
              "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}
    if quant not in ftypes:
        raise ValueError(f"unknown quantization {quant!r}; choose one of {', '.join(ftypes)}")
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileNotFoundError(f"quantizer input {src} does not exist")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftypes[quant]
    params.nthread = nthread
    tmp = dst.with_suffix(".gguf.partial")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"llama_model_quantize({src} -> {quant}) failed with code {rc}")
    tmp.replace(dst)
    return dst


def tensor_types(path: str | Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """GGUF name -> (ggml type name, shape in ggml order ne0, ne1...) read back from the file."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {t.name: (t.tensor_type.name, tuple(int(x) for x in t.shape)) for t in reader.tensors}


_KQUANTS = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}
_TARGET = {"q8_0": ({"Q8_0"}, 32), "q5_k_m": (_KQUANTS, 256), "q4_k_m": (_KQUANTS, 256)}


def fallbacks(path: str | Path, quant: str) -> list[dict]:
    """Matrices whose width (ne0) is not a multiple of the target's block size and that llama.cpp
    therefore stored in another type. position_embd is never quantized by llama.cpp (not a fallback)."""
    if quant not in _TARGET:
        return []
    wanted, block = _TARGET[quant]
    out = []
    for name, (ttype, shape) in tensor_types(path).items():
        if len(shape) < 2 or name.startswith("position_embd"):
            continue
        if ttype not in wanted and shape[0] % block:
            out.append({"tensor": name, "shape": list(shape), "type": ttype, "wanted": quant})
    return out


def type_counts(path: str | Path) -> dict[str, int]:
    return dict(Counter(t for t, _ in tensor_types(path).values()))


def read_metadata(path: str | Path) -> dict:
    """Scalar/string metadata fields of a GGUF (arrays summarised by length), for checks and docs."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    out = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types and field.types[0] == gguf.GGUFValueType.ARRAY:
            out[key] = f"[{len(field.data)} items]"
        elif field.types and field.types[0] == gguf.GGUFValueType.STRING:
            out[key] = bytes(field.parts[field.data[0]]).decode("utf-8")
        else:
            out[key] = field.parts[field.data[0]].tolist()[0]
    return out
