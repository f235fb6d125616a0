"""Cleaning: markup stripping, non-content sections, in-text citations, volatile content,
Unicode NFC, whitespace, and a minimum length. Each removal is counted by reason."""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A tokenizer-free length: words and punctuation marks (the corpus has no BPE yet here)."""
    return len(_TOKEN.findall(text))


# --- markup -------------------------------------------------------------------------------
_TAG = re.compile(r"<[^>]{1,300}>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|/)[^)]*\)")
_MD_EMPH = re.compile(r"(\*\*|__)(.+?)\1")
_URL = re.compile(r"https?://\S+")


def strip_markup(text: str) -> str:
    text = _SCRIPT.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = _MD_LINK.sub(r"\1", text)
    if "**" in text or "__" in text:
        text = _MD_EMPH.sub(r"\2", text)
    return _URL.sub("", text)


# --- non-content sections -----------------------------------------------------------------
NON_CONTENT = {
    "references", "reference list", "bibliography", "acknowledgements", "acknowledgments",
    "acknowledgement", "funding", "funding statement", "conflict of interest", "conflicts of interest",
    "competing interests", "declaration of competing interest", "author contributions",
    "supplementary material", "supplementary materials", "supplementary information",
    "data availability", "data availability statement", "abbreviations", "ethics statement",
    "disclosures", "footnotes", "notes", "see also", "external links", "further reading",
}
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def _heading_title(para: str) -> str | None:
    """The title if this paragraph is a heading: a Markdown `#` line, or a short single line
    with no sentence punctuation at its end."""
    lines = para.strip().splitlines()
    if len(lines) != 1:
        return None
    line = lines[0].strip()
    m = _HEADING.match(line)
    if m:
        return m.group(1)
    if len(line) <= 80 and not line.endswith((".", "?", "!", ";", ",")) and len(line.split()) <= 8:
        return line
    return None


def drop_non_content(paragraphs: list[str]) -> tuple[list[str], int]:
    """Drop sections whose heading names non-content (references, funding, ...), up to the next heading."""
    kept, dropped, skipping = [], 0, False
    for para in paragraphs:
        title = _heading_title(para)
        if title is not None:
            skipping = title.lower().rstrip(":").strip() in NON_CONTENT
        if skipping:
            dropped += 1
        else:
            kept.append(para)
    return kept, dropped


# --- in-text citations --------------------------------------------------------------------
_CITATIONS = [
    re.compile(r"\s?\[\s*\d+(?:\s*[-–,]\s*\d+)*\s*\]"),  # [1], [1, 2], [3–5]
    re.compile(  # (Smith et al., 2019), (Smith and Jones 2020; Lee 2021a)
        r"\s?\((?:see )?(?:[A-Z][A-Za-z'’\-]+(?: et al\.?| and [A-Z][A-Za-z'’\-]+| & [A-Z][A-Za-z'’\-]+)?,? "
        r"(?:19|20)\d{2}[a-z]?(?:[;,] ?)?)+\)"
    ),
]


_MAYBE_CITATION = re.compile(r"\[\s*\d|\((?:see )?[A-Z][^()]{0,80}(?:19|20)\d{2}")


def strip_citations(text: str) -> tuple[str, int]:
    if not _MAYBE_CITATION.search(text):
        return text, 0
    n = 0
    for pat in _CITATIONS:
        text, k = pat.subn("", text)
        n += k
    return text, n


# --- volatile content (design 2.3.3) ------------------------------------------------------
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
VOLATILE = {
    "currently": re.compile(r"\b(?:currently|at present|at the time of writing)\b", re.IGNORECASE),
    "as_of_date": re.compile(rf"\bas of (?:today|now|this writing|{_MONTH}\b|(?:19|20)\d{{2}}\b|\d{{1,2}} {_MONTH})", re.IGNORECASE),
    "last_updated": re.compile(r"\b(?:last|page) (?:updated|reviewed|modified)\b|\bupdated on\b", re.IGNORECASE),
    "contact": re.compile(r"\b(?:contact us|call us|email us|call (?:toll[- ]free|our|the helpline))\b", re.IGNORECASE),
    "phone": re.compile(r"\(?\b\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}\b|\b1-8\d\d-|\+\d{1,3}[\s-]\d{2,4}[\s-]\d{3}"),
    "hours": re.compile(r"\b(?:office )?hours:|\bopen (?:monday|tuesday|wednesday|thursday|friday|daily)\b|\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)\s?[-–]", re.IGNORECASE),
    "price": re.compile(r"[$€£]\s?\d|\b\d+(?:\.\d\d)? ?(?:USD|EUR|GBP)\b"),
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ANY_VOLATILE = re.compile("|".join(f"(?:{p.pattern})" for p in VOLATILE.values()), re.I)


# A fast necessary condition for an ASCII paragraph to match any VOLATILE pattern: one of these
# lower-case literals, or the digit shapes of a phone number / a clock time (a regex that starts
# with a digit class, which `re` skips through quickly). A paragraph that passes is checked by the
# real patterns; one that fails matches none of them (tests/test_processing.py checks this).
_VOLATILE_LITERALS = ("currently", "at present", "at the time of writing", "as of ", "last updated", "last reviewed",
                      "last modified", "page updated", "page reviewed", "page modified", "updated on", "contact us",
                      "call us", "email us", "call toll", "call our", "call the helpline", "hours:", "open mon", "open tue",
                      "open wed", "open thu", "open fri", "open dai", "$")
_VOLATILE_CASED = ("USD", "EUR", "GBP")  # the price pattern is case-sensitive
_VOLATILE_DIGITS = re.compile(r"\d(?:\d\d\)?[-. ]\d{3}[-. ]\d{4}|(?::\d\d)? ?[ap]\.?m)|-8\d\d-|\+\d", re.IGNORECASE)


def maybe_volatile(paragraph: str) -> bool:
    if not paragraph.isascii():  # case folding beyond ASCII: ask the full pattern
        return _ANY_VOLATILE.search(paragraph) is not None
    low = paragraph.lower()
    return (any(lit in low for lit in _VOLATILE_LITERALS) or any(lit in paragraph for lit in _VOLATILE_CASED)
            or _VOLATILE_DIGITS.search(paragraph) is not None)


def filter_volatile(paragraph: str, counts: Counter) -> str:
    """Drop sentences with volatile markers (schedules, prices, contacts, 'currently', ...)."""
    if not maybe_volatile(paragraph):  # the common case: a cheap scan, no sentence split
        return paragraph
    kept = []
    for sent in _SENTENCE_END.split(paragraph):
        reason = next((name for name, pat in VOLATILE.items() if pat.search(sent)), None)
        if reason:
            counts[reason] += 1
        else:
            kept.append(sent)
    return " ".join(kept)


# --- normalization ------------------------------------------------------------------------
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if text.isascii() and "  " not in text and "\t" not in text:  # nothing for _SPACES to change
        return text
    return _SPACES.sub(" ", text)


_PARA_BREAK = re.compile(r"\n\s*\n")
_LINE_BREAK = re.compile(r"\s*\n\s*")


def paragraphs_of(text: str) -> list[str]:
    paras = ((_LINE_BREAK.sub(" ", p) if "\n" in p else p).strip() for p in _PARA_BREAK.split(text))
    return [p for p in paras if p]


@dataclass
class CleanReport:
    documents_in: int = 0
    documents_out: int = 0
    dropped_short: list[str] = field(default_factory=list)
    removed: Counter = field(default_factory=Counter)  # reason -> count (sentences, sections, citations)

    def merge(self, other: CleanReport) -> None:
        """Add another batch's report to this one."""
        self.documents_in += other.documents_in
        self.documents_out += other.documents_out
        self.dropped_short += other.dropped_short
        self.removed.update(other.removed)

    def as_metadata(self) -> dict:
        return {
            "documents_in": self.documents_in,
            "documents_out": self.documents_out,
            "dropped_short": len(self.dropped_short),
            **{f"removed_{k}": v for k, v in sorted(self.removed.items())},
        }


