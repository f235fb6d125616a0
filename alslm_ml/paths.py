"""Where files live, named once. Two kinds:

- packaged files, shipped inside `alslm_ml/` (the starter corpus, the benchmarks, term lists,
  sources.yaml, training configs): constants;
- produced files, under one data directory (`data/` in the repo root, overridable with
  ALSLM_DATA_DIR) so a run is easy to find, inspect, and delete: functions, because the data
  directory is read from the environment at call time (tests point it at a tmp folder).

Code elsewhere asks this module for a path instead of joining folder names itself; a new file
gets its name here first. Functions ending in `_dir` create the folder; `_file` functions create
nothing (a reader must be able to tell "missing" from "empty").
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent

# --- packaged files ------------------------------------------------------------------------------

STARTER_DOCS = PACKAGE / "sources" / "starter" / "docs"
"""The starter corpus: <category>/<slug>.md with YAML front matter (the offline embedded default)."""
SOURCES_YAML = PACKAGE / "sources" / "sources.yaml"
"""Scraper settings: URLs, caps, rates and the per-source licence allow-list (the one licence rule)."""
BENCHMARK_QUESTIONS = PACKAGE / "eval" / "benchmark" / "questions.json"
"""The project's hallucination benchmark (tuned on)."""
BLIND_QUESTIONS = PACKAGE / "eval" / "benchmark" / "blind_questions.json"
"""The blind benchmark, written without access to the corpus; it only measures."""
LEXICON_DIR = PACKAGE / "eval" / "lexicon"
"""Curated drug / gene / trial name lists of the entity registry."""
MEDICAL_TERMS = PACKAGE / "tokenizer" / "medical_terms.txt"
"""ALS/medical terms: the tokenizer's coverage check and the corpus statistics' top terms."""
ALIASES = PACKAGE / "rag" / "aliases.txt"
"""Synonym groups for query expansion (one group per line)."""
STOPWORDS = PACKAGE / "rag" / "stopwords_english.txt"
"""The BM25 stopword list."""
FINETUNE_QA_DIR = PACKAGE / "finetune" / "data"
"""Grounded Q&A pairs written from the starter corpus (the instruction data set's input)."""
STARTER_QA = (FINETUNE_QA_DIR / "qa_starter_a.jsonl", FINETUNE_QA_DIR / "qa_starter_b.jsonl")
TRAIN_CONFIGS = PACKAGE / "train"
"""Training presets' DeepSpeed JSON files (ds_config_zero2.json, ds_config_zero3.json)."""


# --- produced files ------------------------------------------------------------------------------


def data_dir() -> Path:
    """The artifact root: $ALSLM_DATA_DIR or <repo>/data. Created on first use."""
    path = Path(os.environ.get("ALSLM_DATA_DIR", REPO_ROOT / "data")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sub(*parts: str) -> Path:
    """A directory under the data root, created on first use: sub("models", "tiny")."""
    path = data_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_path() -> Path:
    """The DuckDB file holding every table asset (raw_documents, corpus, eval results, ...)."""
    return data_dir() / "warehouse.duckdb"


def logs_dir() -> Path:
    """Chat transcripts: $ALSLM_LOG_DIR or <repo>/logs."""
    path = Path(os.environ.get("ALSLM_LOG_DIR", REPO_ROOT / "logs")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def raw_dir() -> Path:
    """Scraped documents spooled per source: data/raw/<source>/."""
    return sub("raw")


def stats_dir() -> Path:
    """Corpus statistics (stats.md, stats.json, by_source.png)."""
    return sub("stats")


def tokenizer_dir() -> Path:
    """The trained BPE: data/tokenizer/ (tokenizer.json + its meta)."""
    return sub("tokenizer")


def tokenizer_file() -> Path:
    """data/tokenizer/tokenizer.json (may not exist yet)."""
    return data_dir() / "tokenizer" / "tokenizer.json"


def tokens_dir() -> Path:
    """Token streams: data/tokens/ (train.bin, val.bin, meta.json)."""
    return sub("tokens")


def checkpoints_root() -> Path:
    """data/checkpoints/ (not created): one folder per training run."""
    return data_dir() / "checkpoints"


def checkpoints_dir(run: str) -> Path:
    """One training run's checkpoints: data/checkpoints/<run>/ (best/, step_N/, summary)."""
    return sub("checkpoints", run)


def hf_export_dir() -> Path:
    """The transformers export: data/export/hf/."""
    return sub("export", "hf")


def gguf_dir() -> Path:
    """GGUF files and Ollama Modelfiles: data/export/gguf/."""
    return sub("export", "gguf")


def models_dir() -> Path:
    """Local copies of pretrained models (the embedder's ONNX export, the BM25 folder)."""
    return sub("models")


def qdrant_dir() -> Path:
    """The local Qdrant index root: data/qdrant/."""
    return sub("qdrant")


def finetune_dataset_dir() -> Path:
    """The instruction data set: data/finetune/dataset/ (train/val/test.jsonl, meta.json)."""
    return sub("finetune", "dataset")


def finetune_experiments_dir() -> Path:
    """One folder per LoRA experiment: data/finetune/experiments/<name>/."""
    return sub("finetune", "experiments")


def finetune_base_dir() -> Path:
    """The pretrained base as safetensors: data/finetune/base/ (not created: made once, atomically)."""
    return sub("finetune") / "base"


def finetune_merged_dir() -> Path:
    """The merged fine-tuned model: data/finetune/merged/ (not created)."""
    return sub("finetune") / "merged"


def chat_runs_dir(name: str) -> Path:
    """One /benchmark run from the chat: data/eval/chat/<name>/."""
    return sub("eval", "chat", name)


def embeddings_dir() -> Path:
    """The embedding spool (vectors kept between index builds): data/embeddings/."""
    return sub("embeddings")


def eval_dir() -> Path:
    """Evaluation results: data/eval/ (one folder per system, blind/ for the blind benchmark)."""
    return sub("eval")


def benchmark_file() -> Path:
    """The validated benchmark the `benchmark` asset writes: data/eval/benchmark.json."""
    return data_dir() / "eval" / "benchmark.json"


def blind_benchmark_file() -> Path:
    """The validated blind benchmark: data/eval/blind_benchmark.json (absent when none is shipped)."""
    return data_dir() / "eval" / "blind_benchmark.json"


def benchmark_coverage_file() -> Path:
    """The share of the benchmarks' key facts the corpus holds verbatim."""
    return data_dir() / "eval" / "benchmark_coverage.json"


def entity_registry_file() -> Path:
    """The entity registry (names known to be real): data/eval/entity_registry.json."""
    return data_dir() / "eval" / "entity_registry.json"


def eval_results_dir(label: str, blind: bool = False) -> Path:
    """One evaluated system's results: data/eval/<label>/ or data/eval/blind/<label>/ (not created)."""
    return data_dir() / "eval" / ("blind" if blind else "") / label


def reports_dir() -> Path:
    """The comparison report: data/reports/."""
    return sub("reports")
