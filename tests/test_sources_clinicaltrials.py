"""ClinicalTrials.gov v2 scraper: nextPageToken paging, sectioned text without contacts or
locations, posted results, malformed records/pages quarantined, resume. Recorded responses only."""

import json
from pathlib import Path

import httpx
import pytest
import respx

from alslm_ml.sources import make_client, scrape_source
from alslm_ml.sources.clinicaltrials import StudyError, study_document
from alslm_ml.sources.config import load_config

FIX = Path(__file__).parent / "fixtures" / "sources"
API = "https://clinicaltrials.gov/api/v2/studies"


class CtGov:
    def __init__(self, pages=None):
        self.pages = pages or {None: "ctgov_page1.json", "FIXTUREtoken2": "ctgov_page2.json"}
        self.requests: list[httpx.Request] = []
        self.router = respx.MockRouter(assert_all_called=False)
        self.router.get(API).mock(side_effect=self.handle)

    def handle(self, request):
        self.requests.append(request)
        page = self.pages[request.url.params.get("pageToken")]
        if isinstance(page, httpx.Response):
            return page
        return httpx.Response(200, content=(FIX / page).read_bytes(), headers={"Content-Type": "application/json"})

    def client(self, cfg):
        return make_client(cfg, transport=httpx.MockTransport(self.router.handler), sleep=lambda s: None)


@pytest.fixture
def cfg():
    return load_config(FIX / "sources_test.yaml")


def test_pages_with_next_page_token_and_quarantines_malformed_study(cfg, tmp_path):
    ct = CtGov()
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct.client(cfg), progress=False)
    assert [d.id for d in docs] == [
        "clinicaltrials:NCT09990001",
        "clinicaltrials:NCT09990002",
        "clinicaltrials:NCT09990003",
    ]
    assert [r.url.params.get("pageToken") for r in ct.requests] == [None, "FIXTUREtoken2"]
    first = ct.requests[0].url.params
    assert first["query.cond"] == "amyotrophic lateral sclerosis" and first["pageSize"] == "2"
    assert report.written == 3 and report.quarantined == 1
    q = report.quarantine[0]
    assert q["item_id"] == "page:FIXTUREtoken2#1" and "nctId" in q["reason"] and "Malformed on purpose" in q["excerpt"]
    assert all(d.license == "public-domain" and d.source == "clinicaltrials" for d in docs)


def test_study_text_sections_results_and_no_contacts():
    study = json.loads((FIX / "ctgov_page1.json").read_text())["studies"][0]
    doc = study_document(study, "2026-11-22")
    t = doc.text
    assert doc.url == "https://clinicaltrials.gov/study/NCT09990001" and doc.title.startswith(
        "Fixture Study of an Oral"
    )
    for header in (
        "## Brief summary",
        "## Detailed description",
        "## Eligibility criteria",
        "## Arms",
        "## Interventions",
        "## Primary outcomes",
        "## Secondary outcomes",
        "## Results summary",
    ):
        assert header in t
    assert t.index("## Brief summary") < t.index("## Eligibility criteria") < t.index("## Results summary")
    assert "Phase: phase 2" in t and "Enrollment: 40 participants" in t
    assert "- Drug: Test compound (also known as TC-1). A fictional oral compound" in t
    assert "Change in ALSFRS-R total score (time frame: Baseline to week 24)" in t
    assert "Test compound: -4.1 (spread 2.0)" in t and "Limitations and caveats: Small fictional sample." in t
    for private in (
        "555-010",
        "coordinator@example.org",
        "jordan@example.org",
        "Exampletown",
        "Example Fixture Clinic",
        "Jordan Example",
    ):
        assert private not in t and private not in json.dumps(doc.metadata)
    assert doc.metadata["has_results"] is True and doc.metadata["phases"] == ["PHASE2"]


def test_study_without_results_has_no_results_section():
    study = json.loads((FIX / "ctgov_page1.json").read_text())["studies"][1]
    doc = study_document(study, "2026-11-22")
    assert "## Results summary" not in doc.text and "## Brief summary" in doc.text
    with pytest.raises(StudyError, match="protocolSection"):
        study_document({"hasResults": False}, "2026-11-22")


def test_truncated_page_json_is_quarantined(cfg, tmp_path):
    ct = CtGov({None: "ctgov_page1.json", "FIXTUREtoken2": "ctgov_truncated.json"})
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct.client(cfg), progress=False)
    assert len(docs) == 2 and report.quarantined == 1
    q = report.quarantine[0]
    assert q["item_id"] == "page:FIXTUREtoken2" and "malformed page JSON" in q["reason"]
    assert q["excerpt"].startswith('{"studies"')


def test_page_without_studies_field_is_quarantined(cfg, tmp_path):
    ct = CtGov({None: httpx.Response(200, json={"totalCount": 0})})
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct.client(cfg), progress=False)
    assert docs == [] and report.quarantine[0]["item_id"] == "page:first"
    assert "KeyError" in report.quarantine[0]["reason"]


def test_resume_after_partial_run(cfg, tmp_path):
    ct = CtGov()
    r1, docs1 = scrape_source("clinicaltrials", cfg, out=tmp_path, max_docs=2, client=ct.client(cfg), progress=False)
    assert r1.capped and len(docs1) == 2 and len(ct.requests) == 1  # stopped before fetching page 2
    ct2 = CtGov()
    r2, docs2 = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct2.client(cfg), progress=False)
    assert (r2.skipped, r2.written) == (2, 1) and len(docs2) == 3
    files = sorted(p.name for p in (tmp_path / "clinicaltrials").glob("*.json"))
    assert files == [
        "clinicaltrials_NCT09990001.json",
        "clinicaltrials_NCT09990002.json",
        "clinicaltrials_NCT09990003.json",
    ]


def test_429_with_retry_after_then_page(cfg, tmp_path):
    sleeps = []
    responses = [httpx.Response(429, headers={"Retry-After": "3"})]

    def handler(request):
        if responses:
            return responses.pop()
        token = request.url.params.get("pageToken")
        page = "ctgov_page1.json" if token is None else "ctgov_page2.json"
        return httpx.Response(200, content=(FIX / page).read_bytes())

    client = make_client(cfg, transport=httpx.MockTransport(handler), sleep=sleeps.append)
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=client, progress=False)
    assert len(docs) == 3 and 3.0 in sleeps


def test_interrupted_run_resumes_where_it_stopped(cfg, tmp_path):
    """Ctrl-C (or a kill) while fetching page 2: page 1's studies are already on disk."""

    def interrupted(request):
        if request.url.params.get("pageToken"):
            raise KeyboardInterrupt
        return httpx.Response(200, content=(FIX / "ctgov_page1.json").read_bytes())

    client = make_client(cfg, transport=httpx.MockTransport(interrupted), sleep=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        scrape_source("clinicaltrials", cfg, out=tmp_path, client=client, progress=False)
    assert len(list((tmp_path / "clinicaltrials").glob("*.json"))) == 2

    ct = CtGov()
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct.client(cfg), progress=False)
    assert (report.skipped, report.written) == (2, 1) and len(docs) == 3
