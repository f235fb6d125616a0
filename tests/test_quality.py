"""Text-quality gate: each check on the damage real parsers left (exact excerpts), clean prose and
the starter corpus's Markdown untouched, per-source rates, and the asset check on clean_documents
read from a real DuckDB file (passes on the starter corpus, fails on a damaged source)."""

from dataclasses import asdict

import duckdb
import pandas as pd
import pytest

from alslm_ml.processing import clean_documents
from alslm_ml.processing.quality import quality_report, text_issues

PROSE = (
    "Amyotrophic lateral sclerosis (ALS) affects upper and lower motor neurons. Weakness usually "
    "begins in one region and spreads; the ALSFRS-R score (range 0–48) is used to follow it. "
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("for the respective levels of the fixed factors, see and. Then", ("dangling_word", "for the respective levels of the fixed factors, see and. Then")),
        ("Grip strength fell, as shown in. The", ("dangling_word", "Grip strength fell, as shown in. The")),
        ("mice (p = 0.002;. Rats", ("unbalanced_brackets", "mice (p = 0.002;. Rats")),
        ("the gland; p = 0.0043) and", ("unbalanced_brackets", "the gland; p = 0.0043) and")),
        ("is known,; review in. Next", ("orphan_separator", "is known,; review in. Next")),
        ("is known ( ) here", ("empty_brackets", "is known ( ) here")),
        ("is known (see) here", ("empty_brackets", "is known (see) here")),
        ("Age \\>= 18 years", ("markup", "Age \\>= 18 years")),
        ("dose in mg&nbsp;per day", ("markup", "dose in mg&nbsp;per day")),
        ("the <italic>SOD1</italic> gene", ("markup", "the <italic>SOD1</italic> gene")),
        ("Charcot at the SalpÃªtriÃ¨re", ("mojibake", "Charcot at the SalpÃªtriÃ¨re")),
        ("Lou Gehrigâ€™s disease", ("mojibake", "Lou Gehrigâ€™s disease")),
    ],
)
def test_each_check_finds_the_damage_with_its_excerpt(text, expected):
    assert expected in text_issues(text, min_chars=0)


def test_clean_prose_lists_and_enumerations_pass():
    ok = [
        PROSE,
        "Inclusion criteria: 1) age 18 or older; 2) a diagnosis of ALS. Phases i) and ii) were merged.",
        "Adults with ALS (type 1) and PLS (the tracer [11C](R)-PK11195) were scanned. p < 0.05 and n > 3.",
        "The odds ratio (OR) in cystic fibrosis (CF) was 1.2 (95% CI 1.0 to 1.4; p = 0.03). What the protein is made of. The drug was approved in 2017 (Radicava) in the United States.",
        "Genetics\n\n- SOD1\n- C9orf72\n\nSee Table 2 and Figure 1A for the values, e.g. the mean.",
        "Jean-Martin Charcot described the disease at the Salpêtrière in Paris; “maladie de Charcot”.",
    ]
    for text in ok:
        assert text_issues(text, min_chars=0) == [], text


def test_too_short_and_one_excerpt_per_check_and_paragraph():
    assert text_issues("A stub.") == [("too_short", "7 characters: 'A stub.'")]
    issues = text_issues(PROSE * 2 + "see and. shown in.\n\n" + "see and.")
    assert [name for name, _ in issues] == ["dangling_word", "dangling_word"]


def test_report_rates_per_source_and_threshold():
    docs = [{"id": f"s{i}", "source": "starter", "text": PROSE * 2} for i in range(50)]
    docs += [{"id": "p0", "source": "pubmed", "text": PROSE * 2 + "as shown in."}, {"id": "p1", "source": "pubmed", "text": PROSE * 2}]
    r = quality_report(docs)
    d = r.as_dict()
    assert d["starter"]["flagged_share"] == 0.0 and d["pubmed"]["flagged"] == 1 and d["pubmed"]["flagged_share"] == 0.5
    assert d["pubmed"]["by_check"] == {"dangling_word": 1}
    assert d["pubmed"]["examples"] == [{"id": "p0", "check": "dangling_word", "excerpt": "…FRS-R score (range 0–48) is used to follow it. as shown in."}]
    assert r.failing(0.02) == ["pubmed"] and r.failing(0.5) == []


def test_starter_corpus_passes_the_gate_raw_and_cleaned():
    """The embedded default (Markdown headings, lists, enumerations) is not flagged."""
    from alslm_ml.sources.starter import load_starter

    raw = [asdict(d) for d in load_starter()]
    assert quality_report(raw).as_dict()["starter"]["flagged"] == 0
    kept, _ = clean_documents(raw)
    r = quality_report(kept).as_dict()["starter"]
    assert r["flagged"] == 0 and r["documents"] == len(kept) > 100


def _clean_table(db: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)  # noqa: F841 (read by DuckDB below)
    with duckdb.connect(db) as con:
        con.execute("create schema if not exists alslm")
        con.execute("create or replace table alslm.clean_documents as select * from frame")


def test_asset_check_passes_on_starter_and_fails_on_a_damaged_source(tmp_path, monkeypatch):
    from dagster import AssetSpec, materialize
    from dagster_duckdb import DuckDBResource
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    from alslm_assets.assets import processing, quality
    from alslm_assets.partitions import source_partitions
    from alslm_ml.documents import to_frame
    from alslm_ml.sources.starter import load_starter

    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    db = str(tmp_path / "warehouse.duckdb")
    raw = to_frame(load_starter())  # noqa: F841 (read by DuckDB below)
    with duckdb.connect(db) as con:
        con.execute("create schema alslm")
        con.execute("create table alslm.raw_documents as select * from raw")
    resources = {"io_manager": DuckDBPandasIOManager(database=db, schema="alslm"), "duckdb": DuckDBResource(database=db)}
    raw_spec = AssetSpec("raw_documents", partitions_def=source_partitions, metadata={"partition_expr": "source"})
    result = materialize([raw_spec, processing.clean_documents, quality.text_quality], partition_key="starter", resources=resources,
                         selection=[processing.clean_documents])
    assert result.success
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals["text_quality"].passed
    meta = evals["text_quality"].metadata
    assert meta["flagged"].value == 0 and meta["documents"].value > 100
    assert meta["flagged_share_by_source"].value == {"starter": 0.0}

    damaged = [{"id": f"pubmed:PMC{i}", "source": "pubmed", "text": PROSE * 2 + ("Results are shown in. " if i < 3 else "")} for i in range(10)]
    _clean_table(db, damaged)
    monkeypatch.setattr(quality, "BATCH", 4)  # several fetches
    out = quality.text_quality(duckdb=DuckDBResource(database=db))
    assert not out.passed and out.metadata["failing_sources"].value == ["pubmed"]
    pub = out.metadata["by_source"].value["pubmed"]
    assert (pub["documents"], pub["flagged"], pub["flagged_share"]) == (10, 3, 0.3)
    assert [e["id"] for e in pub["examples"]] == ["pubmed:PMC0", "pubmed:PMC1", "pubmed:PMC2"]
    monkeypatch.setenv("ALSLM_QUALITY_MAX_SHARE", "0.5")
    assert quality.text_quality(duckdb=DuckDBResource(database=db)).passed
    missing = quality.text_quality(duckdb=DuckDBResource(database=str(tmp_path / "empty.duckdb")))
    assert not missing.passed and missing.description == "alslm.clean_documents does not exist yet: materialize it first"
