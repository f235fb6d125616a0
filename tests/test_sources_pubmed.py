"""PubMed Central scraper: esearch paging, efetch JATS parsing, licence filter, resume, cap,
quarantine of truncated XML and failing requests. Recorded responses only (respx)."""

import json
from pathlib import Path

import httpx
import pytest
import respx
from lxml import etree

from alslm_ml.sources import make_client, scrape_source
from alslm_ml.sources.config import load_sources_config
from alslm_ml.sources.jats import JatsError, NotArticlesError, normalise_licence, parse_article, parse_articleset
from alslm_ml.sources.pubmed import parse_esearch, pmcids

FIX = Path(__file__).parent / "fixtures" / "sources"
EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"


def articles() -> dict[str, bytes]:
    """Each fixture article as its own efetch response (what efetch returns for one id)."""
    out = {}
    for el in parse_articleset((FIX / "efetch_batch.xml").read_bytes()):
        pmc = parse_article(el).pmcid.removeprefix("PMC")
        out[pmc] = b"<pmc-articleset>" + etree.tostring(el) + b"</pmc-articleset>"
    return out


class EUtils:
    """Replays esearch/efetch; records every request. `efetch_override(ids) -> Response|None`."""

    def __init__(self, efetch_override=None):
        self.requests: list[httpx.Request] = []
        self.override = efetch_override
        self.router = respx.MockRouter(assert_all_called=False)
        self.router.get(f"{EUTILS}/esearch.fcgi").mock(side_effect=self.esearch)
        self.router.get(f"{EUTILS}/efetch.fcgi").mock(side_effect=self.efetch)

    def esearch(self, request):
        self.requests.append(request)
        p = request.url.params
        if "motor neuron disease" in p["term"]:
            return httpx.Response(200, content=(FIX / "esearch_empty.xml").read_bytes())
        page = "esearch_page1.xml" if p["retstart"] == "0" else "esearch_page2.xml"
        return httpx.Response(200, content=(FIX / page).read_bytes())

    def efetch(self, request):
        self.requests.append(request)
        ids = request.url.params["id"].split(",")
        if self.override and (resp := self.override(ids)) is not None:
            return resp
        if len(ids) == 3:
            return httpx.Response(200, content=(FIX / "efetch_batch.xml").read_bytes())
        arts = articles()
        body = b"<pmc-articleset>" + b"".join(arts[i][16:-17] for i in ids) + b"</pmc-articleset>"
        return httpx.Response(200, content=body)

    def client(self, cfg, sleeps=None):
        sleeps = [] if sleeps is None else sleeps
        return make_client(cfg, transport=httpx.MockTransport(self.router.handler), sleep=sleeps.append)


@pytest.fixture
def cfg():
    return load_sources_config(FIX / "sources_test.yaml")


def read_spool(root: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (root / "pubmed").glob("*.json")}


def test_jats_body_sections_and_dropped_parts():
    a = parse_article(parse_articleset((FIX / "efetch_batch.xml").read_bytes())[0])
    assert a.pmcid == "PMC9000001" and a.pmid == "99000001" and a.year == "2024"
    assert a.licence == "CC-BY-4.0"
    assert [h for h, t in a.sections if t.startswith("#")] == [
        "Introduction",
        "Genetics",
        "Genetics / Familial and sporadic disease",
    ]
    body = a.body
    assert "## Introduction" in body and "### Familial and sporadic disease" in body
    assert "loss of motor neurons in the brain and spinal cord. Weakness" in body  # citations removed cleanly
    assert "a minority are familial. Genes" in body and "[1]" not in body and "–" not in body
    assert "- Upper motor neuron signs" in body
    for dropped in ("SHOULD NOT APPEAR", "Supplementary Material", "Example University", "alex.fixture", "competing"):
        assert dropped not in body and dropped not in a.abstract
    c = parse_article(parse_articleset((FIX / "efetch_batch.xml").read_bytes())[2])
    assert c.abstract.startswith("## Background") and "GRAPHICAL" not in c.abstract  # structured, no graphical


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
        ("http://creativecommons.org/licenses/by-nc/3.0/", "CC-BY-NC-3.0"),
        ("https://creativecommons.org/licenses/by-nc-nd/4.0/legalcode", "CC-BY-NC-ND-4.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
        (
            "This is an open-access article distributed under the terms of the Creative Commons Attribution License",
            "CC-BY",
        ),
        ("Creative Commons Attribution-NonCommercial 4.0 International License", "CC-BY-NC-4.0"),
        ("Creative Commons Attribution-NonCommercial-NoDerivatives 4.0", "CC-BY-NC-ND-4.0"),
        ("Creative Commons Attribution-ShareAlike 4.0", "CC-BY-SA-4.0"),
        ("This article is a US Government work and is in the public domain in the USA.", "public-domain"),
        ("open-access", ""),
        ("All rights reserved.", ""),
    ],
)
def test_licence_normalisation(raw, expected):
    assert normalise_licence(raw) == expected


