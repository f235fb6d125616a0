"""Text-quality gate: the damage a parser leaves in text that no length or dedup filter sees.

A document is *flagged* when its text has any of: unbalanced brackets, a sentence ending in a
dangling conjunction or preposition ("see and.", "as shown in."), empty brackets or orphan
separators ("( )", ",;"), leftover markup or escapes (tags, entities, `\\>=`, private-use
placeholders), mojibake ("Ã©", "â€™", U+FFFD) or too little text. `text_issues` lists them for one
text; `QualityReport` accumulates them per source in one pass (so a caller can stream batches)
and `QualityReport.failing(max_share)` names the sources above the threshold.

The patterns favour precision: English does end sentences in prepositions ("what it is made
of."), so only the shapes that removed citations and cross-references leave are flagged. Why the
default threshold is 5% of a source's documents: docs/sources.md ("Text-quality gate").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

MIN_CHARS = 200  # shorter than a curated page's minimum: an extraction stub, not a document
MAX_FLAGGED_SHARE = 0.05  # per source; docs/sources.md has the measurement behind it

# "1)", "a)", "iv)" enumerators and ":)"-style closers are not half of a pair.
_ENUMERATOR = re.compile(r"(?:^|\s)(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,5})$")
_DANGLING = re.compile(  # case-sensitive: "odds ratio (OR)" and "(CF)" are abbreviations, not conjunctions
    r"\b(?:and|or|nor|but|than|versus|[Ss]ee|[Ss]ee also)\s*[.;:)\]](?!\w)"  # "see and." "than)"
    r"|\b(?:cf|vs|e\.g|i\.e)\.\s*[;:)\]]"  # "(e.g.)"
    r"|\b(?:shown|described|depicted|illustrated|presented|listed|summari[sz]ed|detailed|reported|reviewed|review"
    r"|outlined|displayed|plotted|given|provided|indicated|discussed)\s+(?:in|by|on|at)\s*[.;:)\]](?!\w)"  # "shown in."
    r"|\b(?:in|of|to|from|with|by|at|for|on|see|as)\s+(?:and|or)\s*[.;:,)\]]"  # "in and."
)
_ORPHAN = re.compile(r"[,;]\s*[,;.)\]](?!\.)|[(\[]\s*[,;.]\s")  # ",;" ", ." "; )" "( ;"
_EMPTY = re.compile(r"\(\s*\)|\[\s*\]|\(\s*(?:see|see also|cf\.|e\.g\.,?|i\.e\.,?|refs?\.?)\s*\)", re.IGNORECASE)
_MARKUP = re.compile(
    r"</?[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]{0,200})?/?>"  # a tag
    r"|&(?:[a-zA-Z]{2,8}|#\d{2,7}|#x[0-9a-fA-F]{2,6});"  # an entity
    r"|\\[\\`*_{}\[\]()#+\-.!<>=|~^]"  # a Markdown escape (CT.gov: "\>=", "\[ln\]")
    r"|\\(?:frac|mathrm|textit|emph|cite|ref|left|right)\b"  # LaTeX
    r"|[\ue000-\uf8ff]"  # private-use placeholders a parser forgot to resolve
    r"|\]\((?:https?://|/)"  # a Markdown link
)
_CP1252 = "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
_MOJIBAKE = re.compile(rf"Ã[\u0080-\u00bf{_CP1252}]|Â[\u00a0-\u00bf]|â€|ï»¿|[\u0080-\u009f\ufffd]")
CHECKS = (
    "unbalanced_brackets",
    "dangling_word",
    "orphan_separator",
    "empty_brackets",
    "markup",
    "mojibake",
    "too_short",
)


def _excerpt(text: str, start: int, end: int, width: int = 50) -> str:
    a, b = max(0, start - width), min(len(text), end + width)
    return ("…" if a else "") + " ".join(text[a:b].split()) + ("…" if b < len(text) else "")


_BRACKET = re.compile(r"[()\[\]]")


def _unbalanced(para: str) -> int | None:
    """Offset of the first bracket without its partner in a paragraph, or None."""
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "["}
    for m in _BRACKET.finditer(para):
        i, ch = m.start(), m.group()
        if ch in "([":
            stack.append((ch, i))
        elif ch in ")]":
            if stack and stack[-1][0] == pairs[ch]:
                stack.pop()
            elif ch == ")" and "(" not in (c for c, _ in stack) and _ENUMERATOR.search(para, max(0, i - 6), i):
                continue  # "1) … 2) …", "iv) …": a list marker, not half of a pair
            else:
                return i
    return stack[0][1] if stack else None


def text_issues(text: str, min_chars: int = MIN_CHARS) -> list[tuple[str, str]]:
    """(check, excerpt) for every problem found; at most one excerpt per check and paragraph."""
    text = text or ""
    out: list[tuple[str, str]] = []
    if len(text.strip()) < min_chars:
        out.append(("too_short", f"{len(text.strip())} characters: {text.strip()[:80]!r}"))
    offset = 0
    for para in re.split(r"\n\s*\n", text):
        start = text.find(para, offset)
        offset = start + len(para)
        if (i := _unbalanced(para)) is not None:
            out.append(("unbalanced_brackets", _excerpt(para, i, i + 1)))
        for name, pat in (
            ("dangling_word", _DANGLING),
            ("orphan_separator", _ORPHAN),
            ("empty_brackets", _EMPTY),
            ("markup", _MARKUP),
            ("mojibake", _MOJIBAKE),
        ):
            if m := pat.search(para):
                out.append((name, _excerpt(para, m.start(), m.end())))
    return out


@dataclass
class SourceQuality:
    documents: int = 0
    flagged: int = 0
    by_check: Counter = field(default_factory=Counter)  # check -> documents with that issue
    examples: list[dict] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.flagged / self.documents if self.documents else 0.0


@dataclass
class QualityReport:
    """Per-source flagged share, issue counts and a few examples; fed one document at a time."""

    min_chars: int = MIN_CHARS
    max_examples: int = 5
    sources: dict[str, SourceQuality] = field(default_factory=dict)

    def add(self, doc_id: str, source: str, text: str) -> list[tuple[str, str]]:
        issues = text_issues(text, self.min_chars)
        q = self.sources.setdefault(source, SourceQuality())
        q.documents += 1
        if issues:
            q.flagged += 1
            q.by_check.update({name for name, _ in issues})
            if len(q.examples) < self.max_examples:
                q.examples.append({"id": doc_id, "check": issues[0][0], "excerpt": issues[0][1]})
        return issues

    def failing(self, max_share: float = MAX_FLAGGED_SHARE) -> list[str]:
        return sorted(s for s, q in self.sources.items() if q.share > max_share)

    def as_dict(self) -> dict:
        return {
            s: {
                "documents": q.documents,
                "flagged": q.flagged,
                "flagged_share": round(q.share, 4),
                "by_check": dict(sorted(q.by_check.items())),
                "examples": q.examples,
            }
            for s, q in sorted(self.sources.items())
        }


def quality_report(docs: Iterable[dict], min_chars: int = MIN_CHARS) -> QualityReport:
    """The gate over documents (dicts with id, source, text)."""
    report = QualityReport(min_chars=min_chars)
    for d in docs:
        report.add(d["id"], d["source"], d["text"])
    return report
