"""PubMed Central open-access articles through NCBI E-utilities (design doc 2.2.1).

esearch (db=pmc, each query ANDed with the open-access filter, paged) yields PMC ids; efetch
returns JATS XML in batches; each article becomes a body document and a separate abstract
document, kept only under an allowed licence (CC-BY, CC-BY-NC, CC0/public domain). NCBI asks
for <= 3 requests/s (10 with NCBI_API_KEY) and `tool`/`email` parameters: both are applied.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from alslm_ml.documents import Document
from alslm_ml.sources.config import SourcesConfig
from alslm_ml.sources.http import FetchError, PoliteClient
from alslm_ml.sources.jats import (
    Article,
    JatsError,
    NotArticlesError,
    ncbi_error,
    parse_article,
    parse_articleset,
    refuse_html,
)
from alslm_ml.sources.spool import Run

SOURCE = "pubmed"
DB = "pmc"  # esearch/efetch database: PMC full text. db=pubmed would return PMIDs and citation records.


def article_url(pmcid: str) -> str:
    return f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"


def parse_esearch(payload: bytes) -> tuple[int, list[str]]:
    """(total count, ids on this page) from an esearch XML response.

    An <ErrorList> (e.g. <PhraseNotFound>) is an error, not zero hits: NCBI drops the phrase it
    could not find and may still answer with the rest of the query, a silently different search."""
    refuse_html(payload, "esearch")
    try:
        root = etree.fromstring(payload, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise JatsError(f"malformed esearch XML: {exc}") from None
    if root.tag != "eSearchResult":
        message = ncbi_error(root)
        raise NotArticlesError(f"unexpected esearch root <{root.tag}>" + (f": {message}" if message else ""))
    if (err := root.findtext("ERROR")) is not None:
        raise JatsError(f"esearch error: {err.strip()}")
    if (errors := root.find("ErrorList")) is not None and len(errors):
        listed = "; ".join(f"{e.tag}: {' '.join(''.join(e.itertext()).split())}" for e in errors)
        raise JatsError(f"esearch <ErrorList>: {listed}")
    count = root.findtext("Count")
    if count is None or not count.strip().isdigit():
        raise JatsError("esearch response has no <Count>")
    return int(count), [i.text.strip() for i in root.iterfind("IdList/Id") if i.text]


def pmcids(ids: list[str], db: str) -> list[str]:
    """esearch ids as PMCIDs. Only ids from db=pmc are PMC ids: a db=pubmed search returns PMIDs,
    and "PMC" + a PMID names an unrelated article, so any other database is refused."""
    if db != DB:
        raise JatsError(f"esearch ids come from db={db!r}: those are not PMC ids (the scraper needs db={DB!r})")
    out = []
    for raw in ids:
        pmcid = raw.upper() if raw.upper().startswith("PMC") else f"PMC{raw}"
        if not pmcid[3:].isdigit():
            raise JatsError(f"esearch id {raw!r} is not a PMC id")
        out.append(pmcid)
    return out


def search_ids(client: PoliteClient, cfg: SourcesConfig, run: Run) -> Iterator[tuple[str, str]]:
    """(PMCID, query) for every query, page by page, deduplicated across queries."""
    base, pm = cfg.pubmed["base_url"], cfg.pubmed
    seen: set[str] = set()
    for query in pm["queries"]:
        term = f"({query}) AND {pm['open_access_filter']}"
        start, total = 0, None
        while total is None or start < total:
            params = {"db": DB, "term": term, "retstart": start, "retmax": pm["page_size"], **cfg.ncbi_params()}
            try:
                resp = client.get(f"{base}/esearch.fcgi", params=params)
                total, ids = parse_esearch(resp.content)
                ids = pmcids(ids, resp.request.url.params.get("db", ""))
            except (FetchError, JatsError) as exc:
                run.quarantine(f"esearch:{query}@{start}", str(exc))
                break  # this query's remaining pages are unreachable; go on with the next query
            if not ids:
                break
            for pmcid in ids:
                if pmcid not in seen:
                    seen.add(pmcid)
                    yield pmcid, query
            start += len(ids)


def article_documents(a: Article, today: str, query: str = "") -> list[Document]:
    meta = {
        "pmcid": a.pmcid,
        "pmid": a.pmid,
        "doi": a.doi,
        "journal": a.journal,
        "year": a.year,
        "article_type": a.article_type,
        "licence_evidence": a.licence_source,
        "query": query,
    }
    docs = []
    if a.sections:
        headings = [h for h, t in a.sections if t.startswith("#")]
        docs.append(
            Document(
                f"pubmed:{a.pmcid}",
                SOURCE,
                article_url(a.pmcid),
                a.title,
                a.body,
                today,
                a.licence,
                {**meta, "kind": "body", "sections": headings},
            )
        )
    if a.abstract:
        docs.append(
            Document(
                f"pubmed:{a.pmcid}:abstract",
                SOURCE,
                article_url(a.pmcid),
                a.title,
                a.abstract,
                today,
                a.licence,
                {**meta, "kind": "abstract"},
            )
        )
    return docs


def _efetch(client: PoliteClient, cfg: SourcesConfig, ids: list[str]) -> bytes:
    params = {"db": DB, "id": ",".join(i.removeprefix("PMC") for i in ids), "retmode": "xml", **cfg.ncbi_params()}
    return client.get(f"{cfg.pubmed['base_url']}/efetch.fcgi", params=params).content


def _handle(run: Run, cfg: SourcesConfig, el, wanted: dict[str, str]) -> str | None:
    """Parse one <article>; write, filter or quarantine it. Returns its PMCID if known."""
    try:
        a = parse_article(el)
    except JatsError as exc:
        ids = {i.get("pub-id-type"): i.text for i in el.iterfind("front/article-meta/article-id")}
        pmc = ids.get("pmc") or ids.get("pmcid") or "unknown"
        item = pmc if pmc.upper().startswith("PMC") else f"PMC{pmc}"
        run.quarantine(item, str(exc), etree.tostring(el)[:2000])
        return item
    if a.pmcid not in wanted:
        return None
    if run.full:  # cap reached mid-batch: leave it for the next run
        return a.pmcid
    if not cfg.licence_ok(SOURCE, a.licence):
        run.filtered(a.pmcid, a.licence)
        return a.pmcid
    docs = article_documents(a, run.today, wanted[a.pmcid])
    if not docs:
        run.quarantine(a.pmcid, "article has neither body nor abstract text", etree.tostring(el)[:2000])
    else:
        run.save(a.pmcid, docs)
    return a.pmcid


def fetch_batch(client: PoliteClient, cfg: SourcesConfig, run: Run, batch: dict[str, str]) -> None:
    """efetch a batch; a malformed batch is retried id by id so one bad article cannot sink the rest.
    A response that is not an article set at all (HTML page, NCBI error, wrong root) is not: the
    same request id by id would get the same answer, so the batch is quarantined as it stands."""
    try:
        payload = _efetch(client, cfg, list(batch))
        articles = parse_articleset(payload)
    except FetchError as exc:
        for pmcid in batch:
            run.quarantine(pmcid, f"efetch failed: {exc.reason}")
        return
    except NotArticlesError as exc:
        for pmcid in batch:
            run.quarantine(pmcid, str(exc), payload)
        return
    except JatsError as exc:
        if len(batch) > 1:
            for pmcid, q in batch.items():
                fetch_batch(client, cfg, run, {pmcid: q})
        else:
            run.quarantine(next(iter(batch)), str(exc), payload)
        return
    handled = {_handle(run, cfg, el, batch) for el in articles}
    for pmcid in batch:
        if pmcid not in handled:
            run.quarantine(pmcid, "not returned by efetch (withdrawn, or no full text in XML)")


def scrape(client: PoliteClient, cfg: SourcesConfig, run: Run) -> None:
    batch: dict[str, str] = {}
    for pmcid, query in search_ids(client, cfg, run):
        if run.full:
            break
        if run.seen(pmcid):
            continue
        batch[pmcid] = query
        room = run.max_docs - run.report.written if run.max_docs else cfg.pubmed["batch_size"]
        if len(batch) >= min(cfg.pubmed["batch_size"], max(room, 1)):
            fetch_batch(client, cfg, run, batch)
            batch = {}
    if batch and not run.full:
        fetch_batch(client, cfg, run, batch)