def test_scrape_pages_filters_licences_and_sends_ncbi_params(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", "fixture-key")
    eu = EUtils()
    report, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu.client(cfg), today="2026-11-22", progress=False)
    ids = sorted(d.id for d in docs)
    assert ids == ["pubmed:PMC9000001", "pubmed:PMC9000001:abstract", "pubmed:PMC9000003", "pubmed:PMC9000003:abstract"]
    assert report.written == 4 and report.licence_filtered == 1 and report.licence_filtered_by == {"CC-BY-NC-ND-4.0": 1}
    assert report.quarantined == 0 and report.bytes == sum(len(d.text.encode()) for d in docs)
    searches = [r for r in eu.requests if r.url.path.endswith("esearch.fcgi")]
    assert [r.url.params["retstart"] for r in searches] == ["0", "2", "0"]  # page 2 of query 1, then query 2
    assert all('"open access"[filter]' in r.url.params["term"] and r.url.params["db"] == "pmc" for r in searches)
    for r in eu.requests:
        assert r.url.params["tool"] == "alslm-tests" and r.url.params["email"] == "tests@example.org"
        assert r.url.params["api_key"] == "fixture-key"
    fetches = [r for r in eu.requests if r.url.path.endswith("efetch.fcgi")]
    assert len(fetches) == 1 and fetches[0].url.params["id"] == "9000001,9000002,9000003"
    body = next(d for d in docs if d.id == "pubmed:PMC9000001")
    assert body.url == "https://pmc.ncbi.nlm.nih.gov/articles/PMC9000001/" and body.license == "CC-BY-4.0"
    assert body.metadata["kind"] == "body" and body.metadata["doi"] == "10.0000/fixture.0001"
    abstract = next(d for d in docs if d.id == "pubmed:PMC9000001:abstract")
    assert abstract.metadata["kind"] == "abstract" and "ALS" in abstract.text and "##" not in abstract.text
    assert not any("no-derivatives" in d.title for d in docs)
    spool = read_spool(tmp_path)
    assert set(spool) == {
        "pubmed_PMC9000001",
        "pubmed_PMC9000001_abstract",
        "pubmed_PMC9000003",
        "pubmed_PMC9000003_abstract",
    }


def test_ncbi_rate_without_and_with_key(cfg, monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    assert make_client(cfg).host_rates["eutils.ncbi.nlm.nih.gov"] == 3.0
    monkeypatch.setenv("NCBI_API_KEY", "k")
    assert make_client(cfg).host_rates["eutils.ncbi.nlm.nih.gov"] == 10.0


def test_cap_then_resume_skips_fetched_items(cfg, tmp_path):
    eu = EUtils()
    r1, docs1 = scrape_source("pubmed", cfg, out=tmp_path, max_docs=1, client=eu.client(cfg), progress=False)
    assert r1.capped and r1.written == 2 and len(docs1) == 2  # an article's body + abstract are written together
    assert [r.url.params["id"] for r in eu.requests if "efetch" in r.url.path] == ["9000001"]

    eu2 = EUtils()
    r2, docs2 = scrape_source("pubmed", cfg, out=tmp_path, client=eu2.client(cfg), progress=False)
    assert r2.skipped == 1 and r2.written == 2 and r2.licence_filtered == 1
    assert [r.url.params["id"] for r in eu2.requests if "efetch" in r.url.path] == ["9000002,9000003"]
    assert len(docs2) == 4

    eu3 = EUtils()  # nothing new: the licence-filtered article is remembered too
    r3, docs3 = scrape_source("pubmed", cfg, out=tmp_path, client=eu3.client(cfg), progress=False)
    assert (r3.written, r3.skipped) == (0, 3) and not [r for r in eu3.requests if "efetch" in r.url.path]
    assert len(docs3) == 4


def test_killed_run_resumes(cfg, tmp_path):
    """A run killed mid-item (after one document file, before the index line) re-fetches only that item."""
    eu = EUtils()
    scrape_source("pubmed", cfg, out=tmp_path, max_docs=1, client=eu.client(cfg), progress=False)
    index = tmp_path / "pubmed" / "_index.jsonl"
    index.write_text(index.read_text() + '{"item": "PMC90000')  # the kill cut this line in half
    eu2 = EUtils()
    r2, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu2.client(cfg), progress=False)
    assert r2.skipped == 1 and r2.written == 2 and len(docs) == 4


