"""Evaluate several systems on the project's benchmark and the blind one, as the eval_* assets
do: each (label, system name, options) is loaded once and answers every benchmark; blind results
are labelled `<label>@blind` and live in data/eval/blind/<label>/. A system that cannot be loaded
is recorded and skipped, so one missing model does not hide the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alslm_ml import paths
from alslm_ml.benchmark import BLIND_TAG, Benchmarks, Question, stratified_sample
from alslm_ml.eval.entities import Registry
from alslm_ml.eval.runner import evaluate, load_eval_results
from alslm_ml.runtime.base import GenerationConfig

Log = Callable[[str], None]


def _noop(_: str) -> None:
    pass


@dataclass
class BenchmarkRun:
    tag: str  # "" for the project's benchmark, BLIND_TAG for the blind one
    questions: list[Question]

    def results_dir(self, label: str) -> Path:
        return paths.eval_results_dir(label, blind=bool(self.tag))


def sample_benchmarks(benchmarks: Benchmarks, per_category: int, seed: int = 0, blind: bool = True,
                      blind_per_category: int = 5) -> list[BenchmarkRun]:
    """The stratified samples this run answers: the project's benchmark, then the blind one when
    there is one and `blind` is on."""
    runs = [BenchmarkRun("", stratified_sample(benchmarks.questions, per_category, seed))]
    if blind and benchmarks.blind is not None:
        runs.append(BenchmarkRun(BLIND_TAG, stratified_sample(benchmarks.blind, blind_per_category, seed)))
    return runs


@dataclass
class SuiteResult:
    rows: list[dict] = field(default_factory=list)  # every evaluated answer (runner rows)
    summaries: dict[str, dict] = field(default_factory=dict)  # run label -> summary
    failed: dict[str, str] = field(default_factory=dict)  # label -> why the system did not load

    def results_dirs(self) -> dict[str, str]:
        return {k: str(paths.eval_results_dir(k.removesuffix(BLIND_TAG), blind=k.endswith(BLIND_TAG)))
                for k in self.summaries}


def run_suite(variants: list[tuple[str, str, dict]], runs: list[BenchmarkRun], registry: Registry, cfg: GenerationConfig,
              threshold: float, resume: bool, load: Callable, log: Log = _noop, error: Log = _noop) -> SuiteResult:
    """Evaluate each (label, system name, options) with `load(name, **options)` on each run."""
    out = SuiteResult()
    for label, name, options in variants:
        try:
            system = load(name, **options)
        except Exception as exc:  # noqa: BLE001 - one missing model must not hide the others
            error(f"{label}: could not load system {name} {options}: {exc}")
            out.failed[label] = f"{type(exc).__name__}: {exc}"
            continue
        try:
            for run in runs:
                _evaluate_one(system, label + run.tag, run, run.results_dir(label), registry, cfg, threshold, resume, log, out)
        finally:
            system.close()
    return out


def _evaluate_one(system, name: str, run: BenchmarkRun, results: Path, registry: Registry, cfg: GenerationConfig,
                  threshold: float, resume: bool, log: Log, out: SuiteResult) -> None:
    def progress(i: int, n: int, row: dict) -> None:
        if i % 5 == 0 or i == n:
            log(f"{name}: {i}/{n} answered (last: {row['question_id']} {row['mode']})")

    s = out.summaries[name] = evaluate(system, run.questions, results, registry, cfg, name, threshold, progress, resume)
    out.rows += load_eval_results(results)[0]
    log(f"{name}: non-trap accuracy {s['non_trap_accuracy']}, pass {s['pass_rate']}, fabrication "
        f"{s['fabrication_rate']}, trap refusal {s['trap_refusal_rate']}, answer tokens "
        f"{s['mean_answer_tokens']}, carry-through {s.get('retrieval', {}).get('carry_through')}")
