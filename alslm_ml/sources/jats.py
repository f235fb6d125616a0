"""JATS XML (PubMed Central full text) to plain text with section headings, plus licence.

Kept: the article title, abstract(s) (an author summary or key points under its own heading) and
body sections (headings as Markdown `#` lines, paragraphs and lists); cross-references to figures,
tables, boxes and supplements keep their text ("see Table 2"), or their target's label when empty.
Dropped: references, figures, tables, formulas, supplementary material, footnotes,
affiliations/author notes (they live in <front>/<back>, which we never render), back-matter
sections some journals put in <body> (funding, data availability, competing interests, author
contributions, ethics), and bibliography citations together with their brackets and separators,
so "weakness (4–5)." reads "weakness." and "(p = 0.002; 12)" reads "(p = 0.002)".
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
# Bibliography citations become "\ue000text\ue001" tokens so the text step can remove them with
# their brackets and separators (or keep the text of an author-year citation that is part of the
# sentence); a bare-URL link becomes "\ue002url\ue003" (removed only when bracket-adjacent).
CITE_OPEN, CITE_CLOSE, URL_OPEN, URL_CLOSE = "\ue000", "\ue001", "\ue002", "\ue003"
CITATION_TYPES = {
    "bibr",
    "fn",
    "table-fn",
}  # removed; every other xref (fig, table, supplementary-material, boxed-text, sec...) keeps its text
BACK_MATTER_TYPES = {
    "funding", "funding-information", "funding-statement", "financial-disclosure", "data-availability",
    "data-accessibility", "coi-statement", "conflict", "conflicts-of-interest", "competing-interests",
    "author-contributions", "contributions", "ethics-statement", "ethics", "consent", "acknowledgments",
    "acknowledgements", "abbreviations", "supplementary-material", "declarations", "disclosure", "disclosures",
    "code-availability", "author-notes", "notes",
}  # fmt: skip
BACK_MATTER_TITLE = re.compile(
    r"^(?:\d+\.?\s*)?(?:funding(?: information| statement| sources?)?|sources? of funding|financial (?:support|disclosures?)"
    r"|grant information|data (?:accessibility|availability|sharing)(?: statement)?|availability of (?:data|supporting data)"
    r"(?: and materials)?|code availability|competing (?:financial )?interests?(?: statement)?"
    r"|conflicts? of interests?(?: statement)?|declarations?(?: of (?:competing )?interests?)?|disclosures?"
    r"|authors?['’]?s?['’]? contributions?|contributions|credit authorship contribution statement"
    r"|ethics(?: statement| approval(?: and consent to participate)?| declarations?)?|ethical (?:approval|statement|considerations)"
    r"|(?:patient |informed )?consent(?: for publication| to participate| statement)?|acknowledge?ments?"
    r"|abbreviations|supporting information|supplementary (?:materials?|information|data|files?))\.?$",
    re.IGNORECASE,
)
SUMMARY_NAMES = {
    "summary": "Author summary",
    "author-summary": "Author summary",
    "plain-language-summary": "Plain language summary",
    "executive-summary": "Executive summary",
    "key-points": "Key points",
    "web-summary": "Summary",
    "short": "Summary",
}
SKIPPED_ABSTRACTS = {"graphical", "teaser", "toc", "video"}


class JatsError(ValueError):
    """The payload is not usable JATS (truncated XML, no <article>, missing ids)."""


class NotArticlesError(JatsError):
    """The response is not a JATS article set at all (an HTML page, an NCBI error document, a PubMed
    record set): asking again id by id would get the same answer, so callers should not retry."""


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


def _labels(article: etree._Element) -> dict[str, str]:
    """id -> label ("Figure 2", "Table S1") of every labelled element, for empty cross-references."""
    return {
        e.get("id"): " ".join("".join(lab.itertext()).split())
        for e in article.iter()
        if isinstance(e.tag, str) and e.get("id") and (lab := e.find("label")) is not None
    }


def _is_back_matter(sec: etree._Element) -> bool:
    """Funding, data availability, competing interests, contributions, ethics... sections that some
    journals put inside <body>: statements about the paper, not content for the corpus."""
    if (sec.get("sec-type") or "").lower() in BACK_MATTER_TYPES:
        return True
    title = sec.find("title")
    return title is not None and bool(BACK_MATTER_TITLE.match(" ".join("".join(title.itertext()).split())))


def _clean(el: etree._Element, labels: dict[str, str] | None = None) -> etree._Element:
    el = copy.deepcopy(el)
    for bad in [
        e for e in el.iter() if isinstance(e.tag, str) and (e.tag in DROP or (e.tag == "sec" and _is_back_matter(e)))
    ]:
        if bad.getparent() is not None:
            _remove(bad)
    for x in el.iter("xref"):
        text = "".join(x.itertext())
        if x.get("ref-type") in CITATION_TYPES:
            x.text, x[:] = CITE_OPEN + text + CITE_CLOSE, []
        elif not text.strip():  # an empty cross-reference: its target's label, or nothing to say
            label = (labels or {}).get(x.get("rid", "").split()[0] if x.get("rid") else "", "")
            x.text = label or CITE_OPEN + CITE_CLOSE
    for link in el.iter("ext-link", "uri"):
        text = "".join(link.itertext()).strip()
        if re.fullmatch(r"(?:https?://|www\.|doi:)\S+", text):
            link.text, link[:] = URL_OPEN + text + URL_CLOSE, []
    return el


_TOKEN = f"(?:{CITE_OPEN}[^{CITE_CLOSE}]*{CITE_CLOSE}|{URL_OPEN}[^{URL_CLOSE}]*{URL_CLOSE})"
_RUN = re.compile(rf"{_TOKEN}(?:\s*(?:[,;–—-]|\band\b|&)?\s*{_TOKEN})*")
_LEAD = r"(?:(?:see also|see,? e\.g\.,?|see|e\.g\.,?|cf\.|i\.e\.,?|as reviewed in|reviewed in|review in|reviewed by|for (?:a )?reviews?,? see|refs?\.|references?)\s*)"
_BEFORE = re.compile(rf"([(\[]|[,;])\s*{_LEAD}?$", re.IGNORECASE)
_AFTER = re.compile(r"\s*(?:and references therein|for (?:a )?reviews?|for details)?\s*([)\]]|[,;])")
_REF_WORD = re.compile(r"\b(?:refs?\.|references?)\s*$", re.IGNORECASE)
_OBJECT_OF = re.compile(r"\b(?:in|by|from|see|of|to|with|and|or)\s*$", re.IGNORECASE)


def _as_reference(run: str) -> str:
    """A numeric citation run as words: "[1]–[3]" -> "refs. 1–3", "5" -> "ref. 5" ("" if empty)."""
    nums = " ".join(re.sub(r"[\[\]()\ue000-\ue003]", "", run).split())
    if not re.search(r"[0-9A-Za-z]", re.sub(r"\band\b", "", nums)):
        return ""
    return ("refs. " if re.search(r"[–—,;-]|\band\b", nums) else "ref. ") + nums


def _drop_citations(text: str) -> str:
    """Remove bibliography citations so the sentence stays well-formed: a bracket holding only
    citations goes with them ("disease (4–5)." -> "disease."), a citation sharing a bracket with
    other words goes with its separator ("(p = 0.002; 12)" -> "(p = 0.002)"), a numeric citation
    that is the object of a preposition stays as "ref. 12" ("as shown in [12]" would otherwise
    read "as shown in."), and an author-year citation outside brackets is part of the sentence
    ("Smith et al. (2019) showed") and keeps its text."""
    while m := _RUN.search(text):
        before, run, after = text[: m.start()], m.group(), text[m.end() :]
        inner = [t[1:-1] for t in re.findall(_TOKEN, run)]
        narrative = any(re.search(r"[A-Za-z]{2}", t) for t in inner) or run.startswith(URL_OPEN)
        lb, ra = _BEFORE.search(before), _AFTER.match(after)
        opened = lb is not None and lb.group(1) in "(["
        closed = ra is not None and ra.group(1) in ")]"
        depth = before.count("(") - before.count(")") + before.count("[") - before.count("]")
        lead = opened and bool(lb.group(0)[1:].strip())  # "(see 12)", "(review in 12)": goes with the bracket
        outside = before[: lb.start()] if opened and closed and not lead else before
        if not lead and (_OBJECT_OF.search(outside) or _REF_WORD.search(outside)):  # "shown in [12]", "refs. 4–6"
            words = ", ".join(inner) if narrative else _as_reference(run)
            if _REF_WORD.search(outside) and not narrative:
                words = words.split(" ", 1)[-1] if words else ""
            if words:
                tail = after[ra.end() :] if outside is not before else after
                text = outside.rstrip() + " " + words + tail
                continue
            before = re.sub(r",?\s*\b(?:[Ss]ee(?: also)?|cf\.)\s*$", "", before)  # an empty "see <xref/>"
            lb = _BEFORE.search(before)
            opened = lb is not None and lb.group(1) in "(["
        if opened and closed:  # "(4–5)" -> ""
            text = before[: lb.start()].rstrip() + after[ra.end() :]
        elif opened and ra is not None:  # "(4; p = 0.0043)" -> "(p = 0.0043)"
            text = before[: lb.start(1) + 1] + after[ra.end() :].lstrip()
        elif lb is not None and ra is not None and (not narrative or depth > 0):  # "(p; 12)" / "(a; 12; b)"
            text = before[: lb.start(1)].rstrip() + after[ra.start(1) :]
        elif narrative:
            text = before + "".join(inner) + after
        else:
            text = before.rstrip() + after
    text = re.sub(r"\s*[(\[]\s*(?:[,;]\s*)*[)\]]", "", text)  # brackets emptied by the removals
    return text


def _text(el: etree._Element) -> str:
    text = _drop_citations("".join(t for t in el.itertext() if isinstance(t, str)))
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
            items = [_text(i) for i in child.findall("list-item")]
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
    labels = _labels(article)
    abstract_parts: list[tuple[str, str]] = []
    for ab in meta.iterfind("abstract"):
        kind = ab.get("abstract-type") or ""
        if kind in SKIPPED_ABSTRACTS:
            continue
        if not kind:
            _render(_clean(ab, labels), 1, (), abstract_parts)
            continue
        # An author summary / key points block is a second text for another reader: it gets its own
        # heading instead of running on from the abstract.
        title = _first(ab, "title") or SUMMARY_NAMES.get(kind) or kind.replace("-", " ").capitalize()
        inner: list[tuple[str, str]] = []
        _render(_clean(ab, labels), 2, (title,), inner)
        if inner:
            abstract_parts += [(title, f"## {title}"), *inner]
    sections: list[tuple[str, str]] = []
    body = article.find("body")
    if body is not None:
        _render(_clean(body, labels), 1, (), sections)
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


_LATIN1_DECL = re.compile(
    rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["'](iso-8859-1|latin-?1|windows-1252|cp1252|us-ascii)["']""", re.I
)


