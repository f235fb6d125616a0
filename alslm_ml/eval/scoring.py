"""Scoring one answer: key facts, hedging, trap refusal, coherence, fabricated entities.

The same functions score every system, so differences between systems are differences in the
answers. Key-fact matching follows the published ALS-LM method: rapidfuzz `partial_ratio` of each
lower-cased fact against overlapping 100-character windows of the lower-cased answer, a fact counts
as found at >= 80, accuracy is the share of facts found and a question passes at >= 50%.

One departure, for real (non-trap) questions only: a fact whose every match at >= threshold sits in
a negated context ("riluzole does not act on glutamate") is not found; it is reported in
`facts_negated` and also counted in `facts_missing`. A match is negated when a negation cue
(`NEGATION_CUES`) is among the `NEGATION_SCOPE` words just before the matched span, or inside it,
in the same clause (punctuation and contrastive words such as "but" end the scan). Exempt: facts
that contain a cue themselves ("no cure" matches "there is no cure") and facts that the question's
reference answer itself states negatively ("did not meet its primary endpoint"), where a negated
match agrees with the reference. The fact scores are unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz

from alslm_ml.benchmark import Question
from alslm_ml.eval.entities import Registry, extract_entities

THRESHOLD = 80.0
WINDOW = 100
STRIDE = 50
PASS_AT = 0.5

HEDGE_PATTERNS = [
    r"\bmay\b", r"\bmight\b", r"\bcould\b", r"\bpossibl[ey]\b", r"\bperhaps\b", r"\bprobably\b",
    r"\blikely\b", r"\bunlikely\b", r"\bis thought to\b", r"\bare thought to\b", r"\bbelieved\b",
    r"\bsuggests?\b", r"\bappears? to\b", r"\bseems? to\b", r"\buncertain\b", r"\bunclear\b",
    r"\bnot (?:entirely )?(?:sure|certain|clear)\b", r"\bi think\b", r"\bi believe\b",
    r"\bto my knowledge\b", r"\bas far as i know\b", r"\bit is possible\b", r"\bpotentially\b",
]
REFUSAL_PATTERNS = [
    r"\bno such\b", r"\bnot aware\b", r"\bunaware\b", r"\bdoes ?n[o']t exist\b", r"\bdo ?n[o']t exist\b",
    r"\bnot (?:an? )?(?:known|recogni[sz]ed|real|existing|approved|fda[- ]approved)\b",
    r"\bhas ?n[o']t been approved\b", r"\bhave ?n[o']t been approved\b", r"\bnever (?:been )?approved\b",
    r"\bwas never\b", r"\bno evidence\b", r"\bno record\b", r"\bno information\b", r"\bno data\b",
    r"\bi (?:do not|don't) know\b", r"\bi(?:'m| am) not (?:sure|familiar)\b", r"\bnot familiar\b",
    r"\bcannot find\b", r"\bcan't find\b", r"\bunable to find\b", r"\bcould not find\b",
    r"\b(?:premise|claim|statement) is (?:false|incorrect|wrong|outdated)\b", r"\bthat is not (?:true|correct)\b",
    r"\bis not true\b", r"\bthere is no (?:drug|gene|trial|test|protein|treatment|product|known|such)\b",
    r"\b(?:do|does|did) ?n[o']t (?:mention|contain|include|say|describe|provide)\b", r"\bnot mentioned\b",
    r"\bno mention\b", r"\bcan ?(?:no|')t answer\b", r"\bunable to answer\b", r"\bwill not guess\b",
    r"\bwon't guess\b", r"\bnot (?:enough|sufficient) information\b", r"\bit does not\b", r"\bis not (?:the )?(?:main|major|primary|most common) cause\b", r"\bwithdrawn\b", r"\bno longer\b", r"\bhas not\b", r"\bdid not double\b", r"\bnot (?:a )?cure\b",
]
# Negation: single-word cues, "n't" contractions (also written without the apostrophe), and
# two-word cues. A cue followed by one of NOT_NEGATION_NEXT is no negation ("not only", "not
# exclusively", "no doubt"; "not sure" is a hedge, counted as hedging). "no longer" stays a
# negation of the status it precedes. "failure" is no cue ("respiratory failure").
NEGATION_WORDS = frozenset({"not", "no", "never", "without", "neither", "nor", "cannot", "none",
                            "lack", "lacks", "lacking", "lacked"})
NEGATION_PAIRS = frozenset({("absence", "of"), ("fails", "to"), ("failed", "to"), ("fail", "to"),
                            ("rather", "than")})
APOSTROPHELESS = frozenset({"dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant",
                            "wont", "hasnt", "havent", "hadnt", "couldnt", "wouldnt", "shouldnt"})
NOT_NEGATION_NEXT = {"not": {"only", "just", "merely", "solely", "exclusively", "sure", "certain"},
                     "no": {"doubt", "matter"}}
NEGATION_CUES = sorted(NEGATION_WORDS | {"n't"} | {" ".join(p) for p in NEGATION_PAIRS})
CLAUSE_BREAKS = frozenset({"but", "however", "although", "though", "whereas", "while", "yet"})
NEGATION_SCOPE = 4  # words before the matched span that are searched for a cue
_CLAUSE_PUNCT_RE = re.compile(r"[.,;:!?()\n]")
_WORD_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")

_HEDGE_RE = [re.compile(p) for p in HEDGE_PATTERNS]
_REFUSAL_RE = [re.compile(p) for p in REFUSAL_PATTERNS]
_TOKEN_RE = re.compile(r"\S+")
_WORDLIKE_RE = re.compile(r"^[a-z]+(?:['’-][a-z0-9]+)*$|^\d+(?:[.,]\d+)*%?$|^[a-z]*\d+[a-z0-9]*$")
_VOWEL_RE = re.compile(r"[aeiouy]")


def _is_wordlike(word: str) -> bool:
    """Letters (with a vowel, unless very short), a number, or a gene-like letter/digit mix."""
    if not _WORDLIKE_RE.match(word):
        return False
    return bool(_VOWEL_RE.search(word)) or len(word) <= 2 or any(c.isdigit() for c in word)


def _window_starts(n: int, size: int = WINDOW, stride: int = STRIDE) -> list[int]:
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts


def windows(text: str, size: int = WINDOW, stride: int = STRIDE) -> list[str]:
    """Overlapping character windows covering `text` (one window when shorter than `size`)."""
    return [text[s : s + size] for s in _window_starts(len(text), size, stride)]


def fact_scores(answer: str, facts: list[str] | tuple[str, ...]) -> list[float]:
    """Best partial_ratio (0-100) of each lower-cased fact over the answer's windows."""
    wins = windows(answer.lower())
    return [max(fuzz.partial_ratio(f.lower(), w) for w in wins) if answer.strip() else 0.0 for f in facts]


