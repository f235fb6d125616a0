"""Curated pages for educational, narratives and supplementary (design doc 2.2.3-2.2.5).

Only URLs listed in sources.yaml are fetched (robots.txt honoured, per-host rate limit). Web
pages go through trafilatura (main text, headings kept as Markdown, no navigation, comments or
tables); Wikipedia articles go through the MediaWiki API (prop=extracts, plain text), which is
cheaper for the servers and cleaner than scraping rendered HTML. Narratives get a PII scrub.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlsplit

import trafilatura

from alslm_ml.documents import Document
from alslm_ml.sources.config import Entry, SourcesConfig
from alslm_ml.sources.http import FetchError, HostNotAllowed, PoliteClient, RobotsDisallowed
from alslm_ml.sources.pii import scrub
from alslm_ml.sources.spool import Run

MIN_CHARS = 200  # shorter extractions are navigation stubs or error pages, not content
DROP_WIKI_SECTIONS = {
    "references",
    "external links",
    "see also",
    "further reading",
    "notes",
    "bibliography",
    "sources",
    "citations",
    "footnotes",
}


class ExtractionError(ValueError):
    """No usable text in the payload."""


def doc_id(source: str, url: str) -> str:
    parts = urlsplit(url)
    return f"{source}:{parts.hostname}{parts.path.rstrip('/')}"


def extract_html(html: str, url: str) -> tuple[str, dict]:
    """Main text of a page (Markdown headings and lists) and its page metadata."""
    text = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        deduplicate=True,
    )
    if not text or len(text.strip()) < MIN_CHARS:
        raise ExtractionError(f"no main text extracted ({len((text or '').strip())} chars < {MIN_CHARS})")
    meta = trafilatura.extract_metadata(html, default_url=url)
    info = {k: getattr(meta, k, None) for k in ("title", "sitename", "date", "author")} if meta else {}
    return text.strip(), {k: v for k, v in info.items() if v}


def wiki_title(url: str) -> str:
    path = urlsplit(url).path
    if not path.startswith("/wiki/"):
        raise ExtractionError(f"{url}: not a /wiki/<Title> URL")
    return unquote(path.removeprefix("/wiki/")).replace("_", " ")


def wiki_text(extract: str) -> str:
    """MediaWiki plain-text extract (== H2 == / === H3 ===) -> Markdown, minus reference sections."""
    out, skipping = [], False
    for line in extract.splitlines():
        m = re.fullmatch(r"\s*(=+)\s*(.*?)\s*=+\s*", line)
        if m:
            level = len(m.group(1))
            if level == 2:
                skipping = m.group(2).lower() in DROP_WIKI_SECTIONS
            if not skipping:
                out.append("#" * level + " " + m.group(2))
            continue
        if not skipping:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def fetch_mediawiki(client: PoliteClient, entry: Entry) -> tuple[str, str, dict]:
    """(title, text, metadata) of one article through action=query&prop=extracts."""
    host = urlsplit(entry.url).hostname
    params = {
        "action": "query",
        "prop": "extracts|info",
        "explaintext": 1,
        "exsectionformat": "wiki",
        "inprop": "url",
        "redirects": 1,
        "titles": wiki_title(entry.url),
        "format": "json",
        "formatversion": 2,
    }
    resp = client.get(f"https://{host}/w/api.php", params=params)
    try:
        data = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExtractionError(f"malformed MediaWiki JSON: {exc}") from None
    if "error" in data:
        raise ExtractionError(f"MediaWiki error: {data['error'].get('info', data['error'])}")
    pages = (data.get("query") or {}).get("pages")
    if not isinstance(pages, list) or not pages:
        raise ExtractionError("MediaWiki response has no query.pages")
    page = pages[0]
    if page.get("missing") or page.get("invalid"):
        raise ExtractionError(f"MediaWiki page {page.get('title')!r} does not exist")
    text = wiki_text(page.get("extract") or "")
    if len(text) < MIN_CHARS:
        raise ExtractionError(f"MediaWiki extract too short ({len(text)} chars)")
    meta = {"pageid": page.get("pageid"), "lastrevid": page.get("lastrevid"), "wiki_title": page.get("title")}
    return page.get("title") or entry.title, text, meta


def scrape(client: PoliteClient, cfg: SourcesConfig, run: Run) -> None:
    source = run.source
    for entry in cfg.entries.get(source, []):
        if run.full:
            return
        if run.seen(entry.url):
            continue
        payload = None
        try:
            if entry.api == "mediawiki":
                title, text, meta = fetch_mediawiki(client, entry)
            else:
                resp = client.get(entry.url, robots=True)
                payload = resp.text
                text, meta = extract_html(payload, entry.url)
                title = entry.title
        except RobotsDisallowed as exc:
            run.report.robots_blocked += 1
            run.quarantine(entry.url, str(exc))
            continue
        except (FetchError, ExtractionError, HostNotAllowed) as exc:  # HostNotAllowed: redirected off-list
            run.quarantine(entry.url, str(exc), payload)
            continue
        meta = {**meta, "api": entry.api, "curated_title": entry.title}
        if source == "narratives" or entry.scrub_names:
            text, counts = scrub(text, entry.scrub_names)
            run.report.pii.update(counts)
            meta["pii_removed"] = dict(counts)
        if entry.ethics:
            meta["ethics"] = entry.ethics
        run.save(
            entry.url,
            [Document(doc_id(source, entry.url), source, entry.url, title, text, run.today, entry.license, meta)],
        )
