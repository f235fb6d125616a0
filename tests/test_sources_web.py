"""Curated web pages (trafilatura), MediaWiki extracts, robots.txt, allowlist and the PII scrub.
Recorded responses only."""

from pathlib import Path

import httpx
import pytest
import respx

from alslm_ml.sources import make_client, scrape_source
from alslm_ml.sources.config import load_sources_config
from alslm_ml.sources.pii import scrub
from alslm_ml.sources.web import extract_html, wiki_text

FIX = Path(__file__).parent / "fixtures" / "sources"


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


class Sites:
    def __init__(self):
        self.requests: list[httpx.Request] = []
        r = self.router = respx.MockRouter(assert_all_called=False)
        html = {"Content-Type": "text/html; charset=utf-8"}
        r.get("https://health.example.gov/robots.txt").mock(
            return_value=httpx.Response(200, content=fixture("robots.txt"))
        )
        r.get("https://health.example.gov/als").mock(
            return_value=httpx.Response(200, content=fixture("page_educational.html"), headers=html)
        )
        r.get("https://health.example.gov/private/als-notes").mock(return_value=httpx.Response(200, text="secret"))
        r.get("https://blog.example.org/robots.txt").mock(return_value=httpx.Response(404))
        r.get("https://blog.example.org/my-year-with-als").mock(
            return_value=httpx.Response(200, content=fixture("page_narrative.html"), headers=html)
        )
        r.get("https://en.wikipedia.org/w/api.php", params={"titles": "SOD1"}).mock(
            return_value=httpx.Response(200, content=fixture("mediawiki_sod1.json"))
        )
        r.get("https://en.wikipedia.org/w/api.php", params={"titles": "No such ALS fixture page"}).mock(
            return_value=httpx.Response(200, content=fixture("mediawiki_missing.json"))
        )

    def client(self, cfg):
        def handler(request):
            self.requests.append(request)
            return self.router.handler(request)

        return make_client(cfg, transport=httpx.MockTransport(handler), sleep=lambda s: None)


@pytest.fixture
def cfg():
    return load_sources_config(FIX / "sources_test.yaml")


def test_educational_extraction_and_robots_disallow(cfg, tmp_path):
    sites = Sites()
    report, docs = scrape_source(
        "educational", cfg, out=tmp_path, client=sites.client(cfg), today="2026-11-22", progress=False
    )
    assert [d.id for d in docs] == ["educational:health.example.gov/als"]
    doc = docs[0]
    assert (
        doc.title == "ALS | Fixture Institute" and doc.license == "public-domain" and doc.date_accessed == "2026-11-22"
    )
    assert "motor neurons" in doc.text and "## What is ALS?" in doc.text and "## How is ALS diagnosed?" in doc.text
    assert "NAVIGATION MENU" not in doc.text and "FOOTER SHOULD NOT APPEAR" not in doc.text
    assert report.robots_blocked == 1 and report.quarantined == 1
    assert report.quarantine[0]["item_id"] == "https://health.example.gov/private/als-notes"
    assert "robots.txt" in report.quarantine[0]["reason"]
    paths = [r.url.path for r in sites.requests]
    assert "/private/als-notes" not in paths and paths.count("/robots.txt") == 1
    assert all(r.headers["User-Agent"].startswith("ALS-LM-tests") for r in sites.requests)


def test_narratives_are_pii_scrubbed_with_counts(cfg, tmp_path):
    report, docs = scrape_source("narratives", cfg, out=tmp_path, client=Sites().client(cfg), progress=False)
    (doc,) = docs
    for pii in ("sam.writer@example.com", "555-867-5309", "42 Maple Grove Lane", "March 4, 1970", "Robin"):
        assert pii not in doc.text
    for placeholder in ("[EMAIL]", "[PHONE]", "[ADDRESS]", "[DATE OF BIRTH]", "[NAME]"):
        assert placeholder in doc.text
    assert "speech therapist" in doc.text  # the narrative itself survives
    assert report.pii == {"email": 1, "phone": 1, "street_address": 1, "date_of_birth": 1, "name": 2}
    assert doc.metadata["ethics"].startswith("Fictional fixture") and doc.metadata["pii_removed"]["name"] == 2


