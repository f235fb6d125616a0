"""Fault injection: every probe of issue 11 (bad input, torn files, hostile servers) run against a
temporary data directory. Each asserts the user sees one line naming the file/field (exit code 2
for the CLI) and that nothing already written changed (checksums of the tree before and after).
docs/failures.md lists the same faults and what the user sees."""

import hashlib
import json
import logging
import time
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest

from alslm_ml import cli
from alslm_ml.documents import Document
from alslm_ml.systems import MAX_QUESTION_CHARS, Answer, GenerationConfig, QuestionTooLong, System

VOCAB = 64


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (sha256, mtime_ns)} for every file under root (directories by their file list)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    rc = cli.main(list(argv))
    err = capsys.readouterr().err
    return rc, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if "error" in ln.lower() or ln.startswith("alslm")]
    assert lines, err
    assert "Traceback" not in err, err
    return lines[-1]


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("ALSLM_DATA_DIR", str(d))
    monkeypatch.delenv("ALSLM_DEBUG", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    return d


# ------------------------------------------------------------------------------ training


@pytest.fixture
def finished_run(data_dir) -> Path:
    """Token streams plus a run directory that holds a finished run."""
    tokens = data_dir / "tokens"
    tokens.mkdir()
    rng = np.random.default_rng(0)
    rng.integers(2, VOCAB, 4000, dtype=np.uint16).tofile(tokens / "train.bin")
    rng.integers(2, VOCAB, 800, dtype=np.uint16).tofile(tokens / "val.bin")
    (tokens / "meta.json").write_text(json.dumps({"vocab_size": VOCAB, "dtype": "uint16", "eos_id": 1}))
    run = data_dir / "checkpoints" / "micro"
    for sub in ("best/model", "step_10/model", "step_20/model"):
        (run / sub).mkdir(parents=True)
        (run / sub / "model.safetensors").write_bytes(b"weights of " + sub.encode())
    (run / "summary.json").write_text(json.dumps({"finished": True, "steps": 20}))
    (run / "metrics.csv").write_text("step,train_loss\n1,5.0\n20,3.0\n")
    return run


@pytest.mark.parametrize("override, field", [("max_steps=abc", "max_steps"), ("batch_size=-4", "batch_size"),
                                             ("max_step=3", "max_step"), ("lr=[1]", "lr")])
def test_bad_training_override_touches_nothing(capsys, data_dir, finished_run, override, field):
    before = tree_digest(data_dir)
    rc, err = run_cli(capsys, "train", "--config", "micro", "--set", override)
    assert rc == 2
    line = one_error_line(err)
    assert f"--set {override}" in line and repr(field) in line
    assert tree_digest(data_dir) == before


def test_finished_run_is_never_deleted_implicitly(capsys, data_dir, finished_run):
    before = tree_digest(data_dir)
    rc, err = run_cli(capsys, "train", "--config", "micro")
    assert rc == 2 and "holds a finished run; nothing was changed" in err and "--overwrite" in err
    rc, err = run_cli(capsys, "train", "--config", "micro", "--no-resume")
    assert rc == 2 and "--overwrite" in err
    assert tree_digest(data_dir) == before


def test_overwrite_archives_the_finished_run(capsys, data_dir, finished_run):
    before = tree_digest(finished_run)
    rc, _ = run_cli(capsys, "train", "--config", "micro", "--overwrite", "--set", "max_steps=2",
                    "--set", "eval_interval=1", "--set", "checkpoint_interval=1")
    assert rc == 0
    archived = sorted(finished_run.parent.glob("micro.archived-*"))
    assert len(archived) == 1 and tree_digest(archived[0]) == before
    assert json.loads((finished_run / "summary.json").read_text())["steps"] == 2


@pytest.mark.parametrize("content, expect", [
    ("preset: nosuch\n", "field 'preset' is 'nosuch'; expected one of tiny, micro"),
    ("preset: micro\nmax_steps: [unclosed\n", "not valid YAML at line"),
    ("preset: micro\nbatchsize: 4\n", "unknown training option(s) ['batchsize']"),
    ("preset: micro\nmodel_overrides: {n_layers: 2}\n", "model_overrides.n_layers is not a model field"),
    ("preset: micro\ndevice: tpu\n", "field 'device' is 'tpu'; expected auto, cpu or cuda"),
    ("- a list\n", "expected a mapping of training options"),
])
def test_bad_training_yaml_names_the_file(capsys, data_dir, finished_run, tmp_path, content, expect):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(content)
    before = tree_digest(data_dir)
    rc, err = run_cli(capsys, "train", "--config", str(cfg))
    line = one_error_line(err)
    assert rc == 2 and str(cfg) in line and expect in line, line
    assert tree_digest(data_dir) == before


def test_every_training_field_has_a_rule():
    from dataclasses import fields

    from alslm_ml.train.config import PRESETS, RULES, TrainConfig, load_train_config

    assert set(RULES) == {f.name for f in fields(TrainConfig)}
    for name in PRESETS:  # the shipped presets pass their own validation
        load_train_config(name)


def test_debug_flag_shows_the_traceback(capsys, data_dir, monkeypatch):
    from alslm_ml.errors import UserError

    with pytest.raises(UserError, match="nosuch"):
        cli.main(["--debug", "train", "--config", "micro", "--set", "nosuch=1"])
    monkeypatch.delenv("ALSLM_DEBUG")
    rc, err = run_cli(capsys, "train", "--config", "micro", "--set", "nosuch=1")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--debug" in err


# ------------------------------------------------------------------------------ evaluation


class EchoSystem(System):
    name = "echo"

    def __init__(self):
        self.asked = []

    def answer(self, question, cfg, on_token=None):
        self.asked.append(question)
        return Answer(self.name, question, "Riluzole is approved for ALS.")


def test_eval_resume_cache_skips_a_torn_last_line(tmp_path, caplog):
    from alslm_ml.benchmark import load_benchmark
    from alslm_ml.eval.runner import evaluate

    qs = load_benchmark()[:3]
    out = tmp_path / "eval"
    evaluate(EchoSystem(), qs, out, resume=True)
    cache = out / "responses.jsonl"
    good = cache.read_bytes()
    lines = good.splitlines(keepends=True)
    cache.write_bytes(b"".join(lines[:2]) + lines[2][:25])  # killed while writing the third answer
    kept = cache.read_bytes()
    system = EchoSystem()
    with caplog.at_level(logging.WARNING):
        summary = evaluate(system, qs, out, resume=True)
    assert summary["n"] == 3 and system.asked == [qs[2].question]  # only the torn answer is asked again
    assert "responses.jsonl:3: skipping a cut-off" in caplog.text
    assert cache.read_bytes().startswith(kept)  # nothing already written changed
    again = EchoSystem()
    evaluate(again, qs, out, resume=True)
    assert again.asked == []


def test_eval_cli_bad_benchmark_and_missing_system(capsys, data_dir, tmp_path):
    before = tree_digest(data_dir)
    rc, err = run_cli(capsys, "eval", "--system", "rag", "--benchmark", str(tmp_path), "--out", str(tmp_path / "o"))
    assert rc == 2 and f"{tmp_path}: is a directory" in err and "Traceback" not in err
    latin = tmp_path / "bench.json"
    latin.write_bytes('{"questions": [{"id": "caf\xe9"}]}'.encode("latin-1"))
    rc, err = run_cli(capsys, "eval", "--system", "rag", "--benchmark", str(latin), "--out", str(tmp_path / "o"))
    assert rc == 2 and f"{latin}: not UTF-8" in err
    for bad, expect in ((["--max-tokens", "0"], "max_tokens is 0; expected an integer in [1, 4096]"),
                        (["--threshold", "101"], "threshold is 101.0"), (["--limit", "-1"], "limit is -1")):
        rc, err = run_cli(capsys, "eval", "--system", "rag", "--out", str(tmp_path / "o"), *bad)
        assert rc == 2 and expect in err, err
    rc, err = run_cli(capsys, "eval", "--system", "scratch", "--backend", "torch", "--out", str(tmp_path / "o"))
    assert rc == 2 and "cannot load system 'scratch'" in err and "Traceback" not in err
    assert tree_digest(data_dir) == before


def _eval_frames(system: str, n: int = 3):
    from alslm_ml.benchmark import load_benchmark
    from alslm_ml.eval.runner import evaluate, load_eval_results, tables

    class Named(EchoSystem):
        name = system

    out = Path(f"/tmp/alslm-faults-{system}-{time.time_ns()}")
    evaluate(Named(), load_benchmark()[:n], out, label=system)
    return tables(load_eval_results(out)[0])


def test_eval_store_failing_insert_keeps_the_old_rows(tmp_path):
    from alslm_ml.eval.store import store_results

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        store_results(con, _eval_frames("rag"), ["rag"])
    with duckdb.connect(str(db)) as con:
        before = {t: con.execute(f"SELECT * FROM alslm.eval_{t} ORDER BY ALL").fetchall()
                  for t in ("responses", "scores", "taxonomy")}
    bad = _eval_frames("rag")
    bad["scores"] = bad["scores"].assign(accuracy="not a number")  # fails after eval_responses was replaced
    with pytest.raises(duckdb.Error), duckdb.connect(str(db)) as con:
        store_results(con, bad, ["rag"])
    with duckdb.connect(str(db)) as con:
        after = {t: con.execute(f"SELECT * FROM alslm.eval_{t} ORDER BY ALL").fetchall()
                 for t in ("responses", "scores", "taxonomy")}
    assert after == before and len(after["responses"]) == 3


def test_replace_rows_is_one_transaction(tmp_path):
    from alslm_ml.warehouse import replace_rows

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    replace_rows(con, "t", pd.DataFrame({"source": ["a", "a", "b"], "n": [1, 2, 3]}))
    with pytest.raises(duckdb.Error):
        replace_rows(con, "t", pd.DataFrame({"source": ["a"], "n": ["not a number"]}), "source = ?", ["a"])
    assert con.execute("SELECT source, n FROM t ORDER BY n").fetchall() == [("a", 1), ("a", 2), ("b", 3)]
    replace_rows(con, "t", pd.DataFrame({"source": ["a"], "n": [9]}), "source = ?", ["a"])
    assert con.execute("SELECT source, n FROM t ORDER BY n").fetchall() == [("b", 3), ("a", 9)]


def test_io_manager_failing_partition_write_keeps_the_old_rows(tmp_path):
    from dagster import Config, StaticPartitionsDefinition, asset, materialize

    from alslm_assets.resources import AtomicDuckDBPandasIOManager

    class C(Config):
        bad: bool = False

    @asset(partitions_def=StaticPartitionsDefinition(["a", "b"]), metadata={"partition_expr": "source"})
    def table(context, config: C) -> pd.DataFrame:
        if config.bad:
            return pd.DataFrame({"source": [context.partition_key], "n": ["not a number"]})
        return pd.DataFrame({"source": [context.partition_key] * 2, "n": [1, 2]})

    db = str(tmp_path / "w.duckdb")
    io = {"io_manager": AtomicDuckDBPandasIOManager(database=db, schema="alslm")}
    assert materialize([table], partition_key="a", resources=io).success
    assert materialize([table], partition_key="b", resources=io).success
    bad = materialize([table], partition_key="a", resources=io, raise_on_error=False,
                      run_config={"ops": {"table": {"config": {"bad": True}}}})
    assert not bad.success
    with duckdb.connect(db, config={"custom_user_agent": "dagster"}) as con:
        rows = con.execute("SELECT source, n FROM alslm.table ORDER BY ALL").fetchall()
    assert rows == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]


