"""`alslm chat` driven as a person would: the real program in a pseudo-terminal (pexpect), against a
real GGUF of the toy model made in the test; plus the scratch System on its local backends."""

import json
import os
import signal
import sys
from pathlib import Path

import pexpect
import pytest
import torch

from alslm_ml.export.toy import build_toy_exports
from alslm_ml.model import GPT, GPTConfig, load_model, save_model
from alslm_ml.runtime.base import StopFilter
from alslm_ml.scratch import load_scratch
from alslm_ml.serve.chat import banner
from alslm_ml.systems import GenerationConfig

ALSLM = str(Path(sys.executable).parent / "alslm")
PROMPT = "als-lm> "


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_exports(tmp_path_factory.getbasetemp() / "alslm_toy")


def spawn(args, log_dir, timeout=60):
    env = {**os.environ, "ALSLM_LOG_DIR": str(log_dir), "ALSLM_DATA_DIR": str(log_dir / "data"),
           "OLLAMA_HOST": "http://127.0.0.1:9", "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    child = pexpect.spawn(ALSLM, ["chat", *args], env=env, encoding="utf-8", timeout=timeout,
                          codec_errors="replace", dimensions=(50, 200))
    return child


def log_records(log_dir: Path) -> list[dict]:
    files = list(log_dir.glob("*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def test_chat_session_in_a_terminal(toy, tmp_path):
    child = spawn(["--gguf", str(toy["q8_0"])], tmp_path)
    child.expect("DISCLAIMER")
    child.expect("backend: llamacpp")
    child.expect_exact(PROMPT)
    assert "Traceback" not in child.before

    child.sendline("What is ALS-LM?")
    child.expect_exact(PROMPT)
    answer = child.before.replace("\r", "").strip()
    assert answer.startswith("What is ALS-LM?")  # the echoed input, then the answer
    assert len(answer.removeprefix("What is ALS-LM?").strip()) > 0

    child.sendline("/config temperature 0.2")
    child.expect_exact("temperature = 0.2")
    child.sendline("/config")
    child.expect(r"temperature\s+0\.2")
    child.expect(r"top_k\s+40")
    child.sendline("/config top_p 7")
    child.expect_exact("out of range")
    child.sendline("/config colour blue")
    child.expect_exact("usage: /config KEY VALUE")
    child.sendline("/help")
    child.expect_exact("/benchmark")
    child.sendline("/nope")
    child.expect_exact("unknown command /nope")
    child.expect_exact(PROMPT)  # consumed, so each expect below waits for the prompt its own line brings

    child.sendline("")  # empty input: just a new prompt
    child.expect_exact(PROMPT)
    os.write(child.child_fd, b"caf\xe9 \xff\xfe bytes?\r")  # undecodable bytes on stdin
    child.expect_exact(PROMPT)
    child.sendline("words " * 2000)  # far beyond the 256-token context
    child.expect_exact("truncated")
    child.expect_exact(PROMPT)

    child.sendintr()  # Ctrl-C at the prompt: a hint, not an exit
    child.expect_exact("Ctrl-D or /quit")
    child.sendline("/quit")
    child.expect_exact("Goodbye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in child.before

    records = log_records(tmp_path)
    assert [r["query"] for r in records][0] == "What is ALS-LM?"
    first = records[0]
    assert set(first) >= {"timestamp", "query", "response", "config", "backend"}
    assert first["backend"] == "llamacpp" and first["config"]["temperature"] == 0.7
    assert first["response"] and first["response"] in answer
    assert records[1]["config"]["temperature"] == 0.2  # the /config change applies to later exchanges
    assert "\ufffd" in records[1]["query"]
    assert len(records) == 3


def test_ctrl_c_stops_the_answer_and_ctrl_d_exits(toy, tmp_path):
    """A wide random model on the torch backend with <|eos|> made unreachable: the answer runs long
    enough to be interrupted."""
    torch.manual_seed(0)
    vocab = load_model(toy["model"]).config.vocab_size
    model = GPT(GPTConfig(vocab_size=vocab, block_size=1024, n_layer=4, n_head=4, n_embd=256, dropout=0.0))
    with torch.no_grad():
        model.transformer.wte.weight[1].zero_()  # <|eos|> (id 1) logit 0: never the greedy choice
    mdir = save_model(model, tmp_path / "slow")
    child = spawn(["--backend", "torch", "--model-dir", str(mdir), "--tokenizer", str(toy["tokenizer"]),
                   "--max-tokens", "1000"], tmp_path)
    child.expect_exact(PROMPT)
    child.sendline("/config temperature 0")
    child.expect_exact(PROMPT)
    child.sendline("Tell me a long story")
    child.expect(r"Tell me a long story\r?\n\r?\n.+", timeout=60)  # generation has started
    child.kill(signal.SIGINT)
    child.expect_exact("[stopped]")
    child.expect_exact(PROMPT)
    child.sendline("/config max_tokens 3")  # the chat goes on after an interrupted answer
    child.expect_exact("max_tokens = 3")
    child.expect_exact(PROMPT)
    child.sendline("And a short one")
    child.expect_exact("And a short one")  # the echo, so the prompt matched next is the one after the answer:
    child.expect_exact(PROMPT)  # a Ctrl-D sent while the answer is generating would be lost in the tty
    child.sendeof()  # Ctrl-D
    child.expect_exact("Goodbye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "Traceback" not in child.before
    rec, short = log_records(tmp_path)
    assert rec["interrupted"] is True and rec["backend"] == "torch" and rec["config"]["temperature"] == 0
    assert short["interrupted"] is False and short["completion_tokens"] == 3


def test_chat_reports_a_missing_model_cleanly(tmp_path):
    child = spawn(["--backend", "llamacpp"], tmp_path)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "cannot load system 'scratch'" in child.before and "gguf_models" in child.before
    assert "Traceback" not in child.before


def test_banner_has_disclaimer_and_commands():
    text = banner()
    assert "DISCLAIMER" in text and "not a medical resource" in text
    assert all(c in text for c in ("/help", "/config", "/benchmark", "/quit"))
    widths = {len(line) for line in text.splitlines()}
    assert len(widths) == 1  # a closed box


def test_llamacpp_and_torch_backends_agree_greedily(toy):
    cfg = GenerationConfig.greedy(max_tokens=24).with_(repeat_penalty=1.0)
    f16 = load_scratch("llamacpp", gguf_path=toy["f16"])
    pt = load_scratch("torch", model_dir=toy["model"], tokenizer_path=toy["tokenizer"])
    for q in ("What is ALS-LM?", "Which quantization types exist?"):
        streamed = []
        a = f16.answer(q, cfg, on_token=streamed.append)
        b = pt.answer(q, cfg)
        assert a.text == b.text and a.text
        assert "".join(streamed).strip() == a.text
        assert a.prompt_tokens == b.prompt_tokens > 5
        assert 0 < a.completion_tokens <= 24 and a.first_token_seconds <= a.seconds
    f16.close()


def test_sampling_is_seeded(toy):
    system = load_scratch("llamacpp", gguf_path=toy["q8_0"])
    cfg = GenerationConfig(temperature=1.0, max_tokens=20, seed=7)
    first = system.answer("What is ALS-LM?", cfg).text
    assert system.answer("What is ALS-LM?", cfg).text == first
    system.close()


def test_stop_filter_holds_back_a_new_turn():
    out = []
    f = StopFilter(out.append)
    for piece in [" Hello", " there\n", "Us", "er: next question"]:
        if not f.feed(piece):
            break
    f.flush()
    assert f.text == "Hello there" and "".join(out) == "Hello there" and f.stopped
    quiet = StopFilter(None)
    quiet.feed("a\nUs")
    quiet.flush()
    assert quiet.text == "a\nUs"  # not a stop: released at the end


def test_benchmark_command_scores_the_current_system(toy, tmp_path, monkeypatch):
    import io

    from alslm_ml.cli import benchmark_in_chat
    from alslm_ml.serve.chat import Chat

    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    system = load_scratch("llamacpp", gguf_path=toy["q4_k_m"])
    out = io.StringIO()
    chat = Chat(system, "scratch", "llamacpp", GenerationConfig(max_tokens=16), out=out, log_path=tmp_path / "l.jsonl",
                run_benchmark=benchmark_in_chat)
    assert chat.command("/benchmark 2") is True
    text = out.getvalue()
    assert "on 2 questions" in text and "mean_accuracy" in text
    (summary,) = list((tmp_path / "eval" / "chat").glob("scratch-llamacpp-*/summary.json"))
    assert json.loads(summary.read_text())["n"] == 2
    chat.command("/benchmark lots")
    assert "usage: /benchmark [N]" in out.getvalue()
    system.close()


def test_benchmark_needs_an_evaluation_wired_in(tmp_path):
    """serve does not import eval: a Chat built without run_benchmark says so instead of failing."""
    import io

    from alslm_ml.serve.chat import Chat

    class Silent:
        def describe(self):
            return {}

    out = io.StringIO()
    chat = Chat(Silent(), "scratch", "llamacpp", GenerationConfig(), out=out, log_path=tmp_path / "l.jsonl")
    assert chat.command("/benchmark 2") is True
    assert "no evaluation is wired into this chat" in out.getvalue()
