"""Training stage (design doc section 5): `python -m alslm_ml.train --config tiny` or `alslm train`.

Plain PyTorch on one process; under the `deepspeed` launcher (`deepspeed --module alslm_ml.train
... --deepspeed`) ZeRO-2/3 with bf16 and optional optimizer CPU offload.
"""

from __future__ import annotations

import argparse
import os
import sys

from alslm_ml.train.config import DEFAULT_DEEPSPEED_CONFIG, PRESETS, TrainConfig, load_train_config

__all__ = ["main", "train"]


def train(*args, **kwargs):
    from alslm_ml.train.trainer import train as _train

    return _train(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alslm train", description="Train the ALS-LM GPT (research artifact, not a medical tool).")
    p.add_argument("--config", default="tiny", help=f"preset ({', '.join(PRESETS)}) or a .json/.yaml file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a training option (repeatable)")
    p.add_argument("--data-dir", default=None, help="token streams (train.bin, val.bin, meta.json); default data/tokens")
    p.add_argument("--out-dir", default=None, help="run directory; default data/checkpoints/<config name>")
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming (needs --overwrite when the run directory holds a run)")
    p.add_argument("--overwrite", action="store_true",
                   help="when the run directory holds a finished run (or checkpoints with --no-resume), archive it to <dir>.archived-<time> and start a new run")
    p.add_argument("--deepspeed", action="store_true", help="use DeepSpeed (set by the launcher command line)")
    p.add_argument("--deepspeed_config", default=None, help="DeepSpeed JSON (default: the config's deepspeed_config)")
    p.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)  # passed by the deepspeed launcher
    p.add_argument("--print-params", action="store_true", help="print the parameter count and memory estimate, then exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cfg: TrainConfig = load_train_config(args.config, args.set)
    if args.deepspeed_config:
        cfg.deepspeed_config = args.deepspeed_config
    if args.print_params:
        from alslm_ml.train.budget import describe

        print(describe(cfg))
        return 0
    from alslm_ml import paths

    name = os.path.splitext(os.path.basename(args.config))[0]
    tokens_dir = args.data_dir or str(paths.tokens_dir())
    run_dir = args.out_dir or str(paths.checkpoints_dir(name))
    use_ds = args.deepspeed or (args.local_rank is not None and bool(cfg.deepspeed_config))
    if use_ds and not cfg.deepspeed_config:
        cfg.deepspeed_config = str(DEFAULT_DEEPSPEED_CONFIG)
    summary = train(cfg, tokens_dir, run_dir, resume=not args.no_resume, use_deepspeed=use_ds,
                    log=lambda m: print(m, flush=True), overwrite=args.overwrite)
    return 0 if summary["finished"] else 3