# ------------------------------------------------------------------------------ review


def test_review_rejects_bad_input_and_unsafe_reviewer(capsys, tmp_path):
    d = tmp_path / "eval" / "rag"
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"not": "a results file"}))
    before = tree_digest(tmp_path)
    rc, err = run_cli(capsys, "review", str(d))
    assert rc == 2 and f"{d / 'results.json'}: not an evaluation results file" in err
    rc, err = run_cli(capsys, "review", str(d), "--reviewer", "../../../x")
    assert rc == 2 and "--reviewer '../../../x'" in err
    rc, err = run_cli(capsys, "review", "kappa", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"))
    assert rc == 2 and f"{tmp_path / 'a.jsonl'} does not exist" in err and "share no" not in err
    assert tree_digest(tmp_path) == before and not (tmp_path.parent / "x.jsonl").exists()


# ------------------------------------------------------------------------------ spool


def _doc(doc_id: str, text: str = "ALS text") -> Document:
    return Document(id=doc_id, source="pubmed", url="https://example.org", title=doc_id, text=text,
                    date_accessed="2026-01-01", license="CC-BY-4.0", metadata={})


def test_spool_ids_never_share_a_file(tmp_path):
    from alslm_ml.sources.spool import Spool

    spool = Spool(tmp_path, "pubmed")
    for i, doc_id in enumerate(["pubmed:a/b", "pubmed:a_b", "pubmed:a:b"]):
        spool.write(f"item{i}", [_doc(doc_id, f"text {i}")])
    docs = spool.documents()
    assert sorted(d.id for d in docs) == ["pubmed:a/b", "pubmed:a:b", "pubmed:a_b"]
    assert {d.id: d.text for d in docs}["pubmed:a/b"] == "text 0"
    assert len(list(spool.dir.glob("*.json"))) == 3


def test_corrupt_spooled_document_is_fetched_again_after_deleting_it(tmp_path):
    from alslm_ml.sources.spool import Spool

    spool = Spool(tmp_path, "pubmed")
    spool.write("item1", [_doc("pubmed:1")])
    spool.write("item2", [_doc("pubmed:2")])
    bad = spool.path_for("pubmed:2")
    bad.write_text('{"id": "pubmed:2", "tex')  # torn by a crash or a full disk
    with pytest.raises(ValueError, match="delete it and scrape again"):
        spool.documents()
    bad.unlink()
    again = Spool(tmp_path, "pubmed")
    assert again.done("item1") and not again.done("item2")


# ------------------------------------------------------------------------------ question cap


def test_every_system_refuses_an_over_long_question():
    system = EchoSystem()
    with pytest.raises(QuestionTooLong, match=f"limit is {MAX_QUESTION_CHARS:,}"):
        system.answer("x" * (MAX_QUESTION_CHARS + 1), GenerationConfig())
    with pytest.raises(QuestionTooLong):
        system.answer(question="x" * 100_000, cfg=GenerationConfig())
    assert system.asked == []
    assert system.answer("What is ALS?", GenerationConfig()).text
    from alslm_ml.finetune.system import ChatModelSystem
    from alslm_ml.rag.system import BaselineSystem, RagSystem
    from alslm_ml.scratch import ScratchSystem

    for cls in (RagSystem, BaselineSystem, ScratchSystem, ChatModelSystem):  # the shipped systems
        assert getattr(cls.answer, "_checks_question", False), cls


def test_ask_refuses_a_100kb_question_fast(capsys, monkeypatch):
    from alslm_ml.serve import ask

    monkeypatch.setattr(ask, "build_system", lambda args: pytest.fail("the system must not be loaded"))
    t0 = time.perf_counter()
    rc, err = run_cli(capsys, "ask", "--system", "base", "x" * 100_000)
    assert rc == 2 and "the limit is 2,000" in err and time.perf_counter() - t0 < 5


def test_app_refuses_long_questions_and_hides_internals():
    from alslm_ml.serve.app import SystemCache, launch_options, stream_answer

    cache = SystemCache(lambda name: EchoSystem())
    out = list(stream_answer(cache, "rag", "y" * (MAX_QUESTION_CHARS + 1), GenerationConfig()))
    assert len(out) == 1 and "the limit is 2,000" in out[0][2]

    class Broken(System):
        def answer(self, question, cfg, on_token=None):
            raise RuntimeError("/secret/path/model.gguf exploded")

    def missing(name):
        raise FileNotFoundError("/secret/data/finetune/merged does not exist")

    failed = list(stream_answer(SystemCache(lambda n: Broken()), "rag", "What is ALS?", GenerationConfig()))[-1]
    unavailable = list(stream_answer(SystemCache(missing), "finetuned", "What is ALS?", GenerationConfig()))[-1]
    assert "/secret" not in failed[0] and "RuntimeError" in failed[0]
    assert "/secret" not in unavailable[0] and "finetuned_model" in unavailable[0]
    assert launch_options("127.0.0.1", 7860)["show_error"] is False
    import gradio as gr

    from alslm_ml.serve.app import build_app

    page = build_app(("rag",), "rag", loader=lambda name: EchoSystem())
    (box,) = [b for b in page.blocks.values() if isinstance(b, gr.Textbox)]
    assert box.max_length == MAX_QUESTION_CHARS and page.analytics_enabled is False


def test_app_warns_on_public_host_and_turns_analytics_off(capsys, monkeypatch):
    import os

    from alslm_ml.serve import app

    launched = {}

    class FakeApp:
        def launch(self, **kw):
            launched.update(kw)

    monkeypatch.setattr(app, "build_app", lambda *a, **k: FakeApp())
    assert app.main(["--host", "0.0.0.0"]) == 0
    assert "WARNING: binding to 0.0.0.0" in capsys.readouterr().err
    assert launched["show_error"] is False and launched["share"] is False
    assert app.main(["--host", "127.0.0.1"]) == 0
    assert "WARNING" not in capsys.readouterr().err
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert app.is_loopback("::1") and app.is_loopback("localhost") and not app.is_loopback("192.168.1.5")


# ------------------------------------------------------------------------------ scraper


def _client(handler, **kw):
    from alslm_ml.sources.http import PoliteClient

    return PoliteClient({"example.org"}, "ALS-LM tests", rate=1000.0, max_tries=2, backoff=0.0,
                        transport=httpx.MockTransport(handler), sleep=lambda s: None, **kw)


def test_scraper_stops_reading_past_the_byte_limit():
    from alslm_ml.sources.http import TooLarge

    sent = []

    def endless():
        for _ in range(300 * 16):  # 300 MiB in 64 KiB chunks, if anyone read it all
            sent.append(1)
            yield b"x" * 65536

    client = _client(lambda r: httpx.Response(200, content=endless()), max_bytes=1024 * 1024)
    with pytest.raises(TooLarge, match="over the 1,048,576-byte limit"):
        client.get("https://example.org/huge")
    assert len(sent) <= 17 and client.requests == 1  # stopped at ~1 MiB, not retried
    declared = _client(lambda r: httpx.Response(200, headers={"Content-Length": str(10**9)}, content=b"x"),
                       max_bytes=1024)
    with pytest.raises(TooLarge, match="1,000,000,000 bytes"):
        declared.get("https://example.org/declared")


def test_scraper_deadline_stops_a_dripping_server():
    from alslm_ml.sources.http import FetchError

    def drip():
        for _ in range(1000):
            time.sleep(0.01)
            yield b"."

    client = _client(lambda r: httpx.Response(200, content=drip()), deadline=0.1)
    t0 = time.perf_counter()
    with pytest.raises(FetchError, match="deadline after 2 tries"):
        client.get("https://example.org/slow")
    assert time.perf_counter() - t0 < 2


def test_scraper_refuses_https_to_http_redirect():
    from alslm_ml.sources.http import SchemeDowngrade

    def handler(request):
        if request.url.scheme == "https":
            return httpx.Response(301, headers={"Location": "http://example.org/plain"})
        return httpx.Response(200, text="tampered")

    with pytest.raises(SchemeDowngrade, match="from https to http"):
        _client(handler).get("https://example.org/page")
    ok = _client(lambda r: httpx.Response(200, text="fine") if r.url.path == "/b" else
                 httpx.Response(302, headers={"Location": "https://example.org/b"}))
    assert ok.get("https://example.org/a").text == "fine"


@pytest.mark.parametrize("edit, expect", [
    (lambda r: r["settings"].update(max_tries=0), "settings.max_tries: 0 is out of range"),
    (lambda r: r["settings"].update(timeout_s=-1), "settings.timeout_s: -1 is out of range"),
    (lambda r: r["settings"].update(backoff_s=-2), "settings.backoff_s: -2 is out of range"),
    (lambda r: r["pubmed"].update(base_url="http://eutils.ncbi.nlm.nih.gov/x"), "pubmed.base_url: expected an https://"),
    (lambda r: r["clinicaltrials"].update(base_url="http://clinicaltrials.gov/api"), "clinicaltrials.base_url"),
    (lambda r: r["settings"].update(max_trys=3), "settings: unknown field(s) ['max_trys']"),
    (lambda r: r.update(educatonal=[]), "<root>: unknown field(s) ['educatonal']"),
    (lambda r: r["pubmed"].update(page_size=0), "pubmed.page_size: 0 is out of range"),
    (lambda r: r["settings"].update(max_response_mb=0), "settings.max_response_mb"),
])
def test_sources_yaml_rejects_bad_values(tmp_path, edit, expect):
    import yaml

    from alslm_ml.sources.config import DEFAULT_PATH, ConfigError, load_sources_config

    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    edit(raw)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_sources_config(path)
    assert str(info.value).startswith(f"{path}: ") and expect in str(info.value), info.value


# ------------------------------------------------------------------------------ broken artifacts


def test_truncated_gguf_names_the_file_and_the_fix(tmp_path):
    from alslm_ml.runtime.llamacpp import LlamaCpp

    gguf = tmp_path / "als-lm-q8_0.gguf"
    gguf.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 20)  # a header cut short
    before = tree_digest(tmp_path)
    with pytest.raises(ValueError) as info:
        LlamaCpp(gguf, n_threads=1)
    assert str(gguf) in str(info.value) and "gguf_models" in str(info.value)
    assert tree_digest(tmp_path) == before


