"""ALS-LM's Dagster layer: thin assets over alslm_ml, with partitions, resources, checks, schedules."""
