"""ClinicalTrials.gov v2 scraper: nextPageToken paging, sectioned text without contacts or
locations, posted results, malformed records/pages quarantined, resume. Recorded responses only."""

import json
from pathlib import Path

import httpx
import pytest
import respx

from alslm_ml.sources import make_client, scrape_source
from alslm_ml.sources.clinicaltrials import StudyError, study_document
from alslm_ml.sources.config import load_sources_config

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
    return load_sources_config(FIX / "sources_test.yaml")


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
    assert "Phase: phase 2" in t and "Enrollment: 40 participants (actual)" in t
    assert "- Drug: Test compound (also known as TC-1). A fictional oral compound" in t
    assert "Change in ALSFRS-R total score (time frame: Baseline to week 24)" in t
    assert "Test compound: -4.1 (standard deviation 2.0)" in t and "Limitations and caveats: Small fictional sample." in t
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
    assert report.quarantine[0]["reason"] == (
        "malformed page JSON: no field 'studies' (got keys ['totalCount']); "
        "expected an API v2 page {'studies': [...], 'nextPageToken': ...}"
    )


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


# --- corpus quality of the study text (issue 12) --------------------------------------------

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference-payloads"


def quality_studies() -> list[dict]:
    return json.loads((FIX / "ctgov_v2_quality.json").read_text())["studies"]


def sections(text: str) -> dict[str, str]:
    """'## Heading' -> the text under it."""
    out, head = {}, "#"
    for block in text.split("\n\n"):
        if block.startswith("## "):
            head = block[3:]
            out[head] = ""
        else:
            out[head] = (out.get(head, "") + "\n\n" + block).strip()
    return out


def test_results_render_the_primary_analysis_flow_baseline_and_adverse_events():
    doc = study_document(quality_studies()[0], "2026-11-22")
    s = sections(doc.text)
    assert s["Results summary"] == (
        "Primary outcome: Change in Slow Vital Capacity (time frame: Baseline to week 48). Percent of predicted SVC; "
        "a smaller decline is better. Analysis population: Modified intention-to-treat population. Values (least "
        "squares mean, percent predicted): Compound B: -14.2 (standard error 1.9); Placebo: -15.0 (standard error "
        "1.8). Participants analysed: Compound B 58, Placebo 59. Analysis (Compound B vs Placebo): Mixed Models "
        "Analysis; mean difference (net) 0.8 (95% CI -4.4 to 6.0, two-sided); p = 0.76; superiority analysis. Model "
        "adjusted for baseline SVC.\n\nLimitations and caveats: Fictional data."
    )
    assert s["Participant flow"] == (
        "Overall Study: started: Compound B 60, Placebo 60; completed: Compound B 51, Placebo 54; not completed: "
        "Compound B 9, Placebo 6; withdrawn (adverse event): Compound B 5, Placebo 2; withdrawn (death): Compound B 4, "
        "Placebo 4."
    )
    assert s["Baseline characteristics"] == (
        "All randomized participants.\n\nParticipants: Compound B 60, Placebo 60, Total 120.\n\nAge, Continuous "
        "(mean, years): Compound B: 58.1 (standard deviation 10.2); Placebo: 57.4 (standard deviation 9.8); Total: "
        "57.8 (standard deviation 10.0)."
    )
    assert s["Adverse events"].endswith("Placebo: serious adverse events 10 of 60, other adverse events 38 of 60, deaths 4 of 60.")
    assert "Design: randomized, parallel assignment, masking: double (participant, investigator), primary purpose: treatment" in doc.text
    assert "Enrollment: 120 participants (actual)" in doc.text
    assert s["Eligibility criteria"].startswith("Inclusion Criteria:\n\n* Age >= 18 years\n* SVC >= 60% of predicted")
    for private in ("555-010", "desk@example.org", "results@example.org", "Results Desk", "Fixture Hospital", "Sampleville"):
        assert private not in doc.text


