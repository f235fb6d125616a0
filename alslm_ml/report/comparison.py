"""The evaluation comparison report: every evaluated system side by side (design doc 8.3, 9.4).

Reads whatever `data/eval/<system>/summary.json` + `results.json` exist; systems not evaluated are
listed as "not run". Writes under `data/reports/`:
    eval_comparison.md      the report (comparison matrix, accuracy by category, failure modes,
                            RAG retrieval vs generation failures, quantization, disagreements)
    eval_comparison.json    the same numbers, machine-readable
    eval_*.png              figures (matplotlib)

The blind benchmark's runs (`data/eval/blind/<system>/`) are shown next to the project's own, with
each benchmark's verbatim key-fact coverage by the corpus (`data/eval/benchmark_coverage.json`).
"""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

from alslm_ml.benchmark import BLIND_TAG, CATEGORIES
from alslm_ml.disclaimer import FULL
from alslm_ml.eval.taxonomy import LABELS
from alslm_ml.markdown import pyplot
from alslm_ml.markdown import table as _table

SCRATCH_VARIANTS = ("scratch-f16", "scratch-q8_0", "scratch-q5_k_m", "scratch-q4_k_m", "scratch-torch")
EXPECTED = (*SCRATCH_VARIANTS, "rag", "baseline", "base", "finetuned")
MATRIX_ROWS = {
    "accurate": "Correct",
    "confident_fabrication": "Confident fabrication",
    "plausible_blending": "Plausible blending",
    "outdated_information": "Outdated information",
    "boundary_confusion": "Boundary confusion",
    "accurate_but_misleading": "Accurate/misleading",
    "refusal": "Refusal (real question)",
    "degenerate": "Degenerate output",
}
COLORS = {"accurate": "#2ca02c", "confident_fabrication": "#d62728", "plausible_blending": "#ff7f0e",
          "outdated_information": "#9467bd", "boundary_confusion": "#8c564b", "accurate_but_misleading": "#e6c229",
          "refusal": "#17becf", "degenerate": "#7f7f7f"}


