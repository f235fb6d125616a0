"""Ollama path: Modelfile content, registration and answering through the official `ollama` client
against recorded responses of Ollama's HTTP API (tests/fixtures/ollama, served by httpx.MockTransport)."""

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from alslm_ml.disclaimer import SCRATCH_SYSTEM_PROMPT
from alslm_ml.export import ollama as packaging
from alslm_ml.runtime import ollama
from alslm_ml.scratch import load_scratch
from alslm_ml.systems import GenerationConfig

FIX = Path(__file__).parent / "fixtures" / "ollama"


class FakeOllama:
    """Routes requests to recorded responses and keeps every request for assertions."""

    def __init__(self, models=True):
        self.requests: list[httpx.Request] = []
        self.blobs: dict[str, bytes] = {}
        self.models = models

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        ndjson = {"content-type": "application/x-ndjson"}
        if path == "/api/version":
            return httpx.Response(200, content=(FIX / "version.json").read_bytes())
        if path == "/api/tags":
            body = (FIX / "tags.json").read_bytes() if self.models else b'{"models":[]}'
            return httpx.Response(200, content=body)
        if path.startswith("/api/blobs/"):
            data = request.read()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if path.rsplit("/", 1)[1] != digest:
                return httpx.Response(400, json={"error": "digest mismatch"})
            self.blobs[digest] = data
            return httpx.Response(201)
        if path == "/api/create":
            body = json.loads(request.content)
            missing = [d for d in body.get("files", {}).values() if d not in self.blobs]
            if missing:
                return httpx.Response(400, json={"error": f"blob {missing[0]} not found"})
            return httpx.Response(200, content=(FIX / "create.ndjson").read_bytes(), headers=ndjson)
        if path == "/api/generate":
            return httpx.Response(200, content=(FIX / "generate.ndjson").read_bytes(), headers=ndjson)
        if path == "/api/show":
            return httpx.Response(200, content=(FIX / "show.json").read_bytes())
        if path == "/api/chat":
            return httpx.Response(200, content=(FIX / "chat.ndjson").read_bytes(), headers=ndjson)
        return httpx.Response(404, json={"error": f"no route {path}"})

    def bodies(self, path: str) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]


def test_modelfile_is_the_designs(tmp_path):
    gguf = tmp_path / "als-lm-q5_k_m.gguf"
    gguf.write_bytes(b"GGUF")
    mf = packaging.write_modelfile(gguf, num_ctx=1024)
    assert mf.name == "als-lm-q5_k_m.Modelfile"
    text = mf.read_text()
    assert text.startswith("FROM ./als-lm-q5_k_m.gguf\n")
    for line in ["PARAMETER temperature 0.7", "PARAMETER top_p 0.9", "PARAMETER top_k 40",
                 "PARAMETER repeat_penalty 1.1", "PARAMETER num_ctx 1024", 'PARAMETER stop "<|eos|>"']:
        assert line in text.splitlines()
    assert f'SYSTEM """{SCRATCH_SYSTEM_PROMPT}\n"""' in text
    assert 'TEMPLATE """{{- if .System }}{{ .System }}\n{{ end }}' in text
    assert text.rstrip().endswith('{{- end }}Assistant: """')
    assert packaging.create_command(mf) == f"cd {tmp_path} && ollama create als-lm -f als-lm-q5_k_m.Modelfile"


def test_register_uploads_blob_and_creates_model(tmp_path):
    gguf = tmp_path / "als-lm-q5_k_m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    fake = FakeOllama()
    cli = ollama.client("http://ollama.test:11434", transport=httpx.MockTransport(fake))
    seen = []
    statuses = packaging.register(cli, gguf, num_ctx=256, on_status=seen.append)
    assert statuses[0] == "parsing GGUF" and statuses[-1] == "success" and seen == statuses
    digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert fake.blobs == {digest: gguf.read_bytes()}
    (body,) = fake.bodies("/api/create")
    assert body["model"] == "als-lm" and body["files"] == {"als-lm-q5_k_m.gguf": digest}
    assert body["system"] == SCRATCH_SYSTEM_PROMPT and body["template"] == packaging.TEMPLATE
    assert body["parameters"]["num_ctx"] == 256 and body["parameters"]["temperature"] == 0.7
    reply = packaging.ask_once(cli, "What is ALS-LM?")
    assert reply["text"] == "ALS-LM is a research project, not a medical resource."
    assert reply["eval_count"] == 7 and reply["prompt_eval_count"] == 142
    (chat,) = fake.bodies("/api/chat")
    assert chat["messages"] == [{"role": "user", "content": "What is ALS-LM?"}] and chat["stream"] is True