def test_truncated_batch_falls_back_to_single_ids_and_quarantines_the_bad_one(cfg, tmp_path):
    full = (FIX / "efetch_batch.xml").read_bytes()

    def override(ids):
        if len(ids) > 1 or ids == ["9000003"]:
            return httpx.Response(200, content=full[: len(full) // 2])  # truncated XML
        return None

    eu = EUtils(override)
    report, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu.client(cfg), progress=False)
    assert sorted(d.id for d in docs) == ["pubmed:PMC9000001", "pubmed:PMC9000001:abstract"]
    assert report.licence_filtered == 1 and report.quarantined == 1
    q = report.quarantine[0]
    assert q["item_id"] == "PMC9000003" and "malformed XML" in q["reason"] and q["excerpt"].startswith("<?xml")
    logged = [json.loads(line) for line in (tmp_path / "pubmed" / "_quarantine.jsonl").read_text().splitlines()]
    assert logged[0]["item_id"] == "PMC9000003"
    # quarantined items are retried on the next run
    eu2 = EUtils()
    r2, docs2 = scrape_source("pubmed", cfg, out=tmp_path, client=eu2.client(cfg), progress=False)
    assert r2.written == 2 and len(docs2) == 4


def test_repeated_503_on_efetch_is_quarantined_and_the_run_carries_on(cfg, tmp_path):
    sleeps: list[float] = []
    eu = EUtils(lambda ids: httpx.Response(503, headers={"Retry-After": "2"}))
    report, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu.client(cfg, sleeps), progress=False)
    assert docs == [] and report.quarantined == 3
    assert all("HTTP 503 after 3 tries" in q["reason"] for q in report.quarantine)
    assert sleeps.count(2.0) == 2  # Retry-After honoured between the 3 tries
    assert len([r for r in eu.requests if "efetch" in r.url.path]) == 3


def test_esearch_failure_quarantines_query_and_moves_on(cfg, tmp_path):
    eu = EUtils()
    eu.router.routes.clear()
    calls = []

    def esearch(request):
        calls.append(request.url.params["term"])
        if "amyotrophic" in request.url.params["term"]:
            return httpx.Response(200, content=b"<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>")
        return httpx.Response(200, content=(FIX / "esearch_empty.xml").read_bytes())

    eu.router.get(f"{EUTILS}/esearch.fcgi").mock(side_effect=esearch)
    report, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu.client(cfg), progress=False)
    assert len(calls) == 2 and docs == []
    assert report.quarantined == 1 and "Invalid query" in report.quarantine[0]["reason"]
    assert report.quarantine[0]["item_id"].startswith("esearch:")


# --- corpus quality of the JATS text (issue 12) ---------------------------------------------

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference-payloads"


def _xrefs_article():
    return parse_article(parse_articleset((FIX / "efetch_jats_xrefs.xml").read_bytes())[0])


def test_jats_citations_go_with_their_brackets_cross_references_keep_their_text():
    a = _xrefs_article()
    assert a.body.split("\n\n") == [
        "## Introduction",
        "Loss of motor neurons causes progressive weakness. Clinical scales such as the revised ALS functional rating "
        "scale are widely used. White (2022) argued that simple measurements are easier to repeat.",
        "## Methods",
        "Participants were assessed every three months (see Figure 1 and Table 1). The test battery is listed in "
        "S1 Table, and the scoring sheet is shown in Figure 2.",
        "Mixed models were fitted with visit as a fixed factor (p = 0.002). Speech timing was slower in the "
        "bulbar-onset group (p = 0.004), as previously described in ref. 6. The protocol is available online.",
        "## Results",
        "Grip strength fell by a median of 20% over the year (Figure 1; Table 1), in line with earlier cohorts. "
        "These numbers are invented for the test suite.",
    ]


