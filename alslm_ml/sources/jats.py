"""JATS XML (PubMed Central full text) to plain text with section headings, plus licence.

Kept: the article title, abstract(s) and body sections (headings as Markdown `#` lines,
paragraphs and lists). Dropped: references, figures, tables, formulas, supplementary material,
footnotes, affiliations/author notes (they live in <front>/<back>, which we never render), and
citation markers such as "[1]–[3]" so sentences read cleanly.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from lxml import etree

XLINK = "{http://www.w3.org/1999/xlink}href"
ALI_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"
DROP = {
    "fig",
    "fig-group",
    "table-wrap",
    "table-wrap-group",
    "table",
    "disp-formula",
    "inline-formula",
    "supplementary-material",
    "fn",
    "fn-group",
    "ref-list",
    "graphic",
    "media",
    "alternatives",
    "label",
    "object-id",
    "aff",
    "author-notes",
    "disp-quote-attrib",
    "ack",
}
CITE = "\ue000"  # placeholder for a removed citation marker


class JatsError(ValueError):
    """The payload is not usable JATS (truncated XML, no <article>, missing ids)."""


@dataclass
class Article:
    pmcid: str
    pmid: str
    doi: str
    title: str
    journal: str
    year: str
    article_type: str
    licence: str  # normalised, e.g. CC-BY-4.0; "" when none could be read
    licence_source: str  # the raw URL/text it was read from
    abstract: str
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading path, text)

    @property
    def body(self) -> str:
        return "\n\n".join(text for _, text in self.sections)


def normalise_licence(value: str | None) -> str:
    """A licence URL, type or sentence -> SPDX-like id (CC-BY-4.0, CC-BY-NC-ND-3.0, CC0-1.0,
    public-domain); "" when it names no licence we recognise."""
    if not value:
        return ""
    s = " ".join(value.split()).lower()
    if m := re.search(r"creativecommons\.org/licenses/([a-z-]+)/(\d(?:\.\d)?)", s):
        return f"CC-{m.group(1).upper()}-{m.group(2)}"
    if m := re.search(r"creativecommons\.org/licenses/([a-z-]+)", s):
        return f"CC-{m.group(1).upper()}"
    if "publicdomain/zero" in s or re.search(r"\bcc0\b|creative commons zero", s):
        return "CC0-1.0"
    if "publicdomain/mark" in s or "public domain" in s or s in ("public-domain", "pd"):
        return "public-domain"
    if not re.search(r"creative\s*commons|\bcc[ -]?by\b", s):
        return ""
    code = "BY"
    if re.search(r"non-?\s?commercial|\bby-nc\b|\bcc[ -]by[ -]nc\b", s):
        code += "-NC"
    if re.search(r"share\s?-?alike|[ -]sa\b", s):
        code += "-SA"
    if re.search(r"no\s?-?deriv|[ -]nd\b", s):
        code += "-ND"
    version = re.search(r"\b(\d\.\d)\b", s)
    return f"CC-{code}" + (f"-{version.group(1)}" if version else "")


def read_licence(article: etree._Element) -> tuple[str, str]:
    """(normalised licence, raw evidence) from <permissions>, most explicit evidence first."""
    for lic in article.iterfind("front/article-meta/permissions/license"):
        candidates = [lic.get(XLINK)]
        candidates += [r.text for r in lic.iter(ALI_REF)]
        candidates += [e.get(XLINK) for e in lic.iter("ext-link", "uri")]
        candidates += [lic.get("license-type"), " ".join(lic.itertext())]
        for raw in candidates:
            if norm := normalise_licence(raw):
                return norm, " ".join((raw or "").split())[:300]
    return "", ""


def _remove(el: etree._Element) -> None:
    """Remove an element but keep its tail text in the flow."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _clean(el: etree._Element) -> etree._Element:
    el = copy.deepcopy(el)
    for bad in [e for e in el.iter() if isinstance(e.tag, str) and e.tag in DROP]:
        if bad.getparent() is not None:
            _remove(bad)
    for x in el.iter("xref"):
        if x.get("ref-type") in ("bibr", "fn", "table-fn", "fig", "table", "supplementary-material"):
            x.text, x[:] = CITE, []
    return el


