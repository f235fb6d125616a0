"""ALS-LM library: every stage of the pipeline as plain Python (no Dagster import here).

A research artifact for studying how language models handle ALS medical knowledge.
Never a medical tool.
"""

__version__ = "0.1.0"
