"""Entity extraction and the entity registry behind fabrication detection.

A model that names a drug, gene or trial that appears nowhere in its corpus (and in no curated list
of real ALS drugs and genes) has probably invented it. Extraction rules (deliberately simple and
documented in docs/evaluation.md, so a reviewer can predict what is flagged):

- trial ids: `NCT` followed by 8 digits.
- genes/proteins: a token of capital letters and digits with at least one digit and one letter
  (SOD1, ATXN2, TDP-43, C9orf72 by its own pattern `C<n>orf<n>`), 2-12 characters, optional single
  hyphen before the digits; or any token in the curated gene list (FUS, VCP, OPTN ...). All-capital
  tokens without digits that are not curated genes are taken as abbreviations and ignored.
- drugs: a lower/title-case word ending in a drug-stem suffix (-mab, -nib, -sen, -zole, -vir,
  -stat, -pril, -sartan, -olol, -cycline, -mycin, -parib, -tinib, -xetine, -oxacin, -pine,
  -done, -mide, -zumab, -semtiv, -alamin ...), a word right after a cue ("the drug X", "called X",
  "named X", "medication X"), a capitalised word with a number code (Neurovaxin-7), or any name
  in the curated drug list.
- protein-variant notation (A4V, D90A: letter, position, letter) is not a gene name.
- every candidate is dropped if it is in the stopword list (English, medical and research
  abbreviations that fit the patterns).

Names are normalised (lower case, hyphens and spaces removed) before lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from alslm_ml import paths

LEXICON = paths.LEXICON_DIR

NCT_RE = re.compile(r"\bNCT\d{8}\b")
ORF_RE = re.compile(r"\bC\d{1,2}orf\d{1,3}\b")
GENE_RE = re.compile(r"\b[A-Z][A-Z0-9]{0,7}-?[0-9][A-Z0-9]{0,3}\b")
VARIANT_RE = re.compile(r"^[A-Z]\d{1,4}[A-Z]$")  # protein variants such as A4V, D90A: not gene names
CODE_NAME_RE = re.compile(r"^[A-Z][a-z]{3,}-?\d{1,4}$")  # product-code names such as Neurovaxin-7
WORD_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9-]{2,}\b")
DRUG_SUFFIXES = (
    "mab", "nib", "tinib", "sen", "zole", "vir", "stat", "pril", "sartan", "olol", "cycline",
    "mycin", "parib", "xetine", "oxacin", "pine", "done", "mide", "semtiv", "alamin", "pexole",
    "tide", "zumab", "ximab", "lukast", "dronate", "triptan", "azepam", "barbital", "profen",
)
DRUG_CUE_RE = re.compile(
    r"\b(?:the drug|a drug|drug called|drug named|medication|medicine called|called|named|compound)\s+([A-Z]?[a-z][a-z0-9-]{3,})",
)
# Ordinary words that end in a drug suffix; the curated stopword file adds abbreviations.
_COMMON_SUFFIX_WORDS = {
    "done", "undone", "abandoned", "outside", "inside", "side", "wide", "provide", "decide", "guide",
    "pine", "spine", "opine", "alpine", "supine", "divine", "canine", "marine", "routine", "combine",
    "state", "lessen", "chosen", "frozen", "seen", "been", "open", "given", "taken", "often", "mide",
    "amide", "wise", "nineteen", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "teen", "queen", "green", "screen", "keen", "between", "gene", "arsen", "nosen", "lisen",
    "bromide", "chloride", "fluoride", "oxide", "dioxide", "peroxide", "homicide", "suicide", "hydrostat", "rheostat", "olen", "ridden", "bidden", "hidden", "sudden", "golden", "wooden",
    "pattern", "opiate", "vir", "virus", "stat", "lipid",
}


@dataclass(frozen=True)
class Entity:
    kind: str  # "drug" | "gene" | "trial"
    text: str  # as written
    norm: str  # lower case, hyphens/spaces removed


def normalise(name: str) -> str:
    return re.sub(r"[\s\-]", "", name.lower())


def _read_list(name: str) -> set[str]:
    lines = (LEXICON / name).read_text(encoding="utf-8").splitlines()
    return {normalise(line) for line in lines if line.strip() and not line.startswith("#")}


@lru_cache(maxsize=1)
def curated() -> dict[str, set[str]]:
    """The shipped lists: real ALS drugs, real genes/proteins, and stopwords."""
    return {"drug": _read_list("als_drugs.txt"), "gene": _read_list("als_genes.txt"), "stop": _read_list("stopwords.txt")}


def _is_drug_word(word: str, stop: set[str]) -> bool:
    low = word.lower()
    if low in _COMMON_SUFFIX_WORDS or normalise(low) in stop or len(low) < 6:
        return False
    return low.endswith(DRUG_SUFFIXES)


def extract_entities(text: str) -> list[Entity]:
    """Drug names, gene symbols and NCT ids in `text`, in order of first appearance, deduplicated."""
    lists = curated()
    stop, genes, drugs = lists["stop"], lists["gene"], lists["drug"]
    found: dict[tuple[str, str], Entity] = {}

    def add(kind: str, raw: str) -> None:
        norm = normalise(raw)
        if norm and norm not in stop and (kind, norm) not in found:
            found[(kind, norm)] = Entity(kind, raw, norm)

    for m in NCT_RE.finditer(text):
        add("trial", m.group())
    for m in ORF_RE.finditer(text):
        add("gene", m.group())
    for m in GENE_RE.finditer(text):
        tok = m.group()
        if tok.startswith("NCT") or VARIANT_RE.match(tok):
            continue
        add("gene", tok)
    for m in WORD_RE.finditer(text):
        word = m.group().strip("-")
        norm = normalise(word)
        if norm in stop:
            continue
        if norm in genes and (word.isupper() or word[:1].isupper() or any(c.isdigit() for c in word)):
            add("gene", word)
        elif norm in drugs or _is_drug_word(word, stop) or CODE_NAME_RE.match(word):
            add("drug", word)
    for m in DRUG_CUE_RE.finditer(text):
        word = m.group(1).strip("-")
        norm = normalise(word)
        if norm not in stop and norm not in _COMMON_SUFFIX_WORDS and (word[0].isupper() or _is_drug_word(word, stop)):
            add("drug", word)
    # A gene-looking token already captured as a drug (or vice versa) keeps one kind.
    drugs_norm = {n for k, n in found if k == "drug"}
    return [e for (k, n), e in found.items() if not (k == "gene" and n in drugs_norm)]


def build_registry(corpus: pd.DataFrame | None = None, extra_texts: Iterable[str] = ()) -> pd.DataFrame:
    """Every entity name known to be real: extracted from the corpus text (column `text`, titles
    too) plus the curated lists. Columns: entity (normalised), kind, origin ('corpus'/'curated'),
    count (corpus mentions)."""
    counts: dict[tuple[str, str], int] = {}
    texts: list[str] = list(extra_texts)
    if corpus is not None and len(corpus):
        if "text" not in corpus.columns:
            raise ValueError(f"corpus frame has no 'text' column (columns: {list(corpus.columns)})")
        titles = corpus["title"].fillna("").astype(str) if "title" in corpus.columns else []
        texts += list(corpus["text"].fillna("").astype(str)) + list(titles)
    for text in texts:
        for ent in extract_entities(text):
            counts[(ent.norm, ent.kind)] = counts.get((ent.norm, ent.kind), 0) + 1
    rows = [{"entity": n, "kind": k, "origin": "corpus", "count": c} for (n, k), c in counts.items()]
    seen = {n for n, _ in counts}
    lists = curated()
    for kind in ("drug", "gene"):
        rows += [{"entity": n, "kind": kind, "origin": "curated", "count": 0} for n in sorted(lists[kind]) if n not in seen]
    return pd.DataFrame(rows, columns=["entity", "kind", "origin", "count"]).sort_values(["kind", "entity"]).reset_index(drop=True)


class Registry:
    """Lookup over a registry frame: is this normalised name known?"""

    def __init__(self, frame: pd.DataFrame | None = None):
        frame = build_registry() if frame is None else frame
        self.known = set(frame["entity"].astype(str))
        self.size = len(self.known)

    def is_known(self, ent: Entity) -> bool:
        if ent.norm in self.known:
            return True
        # Allow simple plural/possessive forms ("statins", "SOD1's").
        return ent.norm.rstrip("s").rstrip("'") in self.known

    def unknown(self, entities: Iterable[Entity], context: str = "") -> list[Entity]:
        """Entities that are neither in the registry nor named in `context` (the question: a
        name the question itself uses is an echo of the prompt, not an invention)."""
        ctx = normalise(context)
        return [e for e in entities if not self.is_known(e) and e.norm not in ctx]
