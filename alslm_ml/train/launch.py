"""Start training in a subprocess: the `deepspeed` launcher on GPUs, plain Python on CPU.

A subprocess keeps a crash (or OOM kill) away from the caller (Dagster), and makes resume the
normal path: the next launch picks up the last good checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def normalize_arch_list(value: str) -> str:
    """TORCH_CUDA_ARCH_LIST as DeepSpeed's op builder can parse it: entries "M.m" or "M.m+PTX".
    Hopper images often set "9.0a" (the arch-specific variant), which DeepSpeed reads with int()
    and dies on ('0a'); the plain "9.0" builds the same kernels for DeepSpeed's ops."""
    out = []
    for entry in re.split(r"[;\s,]+", value.strip()):
        if not entry:
            continue
        m = re.fullmatch(r"(?:sm_|compute_)?(\d+)\.?(\d)[a-zA-Z]*(\+PTX)?", entry)
        if not m:
            raise ValueError(f"TORCH_CUDA_ARCH_LIST entry {entry!r} is not like '9.0', '9.0a' or '8.6+PTX'")
        arch = f"{m.group(1)}.{m.group(2)}{m.group(3) or ''}"
        if arch not in out:
            out.append(arch)
    return ";".join(out)


def single_process_env(port: int = 29533) -> dict:
    """The variables the `deepspeed` launcher would set, for one DeepSpeed process started without
    it (benchmarks/bench_train.py --deepspeed)."""
    return {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def deepspeed_env(environ: dict | None = None) -> dict:
    """Environment for a DeepSpeed process: a parseable TORCH_CUDA_ARCH_LIST, a persistent
    TORCH_EXTENSIONS_DIR for JIT-compiled ops, no tokenizer thread pools."""
    environ = os.environ if environ is None else environ
    env = {"TORCH_EXTENSIONS_DIR": environ.get("TORCH_EXTENSIONS_DIR") or str(Path.home() / ".cache/alslm/torch_extensions"),
           "TOKENIZERS_PARALLELISM": "false"}
    if environ.get("TORCH_CUDA_ARCH_LIST"):
        env["TORCH_CUDA_ARCH_LIST"] = normalize_arch_list(environ["TORCH_CUDA_ARCH_LIST"])
    return env


def build_command(config: str, tokens_dir: str | Path, run_dir: str | Path, overrides: list[str] | None = None,
                  gpus: int = 0, hostfile: str = "", deepspeed_config: str = "", resume: bool = True, overwrite: bool = False) -> list[str]:
    """gpus > 0 -> `deepspeed --num_gpus N [--hostfile H] --module alslm_ml.train ...`;
    gpus == 0 -> `python -m alslm_ml.train ...` (plain PyTorch)."""
    args = ["--config", str(config), "--data-dir", str(tokens_dir), "--out-dir", str(run_dir)]
    for o in overrides or []:
        args += ["--set", o]
    if not resume:
        args.append("--no-resume")
    if overwrite:
        args.append("--overwrite")
    if gpus <= 0:
        return [sys.executable, "-u", "-m", "alslm_ml.train", *args]
    launcher = shutil.which("deepspeed") or str(Path(sys.executable).with_name("deepspeed"))
    cmd = [launcher]
    if hostfile:
        if not Path(hostfile).exists():
            raise FileNotFoundError(f"hostfile {hostfile} does not exist")
        cmd += ["--hostfile", hostfile]
    else:
        cmd += ["--num_gpus", str(gpus)]
    cmd += ["--module", "alslm_ml.train", *args, "--deepspeed"]
    if deepspeed_config:
        cmd += ["--deepspeed_config", deepspeed_config]
    return cmd


def run_streaming(cmd: list[str], on_line: Callable[[str], None], env: dict | None = None,
                  cwd: str | Path | None = None) -> int:
    """Run `cmd`, passing each output line (stdout and stderr merged) to `on_line` as it comes."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env=full_env, cwd=cwd)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        return proc.wait()
    except BaseException:
        proc.terminate()  # SIGTERM: the trainer checkpoints and exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
