"""Ollama packaging: the design's Modelfile next to each GGUF, and registration on a running server.

Registration goes through the official `ollama` client: upload the GGUF as a blob, then
/api/create with the template, system prompt and parameters (the same content as the Modelfile;
Ollama >= 0.5.5 takes them as fields rather than Modelfile text). When no server answers, nothing
fails: the caller reports the `ollama create` command to run by hand.
"""

from __future__ import annotations

from pathlib import Path

from alslm_ml.disclaimer import SCRATCH_SYSTEM_PROMPT
from alslm_ml.runtime.ollama import client, host, server_version  # noqa: F401 - the ollama_model asset's server calls

MODEL_NAME = "als-lm"
# Design doc 6.3: render System, then each turn as "User: ...\n" / "Assistant: ...\n", then
# "Assistant: " for the model to continue.
TEMPLATE = (
    '{{- if .System }}{{ .System }}\n{{ end }}\n'
    '{{- range .Messages }}\n'
    '{{- if eq .Role "user" }}User: {{ .Content }}\n'
    '{{ else if eq .Role "assistant" }}Assistant: {{ .Content }}\n'
    '{{ end }}\n'
    '{{- end }}Assistant: '
)
PARAMETERS = {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "repeat_penalty": 1.1}
STOP = ["<|eos|>", "User:"]  # the model starting a new user turn ends its answer


def parameters(num_ctx: int) -> dict:
    return {**PARAMETERS, "num_ctx": num_ctx, "stop": STOP}


def modelfile(gguf_name: str, num_ctx: int) -> str:
    """The Modelfile text for one GGUF file in the same folder."""
    params = "\n".join(f"PARAMETER {k} {v}" for k, v in {**PARAMETERS, "num_ctx": num_ctx}.items())
    stops = "\n".join(f'PARAMETER stop "{s}"' for s in STOP)
    return (f"FROM ./{gguf_name}\n\n{params}\n{stops}\n\n"
            f'SYSTEM """{SCRATCH_SYSTEM_PROMPT}\n"""\n\nTEMPLATE """{TEMPLATE}"""\n')


def write_modelfile(gguf_path: str | Path, num_ctx: int) -> Path:
    """Write <name>.Modelfile next to the GGUF (e.g. als-lm-q5_k_m.Modelfile)."""
    gguf_path = Path(gguf_path)
    out = gguf_path.with_suffix(".Modelfile")
    out.write_text(modelfile(gguf_path.name, num_ctx))
    return out


def create_command(modelfile_path: str | Path, name: str = MODEL_NAME) -> str:
    p = Path(modelfile_path)
    return f"cd {p.parent} && ollama create {name} -f {p.name}"


def register(cli, gguf_path: str | Path, num_ctx: int, name: str = MODEL_NAME, on_status=print) -> list[str]:
    """Upload the GGUF and create `name` on the server; returns the streamed status lines."""
    gguf_path = Path(gguf_path)
    digest = cli.create_blob(gguf_path)
    statuses = []
    for progress in cli.create(model=name, files={gguf_path.name: digest}, template=TEMPLATE,
                               system=SCRATCH_SYSTEM_PROMPT, parameters=parameters(num_ctx), stream=True):
        statuses.append(progress.status or "")
        on_status(progress.status)
    if not statuses or statuses[-1] != "success":
        raise RuntimeError(f"ollama create {name} did not report success: {statuses[-3:]}")
    return statuses


def ask_once(cli, prompt: str, name: str = MODEL_NAME, num_predict: int = 64) -> dict:
    """One chat turn through the registered model's template: text and token counts."""
    text, last = [], None
    for chunk in cli.chat(model=name, messages=[{"role": "user", "content": prompt}], stream=True,
                          options={"num_predict": num_predict}):
        text.append(chunk.message.content or "")
        last = chunk
    return {"text": "".join(text), "eval_count": getattr(last, "eval_count", None),
            "prompt_eval_count": getattr(last, "prompt_eval_count", None)}