def _utf8_despite_declaration(payload: bytes) -> bytes:
    """A payload declared Latin-1 whose bytes are valid UTF-8 with non-ASCII characters is UTF-8
    (Latin-1 text almost never happens to be valid multi-byte UTF-8): parsing it as declared
    would turn "é" into "Ã©" throughout the document."""
    m = _LATIN1_DECL.match(payload)
    if m is None or payload.isascii():
        return payload
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload
    return payload[: m.start(1)] + b"UTF-8" + payload[m.end(1) :]


def refuse_html(payload: bytes, what: str) -> None:
    """Raise NotArticlesError when a service answered with an HTML page (a maintenance or error
    page, a proxy login) instead of XML, naming the page's title, so the quarantine says so."""
    head = payload[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or (b"<html" in head and b"<?xml" not in head[:10]):
        m = re.search(rb"<title[^>]*>(.*?)</title>", payload[:8192], re.I | re.S)
        title = " ".join(m.group(1).decode("utf-8", "replace").split())[:200] if m else ""
        raise NotArticlesError(f"{what}: got an HTML page, not XML" + (f" (title: {title!r})" if title else ""))


def ncbi_error(root: etree._Element) -> str | None:
    """NCBI's own message in an error document (<eFetchResult><ERROR>, <ERROR>, <error>), if any."""
    for tag in ("ERROR", "error", "Error"):
        el = root if root.tag == tag else root.find(f".//{tag}")
        if el is not None:
            return " ".join("".join(el.itertext()).split()) or "(empty message)"
    return None


def parse_articleset(payload: bytes) -> list[etree._Element]:
    """Split an efetch response (<pmc-articleset> or a single <article>) into <article>s.

    Raises JatsError on malformed/truncated XML, and NotArticlesError (a JatsError) when the
    response is something else entirely: an HTML page, an NCBI error document, a PubMed record
    set. DTDs and entities are never resolved from the network (resolve_entities=False,
    no_network=True)."""
    refuse_html(payload, "efetch")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(_utf8_despite_declaration(payload), parser)
    except etree.XMLSyntaxError as exc:
        raise JatsError(f"malformed XML: {exc}") from None
    if root.tag == "article":
        return [root]
    if etree.QName(root).localname.lower() == "html":  # XHTML behind an XML declaration
        raise NotArticlesError(
            "efetch: got an HTML page, not XML" + (f" (title: {t!r})" if (t := _first(root, ".//{*}title")) else "")
        )
    if root.tag == "pmc-articleset":
        if (err := root.find("error")) is not None:
            raise NotArticlesError(f"E-utilities error: {ncbi_error(err)}")
        return root.findall("article")
    if (message := ncbi_error(root)) is not None:
        raise NotArticlesError(f"E-utilities error in <{root.tag}>: {message}")
    if root.tag == "PubmedArticleSet":
        raise NotArticlesError(
            "<PubmedArticleSet> is a PubMed citation record (efetch db=pubmed), not PMC full text (efetch db=pmc)"
        )
    raise NotArticlesError(f"unexpected root element <{root.tag}>: expected <pmc-articleset> or <article>")