def discover(eval_root: Path) -> dict[str, dict]:
    """{system: {"summary": ..., "rows": [...]}} for every finished eval run under eval_root."""
    found = {}
    for summary_path in sorted(eval_root.glob("*/summary.json")):
        results_path = summary_path.with_name("results.json")
        if not results_path.exists():
            continue
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        found[summary.get("system") or summary_path.parent.name] = {
            "summary": summary, "rows": json.loads(results_path.read_text(encoding="utf-8"))}
    order = {name: i for i, name in enumerate(EXPECTED)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _coverage(eval_root: Path) -> dict:
    path = eval_root / "benchmark_coverage.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def side_by_side(main: dict[str, dict], blind: dict[str, dict], coverage: dict) -> list[str]:
    """Markdown: every system on both benchmarks, non-trap accuracy apart from trap refusal,
    RAG's context recall and carry-through, and the mean answer length."""
    md = ["## Both benchmarks side by side", ""]
    for key, name in (("benchmark", "project benchmark (written alongside the corpus; tuned on)"),
                      ("blind", "blind benchmark (written without access to the corpus; only measures)")):
        c = coverage.get(key)
        if c:
            md.append(f"- {name}: {_pct(c['verbatim'])} of its non-trap key facts occur verbatim in the corpus "
                      f"({coverage.get('documents', '?')} documents); by category: "
                      + ", ".join(f"{k} {_pct(v)}" for k, v in c["by_category"].items()))
    if not blind:
        md += ["", "No blind-benchmark run found (`data/eval/blind/`)."]
    md.append("")
    rows = []
    for system in main.keys() | {s.removesuffix(BLIND_TAG) for s in blind}:
        for bench, runs, key in (("project", main, system), ("blind", blind, system + BLIND_TAG)):
            m = runs.get(key, {}).get("summary")
            if not m:
                continue
            r = m.get("retrieval") or {}
            rows.append([system, bench, m["n"], "–" if m.get("non_trap_accuracy") is None else f"{m['non_trap_accuracy']:.3f}",
                         _pct(m.get("trap_refusal_rate")), _pct(m.get("fabrication_rate")), _pct(r.get("context_recall")),
                         _pct(r.get("carry_through")), m.get("mean_answer_tokens", "–"), m.get("max_answer_tokens", "–")])
    order = {n: i for i, n in enumerate(EXPECTED)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0], r[1] != "project"))
    md += [_table(["system", "benchmark", "n", "non-trap accuracy", "trap refusal", "fabrication", "context recall",
                   "carry-through", "answer tokens (mean)", "(max)"], rows), "",
           "Context recall: share of the key facts found in the retrieved passages. Carry-through: share of those "
           "that the answer states. A longer answer can match more fact windows without knowing more, so the answer "
           "length is shown next to accuracy.", ""]
    rag = [(k, run["summary"]) for k, run in list(main.items()) + list(blind.items()) if run["summary"].get("retrieval")]
    if rag:
        md += ["### Retrieval per category", "", _table(
            ["category", *[f"{k} recall / carry" for k, _ in rag]],
            [[c, *[("–" if c not in m.get("by_category", {}) else
                    f"{_pct(m['by_category'][c].get('context_recall'))} / {_pct(m['by_category'][c].get('carry_through'))}")
                   for _, m in rag]] for c in CATEGORIES]), ""]
    return md


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def representative(runs: dict[str, dict]) -> dict[str, dict]:
    """One from-scratch variant (highest mean accuracy, then EXPECTED order) stands for the model in
    cross-system comparisons; the quantization section compares the variants with each other."""
    scratch = [s for s in runs if s.startswith("scratch")]
    if len(scratch) <= 1:
        return dict(runs)
    best = max(scratch, key=lambda s: (runs[s]["summary"].get("mean_accuracy") or 0.0, -scratch.index(s)))
    return {s: r for s, r in runs.items() if not s.startswith("scratch") or s == best}


def disagreements(runs: dict[str, dict], limit: int = 8) -> list[dict]:
    """For each ordered pair (A, B): questions both answered where A's answer is labelled accurate
    and B's is not (the taxonomy label, stricter than the key-fact pass: it also catches wrong years)."""
    by_q = {s: {r["question_id"]: r for r in run["rows"]} for s, run in runs.items()}
    out = []
    for a, b in permutations(runs, 2):
        common = sorted(set(by_q[a]) & set(by_q[b]))
        ids = [q for q in common if by_q[a][q]["mode"] == "accurate" and by_q[b][q]["mode"] != "accurate"]
        if ids:
            out.append({"wins": a, "loses": b, "n_common": len(common), "count": len(ids), "examples": [
                {"question_id": q, "question": by_q[a][q]["question"], "b_mode": by_q[b][q]["mode"]} for q in ids[:limit]]})
    return sorted(out, key=lambda d: (-d["count"], d["wins"], d["loses"]))


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return str(path)


def _accuracy_figure(runs: dict[str, dict], path: Path) -> str:
    systems = list(runs)
    fig, ax = pyplot().subplots(figsize=(10, 4.5))
    width = 0.8 / len(systems)
    for i, s in enumerate(systems):
        by_cat = runs[s]["summary"].get("by_category", {})
        vals = [by_cat.get(c, {}).get("mean_accuracy", 0.0) for c in CATEGORIES]
        ax.bar([j + i * width for j in range(len(CATEGORIES))], vals, width, label=s)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(CATEGORIES))], [c.replace("_", "\n") for c in CATEGORIES], fontsize=8)
    ax.set_ylabel("mean key-fact accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Accuracy by category")
    ax.legend(fontsize=7, ncol=3)
    return _save(fig, path)


