"""The Definitions object: every asset, check, schedule and sensor of ALS-LM.

Stages live in alslm_assets/assets/<stage>.py and are discovered here, so adding a stage means
adding a module. Runs execute in-process: the stages share one DuckDB file (single writer) and a
2-core machine gains nothing from parallel steps.
"""

import importlib
import pkgutil

from dagster import Definitions, in_process_executor, load_asset_checks_from_modules, load_assets_from_modules

from alslm_assets import assets as _assets_pkg
from alslm_assets.resources import shared_resources

_modules = [
    importlib.import_module(f"{_assets_pkg.__name__}.{m.name}")
    for m in sorted(pkgutil.iter_modules(_assets_pkg.__path__), key=lambda m: m.name)
]


def _collect(attr: str) -> list:
    return [obj for mod in _modules for obj in getattr(mod, attr, [])]


def _resources() -> dict:
    res = shared_resources()
    for mod in _modules:
        res.update(getattr(mod, "resources", {}))
    return res


defs = Definitions(
    assets=load_assets_from_modules(_modules),
    asset_checks=load_asset_checks_from_modules(_modules),
    schedules=_collect("schedules"),
    sensors=_collect("sensors"),
    jobs=_collect("jobs"),
    resources=_resources(),
    executor=in_process_executor,
)
