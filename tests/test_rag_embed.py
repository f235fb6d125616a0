"""Embeddings: the ONNX export served by fastembed matches sentence-transformers; BM25 runs from
a local folder; chunk offsets map back to the document text."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "rag"))
import ragkit  # noqa: E402

from alslm_ml.rag import embed  # noqa: E402
from alslm_ml.rag.chunking import chunk_documents, chunk_text  # noqa: E402

TEXTS = [
    "Riluzole was the first drug approved for amyotrophic lateral sclerosis.",
    "SOD1",
    # longer than the model's 256-token window: both must truncate identically
    " ".join(["Upper and lower motor neuron signs are examined in several body regions."] * 40),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    yield from ragkit.data_dir_env(tmp_path_factory, "rag_embed")


@pytest.fixture(scope="module")
def dense(data_dir):
    return embed.dense_embedder()


def test_onnx_export_matches_sentence_transformers(dense, data_dir):
    from sentence_transformers import SentenceTransformer

    onnx_dir = data_dir / "models" / embed.ONNX_DIR_NAME
    assert (onnx_dir / "model.onnx").stat().st_size > 50e6  # the real weights, not a stub
    ours = np.array(list(dense.embed(TEXTS, batch_size=3)))  # one padded batch of mixed lengths
    st = SentenceTransformer(str(embed.source_model_dir()), device="cpu")
    ref = st.encode(TEXTS, normalize_embeddings=False)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    cos = (ours * ref).sum(1)
    assert ours.shape == (3, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cos.min() >= 0.9999, cos


def test_dense_embeddings_are_semantic(dense):
    q, related, unrelated = dense.embed(["What drug slows ALS?", TEXTS[0], "The freezer inventory was re-printed."])
    assert q @ related > q @ unrelated + 0.1


def test_bm25_runs_from_local_folder_with_local_stopwords(data_dir):
    sparse = embed.sparse_embedder()
    folder = data_dir / "models" / "bm25"
    assert (folder / "english.txt").read_text().split()[:3] == ["i", "me", "my"]
    doc = next(iter(sparse.embed(["The riluzole tablets and the riluzole film"])))
    query = next(iter(sparse.query_embed(["riluzole"])))
    # "the"/"and" are stopwords; riluzole (twice) outweighs tablets/film
    assert len(doc.indices) == 3
    assert query.indices[0] in set(doc.indices)
    assert doc.values[list(doc.indices).index(query.indices[0])] == doc.values.max()


def test_unknown_local_model_is_a_clear_error(data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="not available locally"):
        embed.dense_embedder("BAAI/bge-small-en-v1.5", model_path=tmp_path / "nothing-here")


def test_chunk_offsets_map_back_to_document_text(data_dir):
    tok = embed.token_counter()
    df = ragkit.mini_corpus()
    texts = dict(zip(df["id"], df["text"]))
    chunks = list(chunk_documents(df, tok, chunk_tokens=64, overlap=16))
    assert len(chunks) > len(df)
    for c in chunks:
        assert texts[c.doc_id][c.start : c.end] == c.text
        assert c.n_tokens <= 64
        assert len(tok.encode(c.text, add_special_tokens=False).ids) == c.n_tokens
        assert not (c.end < len(texts[c.doc_id]) and texts[c.doc_id][c.end - 1 : c.end + 1].isalnum())  # whole words
    by_doc = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    for doc_id, cs in by_doc.items():
        assert cs[0].start == 0 and cs[-1].end == len(texts[doc_id].rstrip())
        for a, b in zip(cs, cs[1:]):
            assert b.start < a.end  # windows overlap
            assert b.start > a.start
    assert {c.source for c in chunks} == {"starter", "educational"}
    assert all(c.title and c.url.startswith("https://") and c.license for c in chunks)


def test_chunking_rejects_bad_settings_and_rows(data_dir):
    tok = embed.token_counter()
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("some text", tok, chunk_tokens=16, overlap=16)
    with pytest.raises(ValueError, match="'doc-x'.*text"):
        list(chunk_documents([{"id": "doc-x", "source": "starter", "url": "", "title": "", "text": None, "license": ""}], tok))
    with pytest.raises(ValueError, match="missing column"):
        list(chunk_documents([{"id": "doc-y", "text": "abc"}], tok))


@pytest.fixture(scope="module")
def chunk_texts(data_dir):
    tok = embed.token_counter()
    return [c.text for c in chunk_documents(ragkit.mini_corpus(), tok, chunk_tokens=256, overlap=32)]


def test_int8_model_stays_within_cosine_099_of_fp32(dense, data_dir, chunk_texts):
    int8 = embed.dense_embedder(embed.DENSE_MODEL_INT8)
    path = data_dir / "models" / embed.ONNX_DIR_NAME / embed.INT8_FILE
    assert path.stat().st_size < 0.8 * (path.parent / "model.onnx").stat().st_size  # really quantized
    a = np.array(list(dense.embed(chunk_texts, batch_size=16)))
    b = np.array(list(int8.embed(chunk_texts, batch_size=16)))
    cos = (a * b).sum(1)
    assert cos.min() >= 0.99, cos.min()
    assert cos.max() < 0.99999  # not the fp32 model under another name
    assert embed.resolve_dense_model("auto") == (embed.DENSE_MODEL if embed.cuda_backend() else embed.DENSE_MODEL_INT8)
    assert embed.resolve_dense_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"


def test_length_sorted_batches_return_vectors_in_input_order(dense, chunk_texts):
    from alslm_ml.rag.build import embed_texts

    texts = chunk_texts[:5] + ["SOD1", "What drug slows ALS?"] + chunk_texts[5:7]
    seen = []
    got = embed_texts(texts, dense, batch_size=3, on_batch=seen.append)
    ref = np.array([next(iter(dense.embed([t]))) for t in texts])
    assert seen == [3, 3, 3]
    assert got.shape == (9, 384)
    assert (got * ref).sum(1).min() >= 0.9999


def test_torch_path_matches_the_onnx_export(dense, chunk_texts):
    """The code the GPU runs where onnxruntime has no CUDA provider, here on the CPU in fp32."""
    t = embed.TorchDenseEmbedder(device="cpu")
    texts = TEXTS + chunk_texts[:3]
    a = np.array(list(t.embed(texts, batch_size=4)))
    b = np.array(list(dense.embed(texts, batch_size=4)))
    assert (a * b).sum(1).min() >= 0.9999


def test_cuda_request_without_cuda_is_a_clear_error(data_dir):
    if embed.cuda_backend():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        embed.dense_embedder(embed.DENSE_MODEL, device="cuda")
    with pytest.raises(ValueError, match="expected auto, cpu or cuda"):
        embed.dense_embedder(device="tpu")
    assert type(embed.dense_embedder(device="auto")).__name__ == "TextEmbedding"  # falls back to the CPU


@pytest.mark.gpu
def test_cuda_embedder_matches_cpu(dense, chunk_texts):
    if not embed.cuda_backend():
        pytest.skip("no CUDA")
    gpu = embed.dense_embedder(embed.DENSE_MODEL, device="cuda")
    a = np.array(list(gpu.embed(chunk_texts, batch_size=32)))
    b = np.array(list(dense.embed(chunk_texts, batch_size=32)))
    assert (a * b).sum(1).min() >= 0.999  # fp16 on the torch path


def test_spool_keeps_complete_parts_and_ignores_a_cut_one(tmp_path):
    from alslm_ml.rag.spool import Spool, text_key

    s = Spool(tmp_path / "sp", dim=4)
    keys = np.array([text_key(t) for t in ("a", "b", "c")], np.uint64)
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    s.add(keys[:2], vecs[:2])
    np.save(tmp_path / "sp" / "part-000001.dense.npy", vecs[2:])  # killed before its keys were written
    s2 = Spool(tmp_path / "sp", dim=4)
    assert len(s2) == 2
    found, got = s2.lookup(keys[[2, 1, 0]])
    assert found.tolist() == [False, True, True]
    assert np.array_equal(got, vecs[[1, 0]])
    s2.add(keys[2:], vecs[2:] + 1)  # overwrites the cut part
    found, got = Spool(tmp_path / "sp", dim=4).lookup(keys)
    assert found.all() and np.array_equal(got[2], vecs[2] + 1)
    with pytest.raises(ValueError, match="4-d vectors, the model gives 8-d"):
        Spool(tmp_path / "sp", dim=8)


def test_cpu_session_without_spinning_gives_fastembeds_vectors(dense):
    """dense_embedder swaps fastembed's CPU session for one that does not busy-wait (the query
    latency fix for shared cores); the vectors must be those of fastembed's own session."""
    import onnxruntime as ort

    sess = dense.model.model
    cfg = sess.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert cfg == "0"
    fe = ort.InferenceSession(sess._model_path, providers=["CPUExecutionProvider"])  # ORT's default: spinning on
    ours = np.array(list(dense.query_embed(TEXTS)))
    dense.model.model = fe
    try:
        ref = np.array(list(dense.query_embed(TEXTS)))
    finally:
        dense.model.model = sess
    assert np.allclose(ours, ref, atol=1e-6)