def _failure_modes_figure(runs: dict[str, dict], path: Path) -> str:
    """Failure-mode distribution, stacked per system."""
    systems = list(runs)
    fig, ax = pyplot().subplots(figsize=(10, 4.5))
    bottom = [0.0] * len(systems)
    for label in LABELS:
        vals = [runs[s]["summary"].get("taxonomy", {}).get(label) or 0.0 for s in systems]
        ax.bar(systems, vals, bottom=bottom, label=MATRIX_ROWS.get(label, label), color=COLORS.get(label))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("share of responses")
    ax.set_title("Response classification (automatic taxonomy)")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    pyplot().setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=8)
    return _save(fig, path)


def _quantization_figure(runs: dict[str, dict], quant: list[str], path: Path) -> str:
    fig, ax = pyplot().subplots(figsize=(7, 4))
    metrics = ("mean_accuracy", "fabrication_rate", "degenerate_rate", "mean_coherence")
    width = 0.8 / len(metrics)
    for i, m in enumerate(metrics):
        ax.bar([j + i * width for j in range(len(quant))], [runs[s]["summary"].get(m) or 0.0 for s in quant], width, label=m)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(quant))], quant, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("From-scratch model: quantization comparison")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _figures(runs: dict[str, dict], out_dir: Path) -> dict[str, str]:
    if not runs:
        return {}
    figs = {"accuracy_by_category": _accuracy_figure(runs, out_dir / "eval_accuracy_by_category.png"),
            "failure_modes": _failure_modes_figure(runs, out_dir / "eval_failure_modes.png")}
    quant = [s for s in SCRATCH_VARIANTS if s in runs]
    if quant:
        figs["quantization"] = _quantization_figure(runs, quant, out_dir / "eval_quantization.png")
    return figs


METHOD = ("Automatic scoring: key facts matched with rapidfuzz partial_ratio over 100-character windows "
          "(threshold 80), a fact matched only in negated clauses (\"does not reduce glutamate\") counting as missing, "
          "pass at >= 50% of key facts; trap questions pass when the answer denies the invented "
          "entity or false premise. Labels are rule-based (docs/evaluation.md), to be checked by manual review. "
          "Systems evaluated on different samples are not strictly comparable: see the n column.")


def _systems_section(summaries: dict[str, dict]) -> list[str]:
    return ["## Systems", "", _table(
        ["system", "n", "accuracy", "non-trap accuracy", "pass", "fabrication", "contradiction", "trap refusal", "degenerate", "hedging", "coherence", "capability gap", "answer tokens", "s/answer"],
        [[s, m["n"], f"{m['mean_accuracy']:.3f}", "–" if m.get("non_trap_accuracy") is None else f"{m['non_trap_accuracy']:.3f}", _pct(m["pass_rate"]), _pct(m["fabrication_rate"]), _pct(m.get("contradiction_rate")), _pct(m["trap_refusal_rate"]),
          _pct(m["degenerate_rate"]), _pct(m["hedging_rate"]), f"{m['mean_coherence']:.3f}", f"{m['capability_gap']:+.3f}",
          m.get("mean_answer_tokens", "–"), m.get("mean_seconds", "")] for s, m in summaries.items()]), ""]


def _matrix_and_category_sections(summaries: dict[str, dict]) -> list[str]:
    return ["## Comparison matrix", "", _table(
        ["Response classification", *summaries],
        [[name, *[_pct(m.get("taxonomy", {}).get(label)) for m in summaries.values()]] for label, name in MATRIX_ROWS.items()]), "",
        "## Accuracy by category", "", _table(
        ["category", *summaries],
        [[c, *[("–" if c not in m.get("by_category", {}) else f"{m['by_category'][c]['mean_accuracy']:.3f}") for m in summaries.values()]]
         for c in CATEGORIES]), "", "![accuracy by category](eval_accuracy_by_category.png)", "",
        "## Failure-mode distribution", "", "![failure modes](eval_failure_modes.png)", ""]