def test_corrupt_tokenizer_names_the_file(tmp_path):
    from alslm_ml.model import GPT, GPTConfig, save_model
    from alslm_ml.runtime.torch_gpt import TorchGPT

    save_model(GPT(GPTConfig(vocab_size=VOCAB, block_size=16, n_layer=1, n_head=1, n_embd=8)), tmp_path / "model")
    tok = tmp_path / "tokenizer.json"
    tok.write_text('{"version": "1.0", "model": {')
    with pytest.raises(ValueError) as info:
        TorchGPT(tmp_path / "model", tok)
    assert str(tok) in str(info.value) and "tokenizer" in str(info.value)


# ------------------------------------------------------------------------------ index


def test_query_does_not_write_into_the_index(tmp_path):
    from alslm_ml.rag.index import EdgeStore, Record, build_edge

    rng = np.random.default_rng(0)
    recs = [Record(id=i, dense=rng.random(8).tolist(), sparse_indices=[i % 5, 7], sparse_values=[1.0, 0.5],
                   payload={"text": f"chunk {i}", "source": "starter", "doc_id": f"d{i}"}) for i in range(40)]
    live = build_edge([recs], 8, {"model": "test"}, root=tmp_path)
    first = EdgeStore(live)  # the first open after a build, then a later one
    first.close()
    before = tree_digest(live.resolve())
    time.sleep(0.02)  # a rewrite would show as a new mtime
    store = EdgeStore(live)
    hits = store.search([0.5] * 8, ([1, 7], [1.0, 1.0]), k=3)
    view = store.view
    store.close()
    assert len(hits) == 3 and hits[0].payload["doc_id"].startswith("d")
    assert tree_digest(live.resolve()) == before
    assert not view.exists()
    import gc
    import tempfile

    unclosed = EdgeStore(live).view
    gc.collect()  # a store nobody closed leaves no view behind
    assert not unclosed.exists()
    stale = Path(tempfile.gettempdir()) / "alslm-qdrant-view-999999999-killed"
    stale.mkdir(exist_ok=True)  # a view of a process that was killed (no such pid)
    EdgeStore(live).close()
    assert not stale.exists()