def test_jats_back_matter_sections_in_the_body_are_dropped():
    a = _xrefs_article()
    assert [h for h, t in a.sections if t.startswith("#")] == ["Introduction", "Methods", "Results"]
    for dropped in ("FUNDING", "FX-0000", "DATA STATEMENT", "COMPETING", "CONTRIBUTIONS", "ETHICS", "SUPPLEMENT", "CAPTION", "CELL", "REFERENCE"):
        assert dropped not in a.body and dropped not in a.abstract


def test_jats_author_summary_gets_its_own_heading():
    a = _xrefs_article()
    assert a.abstract.split("\n\n") == [
        "We describe a fictional cohort of people with amyotrophic lateral sclerosis (ALS) followed for one year. "
        "Grip strength declined in most participants (Figure 1).",
        "## Author summary",
        "ALS weakens the muscles used for moving, speaking and breathing. In this made-up study we show how two "
        "simple measurements could be followed over time.",
    ]


def test_utf8_payload_declared_latin1_is_read_as_utf8_and_the_gate_sees_mojibake_otherwise():
    from alslm_ml.processing.quality import text_issues

    payload = (FIX / "efetch_latin1_declared.xml").read_bytes()
    a = parse_article(parse_articleset(payload)[0])
    assert a.title == "Charcot’s description of ALS at the Salpêtrière: a fixture note"
    assert "at the Salpêtrière hospital in Paris" in a.body and text_issues(a.body, min_chars=0) == []
    as_declared = etree.fromstring(payload).findtext("article/body/sec/p")  # what the old parser produced
    assert "SalpÃªtriÃ¨re" in as_declared
    assert [name for name, _ in text_issues(as_declared, min_chars=0)] == ["mojibake"]


@pytest.mark.parametrize(
    "fixture, message",
    [
        ("efetch_error.xml", "E-utilities error in <eFetchResult>: Empty id list - nothing todo"),
        ("error_page.html", "efetch: got an HTML page, not XML (title: 'NCBI - WWW Error Blocked Diagnostic')"),
        ("efetch_pubmed_record.xml", "<PubmedArticleSet> is a PubMed citation record (efetch db=pubmed), not PMC full text (efetch db=pmc)"),
    ],
)
def test_error_documents_are_named(fixture, message):
    with pytest.raises(NotArticlesError) as exc:
        parse_articleset((FIX / fixture).read_bytes())
    assert str(exc.value) == message


def test_xhtml_page_behind_an_xml_declaration_is_named():
    xhtml = b'<?xml version="1.0"?>\n' + (FIX / "error_page.html").read_bytes().split(b"\n", 1)[1].replace(
        b'<html lang="en">', b'<html xmlns="http://www.w3.org/1999/xhtml">'
    ).replace(b'<meta charset="utf-8">', b"")
    with pytest.raises(NotArticlesError, match=r"^efetch: got an HTML page, not XML \(title: 'NCBI - WWW Error Blocked Diagnostic'\)$"):
        parse_articleset(xhtml)


def test_a_response_that_is_not_an_article_set_is_not_retried_id_by_id(cfg, tmp_path):
    page = (FIX / "error_page.html").read_bytes()
    eu = EUtils(lambda ids: httpx.Response(200, content=page, headers={"Content-Type": "text/html"}))
    report, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu.client(cfg), progress=False)
    assert docs == [] and report.quarantined == 3
    assert len([r for r in eu.requests if "efetch" in r.url.path]) == 1  # one batch request, no per-id retries
    assert {q["item_id"] for q in report.quarantine} == {"PMC9000001", "PMC9000002", "PMC9000003"}
    assert all("got an HTML page" in q["reason"] for q in report.quarantine)