def clean_document(text: str, counts: Counter | None = None) -> str:
    """Clean one document's text; `counts` (if given) accumulates what was removed, by reason."""
    counts = counts if counts is not None else Counter()
    text = normalize(strip_markup(text))
    paras = paragraphs_of(text)
    paras, n_sections = drop_non_content(paras)
    counts["non_content_paragraphs"] += n_sections
    out = []
    for para in paras:
        m = _HEADING.match(para)
        if m:  # keep heading text, drop the markup
            out.append(m.group(1))
            continue
        para, n_cit = strip_citations(para)
        counts["citations"] += n_cit
        para = filter_volatile(para, counts).strip()
        if para:
            out.append(para)
    return "\n\n".join(out)


def clean_documents(docs: Iterable[dict], min_tokens: int = 100) -> tuple[list[dict], CleanReport]:
    """Clean documents (dicts with at least id and text); drop those under min_tokens after cleaning.
    Returns the kept documents (copies, with cleaned `text` and `n_tokens`) and a report."""
    report = CleanReport()
    kept = []
    for doc in docs:
        report.documents_in += 1
        text = clean_document(doc["text"] or "", report.removed)
        n = count_tokens(text)
        if n < min_tokens:
            report.dropped_short.append(doc["id"])
            continue
        kept.append({**doc, "text": text, "n_tokens": n})
    report.documents_out = len(kept)
    return kept, report
