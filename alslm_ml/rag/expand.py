"""Query expansion with the names the corpus knows: a question that says "Qalsody" or "motor
neuron disease" also searches for "tofersen" or "amyotrophic lateral sclerosis". The groups of
synonyms are in aliases.txt (generic and brand drug names, gene symbols and protein names,
abbreviations and terms); a question that uses one name of a group gets the others appended.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from alslm_ml import paths

ALIASES_FILE = paths.ALIASES


@lru_cache(maxsize=4)
def alias_groups(path: str | Path = ALIASES_FILE) -> tuple[tuple[str, ...], ...]:
    groups = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        names = tuple(x.strip() for x in line.split("|") if x.strip())
        if len(names) < 2:
            raise ValueError(f"{path}:{n}: an alias group needs at least two names separated by ' | '")
        groups.append(names)
    return tuple(groups)


def _pattern(name: str) -> re.Pattern:
    """The name as a whole word, case-insensitive for words, exact case for short symbols
    (so the gene ANG does not match 'ang' inside other text and 'PEG' is not 'peg')."""
    body = re.escape(name).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]?")
    flags = 0 if (len(name) <= 4 and name.isupper()) else re.I
    return re.compile(rf"(?<![\w-]){body}(?![\w-])", flags)


@lru_cache(maxsize=512)
def _compiled(name: str) -> re.Pattern:
    return _pattern(name)


def mentions(text: str, name: str) -> bool:
    return bool(_compiled(name).search(text))


def aliases_of(name: str) -> list[str]:
    """Every other name of the groups `name` belongs to (case- and hyphen-insensitive)."""
    key = re.sub(r"[\s-]", "", name.lower())
    out = []
    for group in alias_groups():
        if any(re.sub(r"[\s-]", "", g.lower()) == key for g in group):
            out += [g for g in group if re.sub(r"[\s-]", "", g.lower()) != key and g not in out]
    return out


def expand_query(question: str, skip_first_group: bool = True) -> tuple[str, list[str]]:
    """(question + appended synonyms, the synonyms added). The disease's own names (the first
    group) are only added when the question uses one of its less common names (MND, Lou
    Gehrig's disease): every passage is about ALS, so adding them to every question adds noise."""
    added: list[str] = []
    groups = alias_groups()
    for gi, group in enumerate(groups):
        used = [g for g in group if mentions(question, g)]
        if not used:
            continue
        if gi == 0 and skip_first_group and all(g in ("ALS", "amyotrophic lateral sclerosis") for g in used):
            continue
        added += [g for g in group if g not in used and g not in added and not mentions(question, g)]
    if not added:
        return question, []
    return f"{question} ({'; '.join(added)})", added


def synonyms_in(question: str) -> dict[str, list[str]]:
    """{name the question uses: the other names of its group}, for ranking passage sentences
    (an alias counts as the name, once). The disease's own names are left out."""
    out: dict[str, list[str]] = {}
    for gi, group in enumerate(alias_groups()):
        if gi == 0:
            continue
        for name in group:
            if mentions(question, name):
                out[name] = [g for g in group if g != name]
    return out