def match_key_facts(answer: str, facts, threshold: float = THRESHOLD) -> list[bool]:
    """Presence of each fact (the published method, blind to negation)."""
    return [s >= threshold for s in fact_scores(answer, facts)]


def _cue_positions(words: list[str]) -> list[int]:
    """Indices of the words that start a negation cue."""
    out = []
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in NEGATION_WORDS and nxt not in NOT_NEGATION_NEXT.get(w, ()):
            out.append(i)
        elif w.endswith(("n't", "n’t")) or w in APOSTROPHELESS or (w, nxt) in NEGATION_PAIRS:
            out.append(i)
    return out


def has_negation(text: str) -> bool:
    """Whether `text` contains a negation cue ("no cure", "did not meet", "doesn't")."""
    return bool(_cue_positions(_WORD_RE.findall(text.lower())))


def _clause_words_before(text: str) -> list[str]:
    """Words of the clause that `text` ends in: after the last clause punctuation or contrastive word."""
    cut = max((m.end() for m in _CLAUSE_PUNCT_RE.finditer(text)), default=0)
    words = _WORD_RE.findall(text[cut:])
    breaks = [i for i, w in enumerate(words) if w in CLAUSE_BREAKS]
    return words[breaks[-1] + 1 :] if breaks else words


def is_negated(text: str, start: int, end: int, scope: int = NEGATION_SCOPE) -> bool:
    """Whether the span text[start:end] (lower-cased text) is negated: a cue among the `scope`
    words before it in the same clause, or inside it (the span is widened to whole words)."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    before = _clause_words_before(text[:start])[-scope:]
    inside = _WORD_RE.findall(text[start:end])
    after = _WORD_RE.findall(text[end : end + 40])[:1]  # lookahead only, for "not only" at the span end
    return any(i < len(before) + len(inside) for i in _cue_positions(before + inside + after))


def match_spans(answer: str, fact: str, threshold: float = THRESHOLD, per_window: int = 4) -> list[tuple[int, int]]:
    """(start, end) offsets in the lower-cased answer of every window alignment of the lower-cased
    fact scoring >= threshold; within a window, aligned spans are masked to find further occurrences."""
    low, f = answer.lower(), fact.lower()
    spans: set[tuple[int, int]] = set()
    for ws in _window_starts(len(low)):
        w = low[ws : ws + WINDOW]
        for _ in range(per_window):
            al = fuzz.partial_ratio_alignment(f, w, score_cutoff=threshold)
            if al is None or al.score < threshold or al.dest_end <= al.dest_start:
                break
            spans.add((ws + al.dest_start, ws + al.dest_end))
            w = w[: al.dest_start] + "\0" * (al.dest_end - al.dest_start) + w[al.dest_end :]
    return sorted(spans)


def _fact_status(low: str, fact: str, score: float, threshold: float) -> str:
    if score < threshold:
        return "missing"
    if has_negation(fact):
        return "found"
    spans = match_spans(low, fact, threshold)
    return "negated" if spans and all(is_negated(low, a, b) for a, b in spans) else "found"


@lru_cache(maxsize=4096)
def _reference_negated(reference: str, facts: tuple[str, ...], threshold: float) -> frozenset[str]:
    low = reference.lower()
    return frozenset(f for f, s in zip(facts, fact_scores(reference, facts)) if _fact_status(low, f, s, threshold) == "negated")


def key_fact_status(
    answer: str, facts, threshold: float = THRESHOLD, negation: bool = True, reference: str | None = None
) -> list[tuple[float, str]]:
    """(score, status) per fact; status is "found", "missing" (score < threshold) or "negated"
    (every match >= threshold is in a negated context). Exempt from the negation check: facts that
    carry a cue themselves ("no cure") and, when `reference` is given, facts that the reference
    answer itself states only negatively ("did not meet its primary endpoint": the answer agrees
    with it). The score is exactly `fact_scores`."""
    scores = fact_scores(answer, facts)
    if not negation:
        return [(s, "found" if s >= threshold else "missing") for s in scores]
    exempt = _reference_negated(reference, tuple(facts), threshold) if reference else frozenset()
    low = answer.lower()
    out = []
    for f, s in zip(facts, scores):
        st = _fact_status(low, f, s, threshold)
        out.append((s, "found" if st == "negated" and f in exempt else st))
    return out


def hedging_markers(text: str) -> list[str]:
    low = text.lower()
    return [m.group() for rx in _HEDGE_RE for m in rx.finditer(low)]


def is_refusal(text: str) -> bool:
    """The answer denies or declines ("no such drug", "not aware", "not approved", "no evidence")."""
    low = text.lower()
    return any(rx.search(low) for rx in _REFUSAL_RE)


@dataclass
class Coherence:
    score: float  # 0..1, 1 = fluent-looking text
    degenerate: bool
    reason: str  # "" | "empty" | "repetition" | "token_salad"
    distinct_3: float
    nonword_ratio: float
    n_words: int


def coherence(text: str, min_distinct: float = 0.5, max_nonword: float = 0.35) -> Coherence:
    """Flag degenerate output: empty, repetition loops (few distinct word 3-grams, or one line
    repeated), token salad (many tokens that are not word-like)."""
    tokens = _TOKEN_RE.findall(text)
    words = [t.strip(".,;:!?()[]\"'“”").lower() for t in tokens]
    words = [w for w in words if w]
    if sum(any(c.isalpha() for c in w) for w in words) < 2:
        return Coherence(0.0, True, "empty", 0.0, 1.0, len(words))
    grams = list(zip(words, words[1:], words[2:]))
    distinct = len(set(grams)) / len(grams) if grams else 1.0
    nonword = sum(not _is_wordlike(w) for w in words) / len(words)
    lines = [ln.strip().lower() for ln in re.split(r"[\n.!?]+", text) if len(ln.strip()) > 10]
    top_line = Counter(lines).most_common(1)[0][1] if lines else 0
    score = max(0.0, min(1.0, distinct / 0.8) * (1.0 - nonword))
    reason = ""
    if (len(grams) >= 12 and distinct < min_distinct) or top_line >= 3:
        reason = "repetition"
    elif len(words) >= 4 and nonword > max_nonword:
        reason = "token_salad"
    return Coherence(0.0 if reason else round(score, 4), bool(reason), reason, round(distinct, 4), round(nonword, 4), len(words))


@dataclass
class Score:
    question_id: str
    accuracy: float
    passed: bool
    facts_found: list[str]
    facts_missing: list[str]  # includes facts_negated
    facts_negated: list[str]  # matched, but only in negated contexts (real questions only)
    fact_scores: list[float]
    hedged: bool
    hedge_markers: list[str]
    refused: bool
    coherence: float
    degenerate: bool
    degenerate_reason: str
    entities: list[dict] = field(default_factory=list)
    unknown_entities: list[dict] = field(default_factory=list)
    retrieval_hit: bool | None = None  # RAG only: were the key facts in the retrieved text?
    retrieval_accuracy: float | None = None  # context recall: share of key facts in the retrieved text
    facts_retrieved: int | None = None  # RAG only: key facts present in the retrieved text
    facts_carried: int | None = None  # ... of which the answer states (found, not negated)
    carry_through: float | None = None  # facts_carried / facts_retrieved (None when none retrieved)

    @property
    def n_entities(self) -> int:
        return len(self.entities)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_entities"] = self.n_entities
        d["n_unknown"] = len(self.unknown_entities)
        return d


def _retrieval_fields(question: Question, retrieved_text: str | None, status: list, threshold: float) -> dict:
    """RAG only: context recall (key facts in the passages) and carry-through (of those, the ones
    the answer states). All None without retrieved text."""
    out = dict.fromkeys(("retrieval_hit", "retrieval_accuracy", "facts_retrieved", "facts_carried", "carry_through"))
    if retrieved_text is None:
        return out
    r = match_key_facts(retrieved_text, question.key_facts, threshold)
    out["retrieval_accuracy"] = sum(r) / len(r)
    out["retrieval_hit"] = out["retrieval_accuracy"] >= PASS_AT
    # Traps have nothing to carry (their right answer is a refusal).
    if not question.is_trap:
        out["facts_retrieved"] = n_retr = sum(r)
        out["facts_carried"] = n_carried = sum(in_ctx and st == "found" for in_ctx, (_, st) in zip(r, status))
        out["carry_through"] = round(n_carried / n_retr, 4) if n_retr else None
    return out


def score_answer(
    question: Question,
    answer: str,
    registry: Registry,
    threshold: float = THRESHOLD,
    retrieved_text: str | None = None,
) -> Score:
    """Score one answer. A real question's key fact matched only in negated contexts counts as
    missing and is listed in `facts_negated` too. For trap questions `passed` means the answer
    refused/denied the premise and accuracy is 1.0 or 0.0 accordingly (the key facts are still
    reported, without the negation check: a denial is the right answer there)."""
    status = key_fact_status(answer, question.key_facts, threshold, negation=not question.is_trap,
                             reference=question.reference_answer)
    scores = [s for s, _ in status]
    found = [f for f, (_, st) in zip(question.key_facts, status) if st == "found"]
    missing = [f for f, (_, st) in zip(question.key_facts, status) if st != "found"]
    negated = [f for f, (_, st) in zip(question.key_facts, status) if st == "negated"]
    refused = is_refusal(answer)
    if question.is_trap:
        accuracy = 1.0 if refused else 0.0
    else:
        accuracy = len(found) / len(question.key_facts)
    hedges = hedging_markers(answer)
    coh = coherence(answer)
    ents = extract_entities(answer)
    # Entities the question itself names are echoes of the prompt, not inventions of the model;
    # trap behaviour is scored by refusal instead.
    unknown = registry.unknown(ents, context=question.question)
    return Score(
        question_id=question.id,
        accuracy=round(accuracy, 4),
        passed=accuracy >= PASS_AT and not coh.degenerate,
        facts_found=found,
        facts_missing=missing,
        facts_negated=negated,
        fact_scores=[round(s, 1) for s in scores],
        hedged=bool(hedges),
        hedge_markers=hedges,
        refused=refused,
        coherence=coh.score,
        degenerate=coh.degenerate,
        degenerate_reason=coh.reason,
        entities=[asdict(e) for e in ents],
        unknown_entities=[asdict(e) for e in unknown],
        **_retrieval_fields(question, retrieved_text, status, threshold),
    )
