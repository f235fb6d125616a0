"""raw_documents through Dagster on a real DuckDB file: per-source partitions replaced in place,
quarantine table, asset checks, schedules, and the `alslm scrape` CLI. No network."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import pytest
from dagster import DagsterInstance, DefaultScheduleStatus, Definitions, build_schedule_context, materialize
from dagster_duckdb import DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasIOManager

from alslm_assets.assets import sources as src_assets
from alslm_assets.resources import shared_resources
from alslm_ml.sources import cli, make_client

FIX = Path(__file__).parent / "fixtures" / "sources"
STARTER_DOC = """---
id: {slug}
title: {title}
category: genetics
license: {license}
author: tests
references: ["a reference"]
---
Body of {slug}.
"""


def ctgov_handler(pages: dict):
    def handler(request):
        if request.url.host != "clinicaltrials.gov":
            return httpx.Response(404)
        page = pages.get(request.url.params.get("pageToken"))
        if not page:  # no recording: the server keeps failing
            return httpx.Response(503)
        return httpx.Response(200, content=(FIX / page).read_bytes())

    return handler


class ReplayHttp(src_assets.ScraperHttp):
    """Serves recorded CT.gov pages instead of the network."""

    page2: str = "ctgov_page2.json"

    def client(self, cfg):
        pages = {None: "ctgov_page1.json", "FIXTUREtoken2": self.page2}
        return make_client(cfg, transport=httpx.MockTransport(ctgov_handler(pages)), sleep=lambda s: None)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path / "data"))
    starter = tmp_path / "starter"
    (starter / "genetics").mkdir(parents=True)
    for slug in ("alpha", "beta"):
        (starter / "genetics" / f"{slug}.md").write_text(
            STARTER_DOC.format(slug=slug, title=slug.title(), license="CC-BY-4.0")
        )
    db = str(tmp_path / "warehouse.duckdb")
    return {"db": db, "starter": starter, "spool": str(tmp_path / "raw")}


def run(env, partition, http=None, max_docs=-1):
    resources = {
        "io_manager": DuckDBPandasIOManager(database=env["db"], schema="alslm"),
        "duckdb": DuckDBResource(database=env["db"]),
        "scraper_http": http or ReplayHttp(),
    }
    cfg = {
        "config_path": str(FIX / "sources_test.yaml"),
        "spool_dir": env["spool"],
        "starter_dir": str(env["starter"]),
        "max_docs": max_docs,
    }
    return materialize(
        [src_assets.raw_documents],
        partition_key=partition,
        resources=resources,
        run_config={"ops": {"raw_documents": {"config": cfg}}},
        raise_on_error=True,
    )


def rows(env, sql):
    with duckdb.connect(env["db"], read_only=True) as con:
        return con.execute(sql).fetchall()


def checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_partitions_are_replaced_not_duplicated(env):
    r = run(env, "starter")
    assert checks(r) == {"non_empty_partition": True, "unique_ids": True, "licence_allowlist": True}
    r = run(env, "clinicaltrials", max_docs=2)
    mat = r.asset_materializations_for_node("raw_documents")[0].metadata
    assert mat["documents"].value == 2 and mat["written"].value == 2 and mat["quarantined"].value == 0
    assert rows(env, "SELECT source, count(*) FROM alslm.raw_documents GROUP BY 1 ORDER BY 1") == [
        ("clinicaltrials", 2),
        ("starter", 2),
    ]

    # re-scrape: the partition keeps earlier docs (skipped) plus new ones, replaced atomically
    r = run(env, "clinicaltrials")
    mat = r.asset_materializations_for_node("raw_documents")[0].metadata
    assert (mat["written"].value, mat["skipped_already_fetched"].value, mat["quarantined"].value) == (1, 2, 1)
    assert mat["bytes"].value > 0 and len(mat["preview"].value.records) == 3
    assert rows(env, "SELECT source, count(*), count(DISTINCT id) FROM alslm.raw_documents GROUP BY 1 ORDER BY 1") == [
        ("clinicaltrials", 3, 3),
        ("starter", 2, 2),
    ]
    assert rows(env, "SELECT item_id, source FROM alslm.quarantine") == [("page:FIXTUREtoken2#1", "clinicaltrials")]
    (cols,) = rows(
        env,
        "SELECT list(column_name ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_schema='alslm' AND table_name='raw_documents'",
    )
    assert cols[0] == ["id", "source", "url", "title", "text", "date_accessed", "license", "metadata"]

    # starter again: its rows are replaced, clinicaltrials untouched
    (env["starter"] / "genetics" / "beta.md").unlink()
    run(env, "starter")
    assert rows(env, "SELECT source, count(*) FROM alslm.raw_documents GROUP BY 1 ORDER BY 1") == [
        ("clinicaltrials", 3),
        ("starter", 1),
    ]


def test_failing_page_is_quarantined_and_partition_carries_on(env):
    r = run(env, "clinicaltrials", http=ReplayHttp(page2=""))
    mat = r.asset_materializations_for_node("raw_documents")[0].metadata
    assert mat["documents"].value == 2 and mat["quarantined"].value == 1
    ((item, reason),) = rows(env, "SELECT item_id, reason FROM alslm.quarantine")
    assert item == "page:FIXTUREtoken2" and "HTTP 503 after 3 tries" in reason


def test_licence_check_fails_on_disallowed_licence(env):
    (env["starter"] / "genetics" / "gamma.md").write_text(
        STARTER_DOC.format(slug="gamma", title="Gamma", license="all-rights-reserved")
    )
    r = materialize_no_raise(env, "starter")
    assert checks(r)["licence_allowlist"] is False


def materialize_no_raise(env, partition):
    resources = {
        "io_manager": DuckDBPandasIOManager(database=env["db"], schema="alslm"),
        "duckdb": DuckDBResource(database=env["db"]),
        "scraper_http": ReplayHttp(),
    }
    cfg = {"config_path": str(FIX / "sources_test.yaml"), "starter_dir": str(env["starter"])}
    return materialize(
        [src_assets.raw_documents],
        partition_key=partition,
        resources=resources,
        run_config={"ops": {"raw_documents": {"config": cfg}}},
        raise_on_error=False,
    )


def test_weekly_schedules_stopped_by_default_and_target_their_partition(env):
    names = {s.name: s for s in src_assets.schedules}
    assert set(names) == {
        f"weekly_scrape_{s}" for s in ("pubmed", "clinicaltrials", "educational", "narratives", "supplementary")
    }
    crons = {s.cron_schedule for s in src_assets.schedules}
    assert len(crons) == 5  # staggered: never two scrapes on the same day
    repo = Definitions(
        assets=[src_assets.raw_documents],
        jobs=src_assets.jobs,
        schedules=src_assets.schedules,
        resources={**shared_resources(), **src_assets.resources},
    ).get_repository_def()
    for source, sched in ((n.removeprefix("weekly_scrape_"), s) for n, s in names.items()):
        assert sched.default_status == DefaultScheduleStatus.STOPPED and sched.job_name == "scrape_source"
        with DagsterInstance.ephemeral() as instance:
            req = sched.evaluate_tick(
                build_schedule_context(
                    instance=instance,
                    repository_def=repo,
                    scheduled_execution_time=datetime(2026, 11, 23, 3, tzinfo=UTC),
                )
            ).run_requests[0]
        assert req.partition_key == source and req.run_key == f"{source}-2026-11-23"


def test_cli_scrape_prints_counts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "alslm_ml.sources.make_client",
        lambda cfg: make_client(
            cfg,
            transport=httpx.MockTransport(
                ctgov_handler({None: "ctgov_page1.json", "FIXTUREtoken2": "ctgov_page2.json"})
            ),
            sleep=lambda s: None,
        ),
    )
    rc = cli.main(
        [
            "--source",
            "clinicaltrials",
            "--max-docs",
            "2",
            "--out",
            str(tmp_path),
            "--config",
            str(FIX / "sources_test.yaml"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "written: 2" in out and "documents_total: 2" in out
    assert len(list((tmp_path / "clinicaltrials").glob("*.json"))) == 2
    rc = cli.main(["--source", "pubmed", "--config", str(tmp_path / "missing.yaml")])
    assert rc == 2 and "missing.yaml: file not found" in capsys.readouterr().err


class DownHttp(src_assets.ScraperHttp):
    """Every request fails: the server is down for the whole run."""

    def client(self, cfg):
        return make_client(cfg, transport=httpx.MockTransport(lambda r: httpx.Response(503)), sleep=lambda s: None)


def test_empty_partition_fails_the_non_empty_check(env):
    r = run(env, "clinicaltrials", http=DownHttp())
    assert checks(r)["non_empty_partition"] is False
    assert rows(env, "SELECT count(*) FROM alslm.quarantine") == [(1,)]
