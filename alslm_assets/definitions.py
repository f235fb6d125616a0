"""The Definitions object: every asset, check, schedule and sensor of ALS-LM.

Stages live in alslm_assets/assets/<stage>.py and are listed here (ASSET_MODULES), so adding a
stage means adding a module and its name below (tests/test_layout.py checks the list is complete).
Runs execute in-process: the stages share one DuckDB file (single writer) and a 2-core machine
gains nothing from parallel steps.
"""

import dagster as dg

from alslm_assets.assets import (
    evaluation,
    export,
    finetune,
    processing,
    quality,
    retrieval,
    sources,
    tokenizer,
    training,
)
from alslm_assets.resources import shared_resources

ASSET_MODULES = [evaluation, export, finetune, processing, quality, retrieval, sources, tokenizer, training]


def _collect(attr: str) -> list:
    return [obj for mod in ASSET_MODULES for obj in getattr(mod, attr, [])]


def _resources() -> dict:
    res = shared_resources()
    for mod in ASSET_MODULES:
        res.update(getattr(mod, "resources", {}))
    return res


_assets = dg.load_assets_from_modules(ASSET_MODULES)

# README command 1 (scripts/run_default.sh) materializes the per-source partitions, then
# `embedded_default_data` (the unpartitioned assets the LoRA experiments need), then the
# `lora_experiments` partitions in one run, then `embedded_default`: every other unpartitioned
# asset and its checks, in dependency order.
_unpartitioned = dg.AssetSelection.assets(
    *[key for a in _assets if getattr(a, "partitions_def", None) is None for key in a.keys]
)
_data = (dg.AssetSelection.assets("lora_experiments").upstream() & _unpartitioned).required_multi_asset_neighbors()
embedded_default_data = dg.define_asset_job(
    "embedded_default_data", selection=_data,
    description="The corpus, benchmark and instruction data set the LoRA experiments train on.",
)
embedded_default = dg.define_asset_job(
    "embedded_default", selection=_unpartitioned - _data,
    description="Everything downstream of the partitions and the LoRA experiments, on the embedded default.",
)

defs = dg.Definitions(
    assets=_assets,
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    schedules=_collect("schedules"),
    sensors=_collect("sensors"),
    jobs=[embedded_default_data, embedded_default, *_collect("jobs")],
    resources=_resources(),
    executor=dg.in_process_executor,
)