def test_register_fails_loudly_without_success(tmp_path):
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")

    def handler(request):
        if request.url.path == "/api/create":
            return httpx.Response(200, content=b'{"status":"parsing GGUF"}\n', headers={"content-type": "application/x-ndjson"})
        return httpx.Response(201)

    cli = ollama.client("http://ollama.test", transport=httpx.MockTransport(handler))
    with pytest.raises(RuntimeError, match="did not report success"):
        packaging.register(cli, gguf, 256, on_status=lambda s: None)


def test_server_version_and_unreachable_server():
    assert ollama.server_version("http://ollama.test", transport=httpx.MockTransport(FakeOllama())) == "0.6.5"

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    assert ollama.server_version("http://ollama.test", transport=httpx.MockTransport(refuse)) is None


def test_scratch_ollama_backend_streams_and_stops_at_new_turn(tmp_path):
    fake = FakeOllama()
    system = load_scratch("ollama", host="http://ollama.test", transport=httpx.MockTransport(fake),
                          tokenizer_path=tmp_path / "none.json")
    pieces = []
    ans = system.answer("What is ALS-LM?", GenerationConfig.greedy(max_tokens=9), on_token=pieces.append)
    assert ans.text == "ALS-LM is a research project, not a medical resource."
    assert "User" not in "".join(pieces) and "".join(pieces).strip() == ans.text
    # the answer stopped at "User:" before the final chunk: 8 streamed chunks, prompt uncounted
    # (no tokenizer); a stream that reaches done takes the server's counts
    assert ans.completion_tokens == 8 and ans.prompt_tokens == 0
    assert ans.first_token_seconds is not None and ans.meta["backend"] == "ollama"
    (body,) = fake.bodies("/api/generate")
    assert body["raw"] is True and body["prompt"] == "<|eos|>User: What is ALS-LM?\nAssistant:"
    assert body["options"]["temperature"] == 0.0 and body["options"]["num_predict"] == 9
    assert body["options"]["stop"] == ["<|eos|>", "\nUser:"]
    ans = system.answer("What is ALS-LM?", GenerationConfig.greedy(max_tokens=5))
    assert ans.text == "ALS-LM is a research project, not a medical resource."


def test_auto_backend_prefers_ollama_only_when_model_is_registered(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    system = load_scratch("auto", host="http://ollama.test", transport=httpx.MockTransport(FakeOllama()))
    assert system.describe()["backend"] == "ollama"
    with pytest.raises(FileNotFoundError, match="no scratch model"):
        load_scratch("auto", host="http://ollama.test", transport=httpx.MockTransport(FakeOllama(models=False)))


def test_ollama_backend_fits_long_questions_to_the_servers_context(tmp_path):
    from alslm_ml.export.toy import toy_text, train_tokenizer

    tok = train_tokenizer(tmp_path / "tokenizer.json", toy_text())
    fake = FakeOllama()
    system = load_scratch("ollama", host="http://ollama.test", transport=httpx.MockTransport(fake), tokenizer_path=tok)
    assert system.runtime.n_ctx == 256  # from /api/show model_info
    ans = system.answer("word " * 390, GenerationConfig.greedy(max_tokens=64))  # under MAX_QUESTION_CHARS, over 256 tokens
    assert ans.meta["truncated_question"] is True
    (body,) = fake.bodies("/api/generate")
    from tokenizers import Tokenizer

    n = len(Tokenizer.from_file(str(tok)).encode(body["prompt"]).ids)
    assert n <= 256 - 64  # prompt + the reserved answer budget fit the context


def test_a_dead_server_is_one_clear_error_for_raw_completion():
    runtime = ollama.Ollama("als-lm", "http://127.0.0.1:9", timeout=3)
    assert runtime.n_ctx == 0  # /api/show did not answer: no truncation
    with pytest.raises(ConnectionError, match="Ollama server at http://127.0.0.1:9 does not answer"):
        runtime.complete("User: What is ALS?\nAssistant:", GenerationConfig.greedy())
