"""Resume after SIGKILL through the model_checkpoint asset's launcher path.

Starts the training command the asset builds (the `deepspeed` launcher when CUDA is present,
plain Python otherwise) on random tokens, kills its whole process group with SIGKILL once a
checkpoint exists, starts the same command again and checks that it resumed from that checkpoint
and finished. Prints the step it resumed from and the times.

    python benchmarks/launcher_resume.py --config tiny --steps 300 --kill-after 100
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import random_tokens  # noqa: E402

from alslm_ml.train.config import load_train_config  # noqa: E402
from alslm_ml.train.launch import build_command, deepspeed_env  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--kill-after", type=int, default=100, help="SIGKILL once step_N (N >= this) is on disk")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    cfg = load_train_config(args.config)
    mcfg = cfg.model_config()
    every = max(1, args.kill_after // 2)
    over = [f"max_steps={args.steps}", f"checkpoint_interval={every}", f"eval_interval={every}", "max_seconds=0", "patience=0"]
    env = {**os.environ, **deepspeed_env(), "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="launcher_resume_") as tmp:
        tmp = Path(tmp)
        tokens = random_tokens(tmp / "tokens", mcfg.vocab_size, 400_000, 20_000)
        cmd = build_command(args.config, tokens, tmp / "run", over, gpus=torch.cuda.device_count())
        print("command:", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        killed_at = None
        while time.perf_counter() - t0 < args.timeout and first.poll() is None:
            done = [int(p.name[5:]) for p in (tmp / "run").glob("step_*") if (p / "state.json").exists() or (p / "model").exists()]
            if done and max(done) >= args.kill_after:
                time.sleep(0.5)  # let the checkpoint's manifest land, or not: either must be handled
                os.killpg(first.pid, signal.SIGKILL)
                killed_at = max(done)
                break
            time.sleep(0.2)
        first.wait()
        if killed_at is None:
            print(f"FAILED: no checkpoint at step >= {args.kill_after} within {args.timeout:.0f} s (exit {first.returncode})")
            return 1
        t_kill = time.perf_counter() - t0
        second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
        resumed = [line for line in second.stdout.splitlines() if "resumed from" in line]
        summary = json.loads((tmp / "run" / "summary.json").read_text()) if (tmp / "run" / "summary.json").exists() else {}
        ok = second.returncode == 0 and bool(resumed) and summary.get("steps") == args.steps and summary.get("finished")
        print(f"killed with SIGKILL after {t_kill:.1f} s (latest checkpoint on disk: step_{killed_at}); "
              f"second run: {resumed[0].strip() if resumed else 'did NOT resume'}; finished at step {summary.get('steps')} "
              f"in {time.perf_counter() - t0 - t_kill:.1f} s; device {summary.get('device')}, DeepSpeed {summary.get('deepspeed')}")
        if not ok:
            print(second.stdout[-2000:], second.stderr[-2000:])
        print("resume after SIGKILL:", "OK" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