def test_esearch_error_list_is_an_error_not_zero_hits(cfg, tmp_path):
    with pytest.raises(JatsError, match=r"^esearch <ErrorList>: PhraseNotFound: amyotrophc$"):
        parse_esearch((FIX / "esearch_errorlist.xml").read_bytes())
    eu = EUtils()
    eu.router.routes.clear()
    eu.router.get(f"{EUTILS}/esearch.fcgi").mock(return_value=httpx.Response(200, content=(FIX / "esearch_errorlist.xml").read_bytes()))
    report, docs = scrape_source("pubmed", cfg, out=tmp_path, client=eu.client(cfg), progress=False)
    assert docs == [] and report.quarantined == 2  # both queries, named
    assert all(q["item_id"].startswith("esearch:") and "PhraseNotFound" in q["reason"] for q in report.quarantine)
    with pytest.raises(JatsError, match="got an HTML page"):
        parse_esearch((FIX / "error_page.html").read_bytes())


def test_ids_are_pmc_ids_only_when_they_come_from_db_pmc():
    assert pmcids(["9000001", "PMC9000002"], "pmc") == ["PMC9000001", "PMC9000002"]
    with pytest.raises(JatsError, match="db='pubmed': those are not PMC ids"):
        pmcids(["41282813"], "pubmed")
    with pytest.raises(JatsError, match="not a PMC id"):
        pmcids(["PMID41282813"], "pmc")


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference-payloads not checked out next to the repo")
def test_reference_payloads_from_other_projects():
    """Real payloads recorded by other projects (../shared/reference-payloads, not copied here)."""
    count, ids = parse_esearch((REFERENCE / "eutils_esearch_example.xml").read_bytes())
    assert count == 63 and len(ids) == 20 and ids[0] == "41282813"
    a = parse_article(parse_articleset((REFERENCE / "pmc_oa_jats_pone.0046493.nxml").read_bytes())[0])
    assert (a.pmcid, a.licence, a.year) == ("PMC3460867", "CC-BY", "2012")
    para = next(p for p in a.body.split("\n\n") if p.startswith("Peptide mass fingerprinting"))
    assert "regardless the protease used (Table S4). Other proteins" in para
    assert "within the single peptide containing its catalytic Serine residue (see Table S4 and Figure 3D). Similarly" in para
    assert a.body.split("\n\n")[1].startswith(
        "According to the World Health Organization (2011), tuberculosis remains one of the most threatening"
    )  # "(2011; <URL>)" loses the URL and its separator, not the bracket
    assert "Supporting Information" not in a.body and "Click here" not in a.body


def _one_paragraph(p: str) -> str:
    """The body text JATS parsing makes of one <p> (in an article that also has a labelled Figure 2)."""
    xml = (
        '<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta><article-id pub-id-type="pmc">9000099'
        "</article-id><title-group><article-title>T</article-title></title-group></article-meta></front>"
        f'<body><p>{p}</p><fig id="F2"><label>Figure 2</label></fig></body></article>'
    )
    return parse_article(parse_articleset(xml.encode())[0]).body


def _b(n, text=None):
    return f'<xref ref-type="bibr" rid="B{n}">{text or n}</xref>'


@pytest.mark.parametrize(
    "p, expected",
    [
        (f"as shown in [{_b(5)}].", "as shown in ref. 5."),
        (f"as shown in {_b(5, '[5]')}.", "as shown in ref. 5."),
        (f"as discussed in refs. {_b(5)}&#x2013;{_b(7)}.", "as discussed in refs. 5–7."),
        (f"in mice (see {_b(5)}).", "in mice."),
        (f"in mice (as shown in {_b(5)}).", "in mice (as shown in ref. 5)."),
        ('factors, see <xref ref-type="fig" rid="F9"/> and <xref ref-type="table" rid="T9"/>.', "factors."),
        ('factors (see <xref ref-type="fig" rid="F9"/> and <xref ref-type="table" rid="T9"/>).', "factors."),
        ('factors, see <xref ref-type="fig" rid="F2"/>.', "factors, see Figure 2."),
        (f"Smith et al. [{_b(5)}] reported it.", "Smith et al. reported it."),
        (f"in the disease<sup>[{_b(1)}, {_b(2)}]</sup>.", "in the disease."),
        (f"(Fig. 1 and {_b(5)})", "(Fig. 1 and ref. 5)"),
        (f"as described in ({_b(5, 'Smith 2019')}).", "as described in Smith 2019."),
        (f"weakness {_b(1)}-{_b(3)}, then", "weakness, then"),
    ],
)
def test_citation_positions(p, expected):
    assert _one_paragraph(p) == expected
