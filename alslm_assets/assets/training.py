"""Training stage: tokenized_corpus -> model_checkpoint (data/checkpoints/<run_name>/).

Training runs in a subprocess — the `deepspeed` launcher when CUDA is available, plain Python on
CPU — so a crash or OOM kill never takes Dagster down, and re-materializing resumes from the last
good checkpoint. Its output streams line by line into context.log. Logic: alslm_ml.train.run.
"""


import dagster as dg

from alslm_assets.metadata import as_metadata
from alslm_ml.train.run import checkpoint_metadata, plan_run, run_training

GROUP = "training"


class TrainingConfig(dg.Config):
    config: str = "tiny"  # preset (tiny | micro | 500m | 1b) or a .json/.yaml file; full scale: "500m"
    run_name: str = ""  # checkpoint directory name under data/checkpoints/ (default: the config name)
    overrides: list[str] = []  # key=value training options, e.g. ["max_steps=200"]
    gpus: int = -1  # GPUs for the deepspeed launcher: -1 = all visible, 0 = CPU (plain PyTorch)
    hostfile: str = ""  # DeepSpeed hostfile for several nodes (overrides gpus)
    deepspeed_config: str = ""  # DeepSpeed JSON (default: the preset's ds_config_zero2/3.json)
    resume: bool = True  # continue an interrupted run from its last good checkpoint
    overwrite: bool = True  # a finished run in run_name is archived (<run>.archived-<time>), never deleted


@dg.asset(group_name=GROUP, deps=["tokenized_corpus"],
       description="GPT trained from scratch on the token streams; best/ and step_N/ checkpoints in data/checkpoints/<run>/.")
def model_checkpoint(context: dg.AssetExecutionContext, config: TrainingConfig) -> dg.MaterializeResult:
    launch = plan_run(config.config, config.run_name, config.overrides, gpus=config.gpus, hostfile=config.hostfile,
                      deepspeed_config=config.deepspeed_config, resume=config.resume, overwrite=config.overwrite)
    context.log.info(launch.describe())
    summary = run_training(launch, lambda line: context.log.info(line) if line.strip() else None)
    meta, warning = checkpoint_metadata(launch, summary)
    if warning:
        context.log.warning(warning)
    run_dir = launch.run_dir
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(run_dir)),
        "best_model": dg.MetadataValue.path(str(run_dir / "best" / "model")),
        **as_metadata(meta),
        "loss_curve": dg.MetadataValue.md(meta["loss_curve"]),
        "loss_curve_png": dg.MetadataValue.path(str(run_dir / "loss_curve.png")),
    })
