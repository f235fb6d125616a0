"""Plain dicts from alslm_ml -> Dagster metadata. Library functions return dicts; assets wrap them
here, so the wrapping rule is written once: dicts, lists and tuples become JSON metadata, the rest
(numbers, strings, bools, None) is passed as is."""

import dagster as dg


def as_metadata(values: dict) -> dict:
    """Every dict/list/tuple value as MetadataValue.json; other values unchanged."""
    return {k: dg.MetadataValue.json(v) if isinstance(v, (dict, list, tuple)) else v for k, v in values.items()}
