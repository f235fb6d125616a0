"""The web chat app, driven end to end in a real headless Chromium through Playwright.

test_app_in_browser: the real Gradio app with a small deterministic System (streams words with
pauses, cites a source), checking streaming, sources, the disclaimer, settings reaching the system
and the message for a system whose artifacts are missing. test_app_cli_base_model (slow): `alslm
app` started as a process with the real SmolLM2 base system, answering a typed question.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alslm_ml.disclaimer import FULL
from alslm_ml.systems import Answer, GenerationConfig, SourceRef, System

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WordSystem(System):
    """Answers with fixed words, one token at a time, and cites one source."""

    name = "words"

    def __init__(self):
        self.configs: list[GenerationConfig] = []

    def answer(self, question, cfg, on_token=None):
        self.configs.append(cfg)
        words = ["Motor", " neurons", " degenerate", f" (max_tokens={cfg.max_tokens})."]
        for w in words:
            time.sleep(0.3)
            if on_token:
                on_token(w)
        src = SourceRef(index=1, doc_id="doc-1", title="Starter document one", url="https://example.org/doc-1",
                        source="starter", license="CC-BY-4.0")
        return Answer(system="rag", question=question, text="".join(words), sources=[src], completion_tokens=4)


@pytest.fixture()
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _set_max_tokens(page, n: int) -> None:
    """Type n into the max_tokens box. Gradio may re-render the box while the accordion opens,
    dropping an early edit, so the edit is repeated until the slider shows it (the test then
    checks that the system really received n)."""
    page.get_by_text("Generation settings").click()
    box = page.locator("#max_tokens input[type=number]")
    box.wait_for(state="visible")
    synced = f"document.querySelector('#max_tokens input[type=range]').value == '{n}'"
    for _ in range(4):
        box.fill(str(n))
        box.press("Tab")
        try:
            page.wait_for_function(synced, timeout=5000)
            return
        except Exception:  # playwright TimeoutError: edit lost in a re-render, type it again
            continue
    raise AssertionError(f"max_tokens slider never showed {n}")


def _ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


def test_app_in_browser(browser):
    from alslm_ml.serve.app import build_app

    words = WordSystem()

    def loader(name):
        if name == "finetuned":
            raise FileNotFoundError("no fine-tuned model at /nowhere/merged")
        return words

    port = free_port()
    demo = build_app(("rag", "finetuned"), "rag", loader=loader)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        assert "research project, not a medical resource" in page.locator("#disclaimer").inner_text()

        # settings reach the system
        _set_max_tokens(page, 64)

        _ask(page, "What happens to motor neurons?")
        answer = page.locator("#answer")
        # streaming: a partial answer is visible before the last word arrives
        page.wait_for_function("document.querySelector('#answer').innerText.includes('neurons')", timeout=20000)
        assert "max_tokens" not in answer.inner_text()
        page.wait_for_function("document.querySelector('#answer').innerText.includes('max_tokens=64')", timeout=20000)
        assert answer.inner_text().strip() == "Motor neurons degenerate (max_tokens=64)."
        page.wait_for_function("document.querySelector('#sources').innerText.includes('Starter document one')",
                               timeout=20000)
        assert page.locator("#sources a").get_attribute("href") == "https://example.org/doc-1"
        assert words.configs[-1].max_tokens == 64 and words.configs[-1].temperature == 0.0

        # a system without artifacts names the asset to materialize
        page.locator("#system input").click()
        page.get_by_role("option", name="SmolLM2-135M-Instruct + LoRA (fine-tuned)").click()
        _ask(page, "What is ALS?")
        page.wait_for_function("document.querySelector('#answer').innerText.includes('finetuned_model')", timeout=20000)
        assert "not available" in answer.inner_text()
        assert FULL.split(":")[1].strip()[:40] in page.locator("#disclaimer").inner_text()
    finally:
        demo.close()


@pytest.mark.slow
def test_app_cli_base_model(browser, tmp_path):
    """`alslm app --system base` as a real process with SmolLM2-135M-Instruct from its GGUF."""
    port = free_port()
    env = {**os.environ, "ALSLM_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "alslm_ml.cli", "app", "--port", str(port), "--system", "base",
                             "--systems", "base,finetuned", "--threads", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.5)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        assert "not a medical resource" in page.locator("#disclaimer").inner_text()
        _set_max_tokens(page, 16)
        _ask(page, "What is ALS?")
        page.wait_for_function("document.querySelector('#status').innerText.includes('tokens in')", timeout=240000)
        text = page.locator("#answer").inner_text().strip()
        status = page.locator("#status").inner_text()
        assert status.startswith("base:") and len(text.split()) >= 3
        n = int(status.split(":")[1].split("tokens")[0])
        assert 1 <= n <= 16
    finally:
        proc.terminate()
        proc.wait(timeout=30)
