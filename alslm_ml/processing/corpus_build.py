"""The `corpus` step as its asset runs it: deduplicate clean_documents into corpus +
corpus_duplicates, then check the result (unique ids, licences, removed share). Returns plain
metadata and check results; the asset logs and wraps them.

The licence check uses the one licence rule of the project: the per-source allow-list in
sources.yaml (`SourcesConfig.licence_ok`), the same rule the scrapers and raw_documents apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from alslm_ml.processing import store, tables
from alslm_ml.sources.config import SourcesConfig


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def licence_violations(con, cfg: SourcesConfig, name: str = "corpus", limit: int = 20) -> tuple[int, list[dict]]:
    """(count, examples) of rows whose licence is not on their source's allow-list in sources.yaml
    (checked once per distinct source and licence)."""
    pairs = con.execute(f"SELECT DISTINCT source, coalesce(license, '') FROM {store.table(name)}").fetchall()
    bad = [[s, lic] for s, lic in pairs if not cfg.licence_ok(s, lic)]
    if not bad:
        return 0, []
    cond = "[source, coalesce(license, '')] IN (SELECT unnest(?::VARCHAR[][]))"
    n = con.execute(f"SELECT count(*) FROM {store.table(name)} WHERE {cond}", [bad]).fetchone()[0]
    ex = con.execute(f"SELECT id, license FROM {store.table(name)} WHERE {cond} ORDER BY id LIMIT {int(limit)}", [bad]).fetchall()
    return n, [{"id": i, "license": lic} for i, lic in ex]


@dataclass
class CorpusBuild:
    """What the corpus step produced: metadata per asset, check results, and one log line."""

    corpus: dict
    duplicates: dict
    checks: dict[str, tuple[bool, dict]] = field(default_factory=dict)
    log: str = ""


def build_corpus(con, cfg: SourcesConfig, threshold: float, num_perm: int, min_paragraph_words: int, min_tokens: int,
                 max_removed_share: float, batch_rows: int, workers: int,
                 log: Callable[[str], None] = lambda _: None) -> CorpusBuild:
    """MinHash LSH document dedup + SHA-256 paragraph dedup over all sources, then the checks
    unique_ids, licence_allowlist and dedup_ratio (passes at or under max_removed_share)."""
    s = tables.dedup_corpus(con, threshold, num_perm, min_paragraph_words, min_tokens, batch_rows, workers, log=log)
    dup_ids = tables.duplicate_ids(con)
    n_bad, bad = licence_violations(con, cfg)
    dup_rows = con.execute(f"SELECT count(*) FROM {store.table('corpus_duplicates')}").fetchone()[0]
    share = s.removed["document"] / max(1, s.documents_in)
    corpus = {
        "documents": s.documents_out,
        "documents_in": s.documents_in,
        "tokens": int(s.tokens),
        "bytes": int(s.chars),
        "removed_documents": s.removed["document"],
        "removed_paragraphs": s.removed["paragraph"],
        "removed_residue_documents": s.removed["residue"],
        "by_source": s.by_source,
        "dedup_index_mib": {k: _mib(v) for k, v in s.index_bytes.items()},
    }
    checks = {
        "unique_ids": (not dup_ids, {"duplicate_ids": dup_ids}),
        "licence_allowlist": (n_bad == 0, {"violations": n_bad, "examples": bad}),
        "dedup_ratio": (share <= max_removed_share, {"removed_share": round(share, 4), "max_removed_share": max_removed_share}),
    }
    line = (f"dedup: {s.documents_in} documents in, {s.documents_out} kept; {s.removed['document']} near-duplicate documents, "
            f"{s.removed['paragraph']} repeated paragraphs and {s.removed['residue']} documents left too short by them removed; "
            f"index {_mib(sum(s.index_bytes.values()))} MiB")
    return CorpusBuild(corpus, {"rows": int(dup_rows)}, checks, line)