def test_observational_population_and_markdown_escapes():
    doc = study_document(quality_studies()[1], "2026-11-22")
    s = sections(doc.text)
    assert s["Study population"] == (
        "Adults with ALS seen at fixture clinics, with a disease duration <= 24 months.\n\n"
        "Sampling method: non-probability sample."
    )
    assert s["Brief summary"] == "A fictional registry that records speech rate [words per minute] every three months."
    assert "Design: cohort model, prospective" in doc.text and "Enrollment: 300 participants (estimated)" in doc.text
    assert "\\" not in doc.text


def test_null_modules_string_conditions_and_null_measure():
    doc = study_document(quality_studies()[2], "2026-11-22")
    assert doc.text == (
        "# Fixture Study With Null Modules\n\nConditions: ALS\n\n## Brief summary\n\nA fictional record whose design "
        "module is null and whose conditions field is a single string.\n\n## Primary outcomes\n\n- Survival (time "
        "frame: 1 year)"
    )
    assert doc.metadata["conditions"] == ["ALS"] and doc.metadata["phases"] == []


def test_title_only_and_mistyped_fields_are_refused_naming_the_field(cfg, tmp_path):
    with pytest.raises(StudyError, match=r"^NCT09990014: no descriptive field"):
        study_document(quality_studies()[3], "2026-11-22")
    with pytest.raises(StudyError) as exc:
        study_document(quality_studies()[4], "2026-11-22")
    assert str(exc.value) == "NCT09990015: field protocolSection.armsInterventionsModule.interventions: expected a list, got dict"
    ct = CtGov({None: "ctgov_v2_quality.json"})
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct.client(cfg), progress=False)
    assert [d.id for d in docs] == ["clinicaltrials:NCT09990011", "clinicaltrials:NCT09990012", "clinicaltrials:NCT09990013"]
    assert [q["item_id"] for q in report.quarantine] == ["NCT09990014", "NCT09990015"]
    assert report.quarantine[1]["reason"] == "malformed study: " + str(exc.value)


def test_v1_api_response_is_named_as_the_retired_format(cfg, tmp_path):
    ct = CtGov({None: "ctgov_v1_fields.json"})
    report, docs = scrape_source("clinicaltrials", cfg, out=tmp_path, client=ct.client(cfg), progress=False)
    assert docs == [] and report.quarantined == 1
    assert report.quarantine[0]["reason"].startswith(
        "malformed page JSON: this is the retired ClinicalTrials.gov v1 API format (<StudyFieldsResponse>)"
    )


def test_fixture_studies_pass_the_text_quality_gate():
    from dataclasses import asdict

    from alslm_ml.processing import clean_documents
    from alslm_ml.processing.quality import quality_report

    studies = [*json.loads((FIX / "ctgov_page1.json").read_text())["studies"][:2], *quality_studies()[:3]]
    docs = [asdict(study_document(s, "2026-11-22")) for s in studies]
    kept, _ = clean_documents(docs, min_tokens=20)
    for batch in (docs, kept):
        q = quality_report(batch, min_chars=100).as_dict()["clinicaltrials"]
        assert (q["documents"], q["flagged"]) == (5, 0), q["examples"]


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference-payloads not checked out next to the repo")
def test_reference_study_from_another_project():
    """NCT00763412 as recorded by ctti-clinicaltrials/aact (../shared/reference-payloads, not copied here)."""
    doc = study_document(json.loads((REFERENCE / "ctgov_v2_study_NCT00763412.json").read_text()), "2026-11-22")
    s = sections(doc.text)
    assert s["Participant flow"] == (
        "Overall Study: started: Placebo 8, 2. Repaglinide 8; completed: Placebo 4, 2. Repaglinide 4; "
        "not completed: Placebo 4, 2. Repaglinide 4."
    )
    assert s["Results summary"].startswith(
        "Primary outcome: BMI (time frame: 2 year/end of study). Values (mean, Kg/m^2): 1 Placebo: 19.63 "
        "(full range 15.56 to 22.64); 2. Repaglinide: 21.19 (full range 20.78 to 21.8). Participants analysed: "
        "1 Placebo 4, 2. Repaglinide 4."
    )
    for private in ("arbelaez_a@kids.wustl.edu", "314-286-1138", "Saint Louis", "63110", "Neil H White"):
        assert private not in doc.text