def test_pii_scrub_leaves_ordinary_text_alone():
    text = "Riluzole was approved in 1995. The 2014 campaign raised awareness; 12 participants enrolled."
    assert scrub(text) == (text, {})
    out, counts = scrub("Call +1 (555) 010-0123 or write to 10 Downing Street. DOB: 01/02/1960.")
    assert counts == {"phone": 1, "street_address": 1, "date_of_birth": 1} and "[PHONE]" in out


def test_mediawiki_extract_and_missing_page(cfg, tmp_path):
    sites = Sites()
    report, docs = scrape_source("supplementary", cfg, out=tmp_path, client=sites.client(cfg), progress=False)
    (doc,) = docs
    assert doc.id == "supplementary:en.wikipedia.org/wiki/SOD1" and doc.license == "CC-BY-SA-4.0"
    assert "## Function" in doc.text and "### Structure" in doc.text and "## Clinical significance" in doc.text
    assert "SHOULD NOT APPEAR" not in doc.text and "References" not in doc.text
    assert doc.metadata["lastrevid"] == 1234567890
    api = [r for r in sites.requests if r.url.path == "/w/api.php"]
    assert api[0].url.params["action"] == "query" and api[0].url.params["prop"] == "extracts|info"
    assert api[0].url.params["explaintext"] == "1" and not any(r.url.path == "/robots.txt" for r in sites.requests)
    assert report.quarantined == 1 and "does not exist" in report.quarantine[0]["reason"]


def test_wiki_text_headings():
    assert wiki_text("Intro.\n\n== A ==\nx\n=== B ===\ny\n== Notes ==\nz") == "Intro.\n\n## A\nx\n### B\ny"


def test_redirect_off_allowlist_is_quarantined_not_followed(cfg, tmp_path):
    sites = Sites()
    sites.router.routes.clear()
    sites.router.get("https://health.example.gov/robots.txt").mock(return_value=httpx.Response(404))
    sites.router.get("https://health.example.gov/als").mock(
        return_value=httpx.Response(302, headers={"Location": "https://tracker.example.net/als"})
    )
    sites.router.get("https://tracker.example.net/als").mock(return_value=httpx.Response(200, text="never"))
    cfg.entries["educational"] = cfg.entries["educational"][:1]
    report, docs = scrape_source("educational", cfg, out=tmp_path, client=sites.client(cfg), progress=False)
    assert docs == [] and "tracker.example.net" in report.quarantine[0]["reason"]
    assert "allowlist" in report.quarantine[0]["reason"]
    assert not any(r.url.host == "tracker.example.net" for r in sites.requests)


def test_short_page_is_quarantined(cfg, tmp_path):
    from alslm_ml.sources.web import ExtractionError

    with pytest.raises(ExtractionError, match="no main text"):
        extract_html("<html><body><p>Too short.</p></body></html>", "https://health.example.gov/x")


def test_allowed_hosts_come_from_the_config(cfg):
    assert cfg.allowed_hosts() == {
        "eutils.ncbi.nlm.nih.gov",
        "clinicaltrials.gov",
        "health.example.gov",
        "blog.example.org",
        "en.wikipedia.org",
    }


def test_page_timing_out_on_every_try_is_quarantined_and_the_run_carries_on(cfg, tmp_path):
    sites = Sites()
    sites.router.get("https://health.example.gov/als").mock(side_effect=httpx.ReadTimeout("too slow"))
    cfg.entries["educational"].append(cfg.entries["narratives"][0])  # a second, healthy page after the slow one
    report, docs = scrape_source("educational", cfg, out=tmp_path, client=sites.client(cfg), progress=False)
    slow = [q for q in report.quarantine if q["item_id"] == "https://health.example.gov/als"]
    assert slow and "timeout (ReadTimeout) after 3 tries" in slow[0]["reason"]
    assert [r.url.path for r in sites.requests].count("/als") == 3
    assert [d.url for d in docs] == ["https://blog.example.org/my-year-with-als"]
