"""ALS-LM's Dagster layer: thin assets over alslm_ml, with partitions, resources, checks, schedules.

The package exposes the Definitions, so both `dagster ... -m alslm_assets` (the name the docs and
issues use) and `-m alslm_assets.definitions` load the same code location.
"""

from alslm_assets.definitions import defs

__all__ = ["defs"]
