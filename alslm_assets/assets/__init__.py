"""One module per pipeline stage. definitions.py collects every module here: its assets, asset
checks, and optional module-level `schedules`, `sensors`, `jobs` and `resources` (a dict)."""