def _rag_section(summaries: dict[str, dict]) -> list[str]:
    rag = {s: m["retrieval"] for s, m in summaries.items() if m.get("retrieval")}
    md = ["## RAG: retrieval vs generation failures", ""]
    if not rag:
        return md + ["No retrieval-augmented run found.", ""]
    return md + ["A wrong answer is a *retrieval failure* when fewer than half of its key facts were in the retrieved "
                 "passages, a *generation failure* when they were retrieved but the answer still missed them.", "",
                 _table(["system", "questions", "key facts retrieved", "wrong answers", "retrieval failures", "generation failures"],
                        [[s, r["n"], _pct(r["retrieval_hit_rate"]), r["wrong"], r["retrieval_failures"], r["generation_failures"]]
                         for s, r in rag.items()]), ""]


def _quantization_section(summaries: dict[str, dict]) -> list[str]:
    md = ["## Quantization comparison (from-scratch model)", ""]
    quant = [s for s in SCRATCH_VARIANTS if s in summaries]
    if not quant:
        return md + ["No from-scratch runs found.", ""]
    return md + [_table(["variant", "n", "accuracy", "pass", "fabrication", "degenerate", "coherence", "s/answer"],
                        [[s, summaries[s]["n"], f"{summaries[s]['mean_accuracy']:.3f}", _pct(summaries[s]["pass_rate"]),
                          _pct(summaries[s]["fabrication_rate"]), _pct(summaries[s]["degenerate_rate"]),
                          f"{summaries[s]['mean_coherence']:.3f}", summaries[s].get("mean_seconds", "")] for s in quant]),
                 "", "![quantization](eval_quantization.png)", ""]


def _disagreements_section(dis: list[dict]) -> list[str]:
    md = ["## Where one system succeeds and another fails", "",
          "Success = labelled accurate. The best from-scratch variant stands for the from-scratch model.", ""]
    if not dis:
        return md + ["No disagreements (fewer than two systems, or identical outcomes).", ""]
    md += [_table(["accurate", "not accurate", "questions", "of common"], [[d["wins"], d["loses"], d["count"], d["n_common"]] for d in dis]), ""]
    for d in dis[:6]:
        md += [f"**{d['wins']} accurate, {d['loses']} not** (first {len(d['examples'])}):", ""]
        md += [f"- `{e['question_id']}` {e['question']} — {d['loses']}: {e['b_mode']}" for e in d["examples"]] + [""]
    return md


def write_eval_comparison(eval_root: str | Path, out_dir: str | Path) -> dict:
    """Write the Markdown/JSON/PNG report; returns {"markdown", "json", "figures", "report": dict, "text"}."""
    eval_root, out_dir = Path(eval_root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, blind, coverage = discover(eval_root), discover(eval_root / "blind"), _coverage(eval_root)
    not_run = [s for s in EXPECTED if s not in runs]
    summaries = {s: r["summary"] for s, r in runs.items()}
    figs = _figures(runs, out_dir)
    dis = disagreements(representative(runs))
    md = ["# ALS-LM evaluation comparison", "", f"> {FULL}", ""]
    if not runs:
        md += ["No evaluation results found under `" + str(eval_root) + "`. Materialize the `eval_*` assets or run `alslm eval`.", ""]
    else:
        md += [METHOD, "", *_systems_section(summaries), *side_by_side(runs, blind, coverage),
               *_matrix_and_category_sections(summaries), *_rag_section(summaries),
               *_quantization_section(summaries), *_disagreements_section(dis)]
    md += ["## Not run", "", ", ".join(f"`{s}`" for s in not_run) if not_run else "Every expected system was evaluated.", "",
           "---", "", FULL, ""]
    report = {"systems": summaries, "blind": {s: r["summary"] for s, r in blind.items()}, "coverage": coverage,
              "not_run": not_run, "disagreements": dis, "figures": figs, "disclaimer": FULL}
    md_path, json_path = out_dir / "eval_comparison.md", out_dir / "eval_comparison.json"
    md_path.write_text("\n".join(md), encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return {"markdown": str(md_path), "json": str(json_path), "figures": figs, "report": report, "text": "\n".join(md)}
