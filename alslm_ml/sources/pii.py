"""PII scrub for patient narratives: emails, phone numbers, street addresses, dates of birth,
and (only where sources.yaml lists them) personal names.

Published narratives are public, but a training corpus must not memorise a caregiver's phone
number. Each kind is replaced by a typed placeholder ([EMAIL], [PHONE], ...) and counted, so the
asset metadata shows what was removed. Patterns favour precision on US/UK/EU formats; they are
a safety net behind the human review of every narrative source, not a replacement for it.
"""

from __future__ import annotations

import re
from collections import Counter

_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DATE = rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\.? \d{{1,2}},? \d{{4}}|\d{{1,2}} {_MONTH}\.? \d{{4}})"
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Terrace|Way|Parkway|Pkwy|Circle|Cir|Highway|Hwy)"
)

PATTERNS: list[tuple[str, re.Pattern]] = [
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    # date of birth: the date must be introduced as one ("born on", "DOB", "date of birth")
    ("date_of_birth", re.compile(rf"\b(?:date of birth|DOB|D\.O\.B\.|born(?: on)?)\s*[:\-]?\s*{_DATE}", re.I)),
    (
        "street_address",
        re.compile(
            rf"\b\d{{1,6}}\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\.?\s+){{1,3}}{_STREET}\b\.?"
            r"(?:,?\s+(?:Apt|Suite|Unit|#)\s*\w+)?"
        ),
    ),
    (
        "phone",
        re.compile(r"(?<![\w/])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\w/])"),
    ),
]
PLACEHOLDER = {
    "email": "[EMAIL]",
    "date_of_birth": "[DATE OF BIRTH]",
    "street_address": "[ADDRESS]",
    "phone": "[PHONE]",
    "name": "[NAME]",
}


def scrub(text: str, names: list[str] | None = None) -> tuple[str, Counter]:
    """Replace PII in text; returns (scrubbed text, counts per kind)."""
    counts: Counter = Counter()
    for kind, pattern in PATTERNS:
        text, n = pattern.subn(PLACEHOLDER[kind], text)
        if n:
            counts[kind] += n
    for name in sorted(names or [], key=len, reverse=True):
        text, n = re.subn(rf"\b{re.escape(name)}\b", PLACEHOLDER["name"], text)
        if n:
            counts["name"] += n
    return text, counts
