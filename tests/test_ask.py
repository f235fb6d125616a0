"""`alslm ask`: one answer for scripts, as text or one JSON line; sources numbered; empty question exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alslm_ml.disclaimer import SHORT
from alslm_ml.export.toy import build_toy_exports
from alslm_ml.serve import ask
from alslm_ml.systems import Answer, SourceRef, System

ALSLM = str(Path(sys.executable).parent / "alslm")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_exports(tmp_path_factory.getbasetemp() / "alslm_toy")


def test_ask_prints_answer_and_json(toy, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    assert ask.main(["--gguf", str(toy["q8_0"]), "What is ALS-LM?"]) == 0
    out, err = capsys.readouterr()
    text = out.strip()
    assert text and SHORT in err and SHORT not in out
    assert ask.main(["--gguf", str(toy["q8_0"]), "--json", "What", "is", "ALS-LM?"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    d = json.loads(line)
    assert d["system"] == "scratch" and d["question"] == "What is ALS-LM?" and d["text"] == text  # greedy: same answer
    assert d["completion_tokens"] > 0 and d["prompt_tokens"] > 0 and d["meta"]["backend"] == "llamacpp"
    assert d["sources"] == []


def test_empty_question_is_a_usage_error(capsys):
    assert ask.main(["   "]) == 2
    assert "question is empty" in capsys.readouterr().err
    assert ask.main([]) == 2


def test_missing_model_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    assert ask.main(["--backend", "llamacpp", "What is ALS-LM?"]) == 1
    err = capsys.readouterr().err
    assert "cannot load system 'scratch'" in err and "als-lm-q8_0.gguf" in err


class _CitingSystem(System):
    """A system whose answer carries sources, to check how ask prints them."""

    name = "rag"

    def answer(self, question, cfg, on_token=None):
        refs = [SourceRef(1, "d1", "Doc one", "https://example.org/1", "pubmed", "CC-BY"),
                SourceRef(2, "d2", "Doc two", "https://example.org/2", "clinicaltrials")]
        return Answer(system=self.name, question=question, text="See [1] and [2].", sources=refs)


def test_sources_are_numbered(monkeypatch, capsys):
    seen = {}

    def fake_load(name, **options):
        seen.update(name=name, options=options)
        return _CitingSystem()

    monkeypatch.setattr("alslm_ml.serve.chat.load_system", fake_load)
    assert ask.main(["--system", "rag", "--quant", "q4_k_m", "q?"]) == 0
    assert seen == {"name": "rag", "options": {}}  # scratch-only options are not passed on
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "See [1] and [2]."
    assert out[-2:] == ["  [1] Doc one — https://example.org/1 (pubmed, CC-BY)",
                        "  [2] Doc two — https://example.org/2 (clinicaltrials)"]


def test_console_script(toy, tmp_path):
    r = subprocess.run([ALSLM, "ask", "--gguf", str(toy["f16"]), "--json", "Which quantization types exist?"],
                       capture_output=True, text=True, timeout=120,
                       env={"ALSLM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "OLLAMA_HOST": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["meta"]["quant"] == "f16"