def _text(el: etree._Element) -> str:
    text = "".join(t for t in el.itertext() if isinstance(t, str))
    # "needed [1], [2]." / "shown (3–5)" -> "needed." / "shown"
    text = re.sub(r"\s*[\[(]?\s*" + CITE + r"(?:\s*[,;–—-]\s*" + CITE + r")*(?:\s*[\])])?", "", text)
    text = text.replace(CITE, "")
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([.,;:])", r"\1", text)


def _render(el: etree._Element, depth: int, path: tuple[str, ...], out: list[tuple[str, str]]) -> None:
    """Walk a <body>/<abstract>/<sec>, emitting (heading path, text) blocks in order."""
    blocks: list[str] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "sec":
            if blocks:
                out.append((" / ".join(path), "\n\n".join(blocks)))
                blocks = []
            title_el = child.find("title")
            title = _text(title_el) if title_el is not None else ""
            sub_path = path + (title,) if title else path
            inner: list[tuple[str, str]] = []
            _render(child, depth + 1, sub_path, inner)
            if not any(not t.startswith("#") for _, t in inner):
                continue  # a heading over dropped content only (e.g. "Supporting Information")
            if title:
                out.append((" / ".join(sub_path), "#" * min(depth + 1, 6) + " " + title))
            out.extend(inner)
        elif child.tag in ("p", "disp-quote", "boxed-text", "statement", "def-list"):
            if t := _text(child):
                blocks.append(t)
        elif child.tag == "list":
            items = [_text(i) for i in child.iter("list-item")]
            blocks.append("\n".join(f"- {i}" for i in items if i))
    if blocks:
        out.append((" / ".join(path), "\n\n".join(blocks)))


def _first(article: etree._Element, xpath: str) -> str:
    el = article.find(xpath)
    return _text(el) if el is not None else ""


def parse_article(article: etree._Element) -> Article:
    meta = article.find("front/article-meta")
    if meta is None:
        raise JatsError("no <front>/<article-meta>")
    ids = {i.get("pub-id-type"): (i.text or "").strip() for i in meta.iterfind("article-id")}
    pmc = ids.get("pmcid") or ids.get("pmc") or ""
    if not pmc:
        raise JatsError("no <article-id pub-id-type='pmc'>")
    pmcid = pmc if pmc.upper().startswith("PMC") else f"PMC{pmc}"
    title = _first(article, "front/article-meta/title-group/article-title")
    if not title:
        raise JatsError(f"{pmcid}: no <article-title>")
    licence, evidence = read_licence(article)
    abstract_parts: list[tuple[str, str]] = []
    for ab in meta.iterfind("abstract"):
        if ab.get("abstract-type") in ("graphical", "teaser", "toc", "video"):
            continue
        _render(_clean(ab), 1, (), abstract_parts)
    sections: list[tuple[str, str]] = []
    body = article.find("body")
    if body is not None:
        _render(_clean(body), 1, (), sections)
    year = ""
    for d in meta.iterfind("pub-date"):
        if (y := d.findtext("year")) and (not year or y < year):
            year = y.strip()
    return Article(
        pmcid=pmcid.upper(),
        pmid=ids.get("pmid", ""),
        doi=ids.get("doi", ""),
        title=title,
        journal=_first(article, "front/journal-meta/journal-title-group/journal-title"),
        year=year,
        article_type=article.get("article-type", ""),
        licence=licence,
        licence_source=evidence,
        abstract="\n\n".join(t for _, t in abstract_parts),
        sections=sections,
    )


def parse_articleset(payload: bytes) -> list[etree._Element]:
    """Split an efetch response (<pmc-articleset> or a single <article>) into <article>s.

    Raises JatsError on malformed/truncated XML. DTDs and entities are never resolved from the
    network (resolve_entities=False, no_network=True)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(payload, parser)
    except etree.XMLSyntaxError as exc:
        raise JatsError(f"malformed XML: {exc}") from None
    if root.tag == "article":
        return [root]
    if root.tag != "pmc-articleset":
        raise JatsError(f"unexpected root element <{root.tag}>")
    if (err := root.find("error")) is not None:
        raise JatsError(f"E-utilities error: {_text(err)}")
    return root.findall("article")
