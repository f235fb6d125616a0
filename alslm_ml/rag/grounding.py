"""Keeping a small model's answer tied to the retrieved text.

A 135M-parameter model reads the context and still invents easily, so the answer path is:
1. entity check: key entities of the question (gene-, drug- and trial-like tokens) that appear in
   none of the retrieved chunks get a plain, deterministic "the sources do not mention X";
2. a short context: the retrieved chunks' sentences that share the most terms with the question,
   within a token budget (prompt reading dominates answer time on CPU);
3. after generation, each answer sentence is checked against the context (rapidfuzz); an answer
   whose sentences are mostly unsupported is replaced by the best-matching source sentence quoted
   with its citation (extractive fallback); supported sentences without a citation get one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from alslm_ml.rag.embed import STOPWORDS_FILE
from alslm_ml.rag.expand import aliases_of, mentions

# Acronyms too generic to signal a specific entity the sources must contain.
GENERIC_ACRONYMS = {"ALS", "MND", "FDA", "EMA", "NIH", "US", "USA", "UK", "EU", "DNA", "RNA", "CNS", "QA", "AI"}
# Name stems of drug classes (INN stems) and gene-like shapes.
DRUG_SUFFIX = re.compile(
    r"(?:mab|nib|tinib|rsen|ersen|sen|zole|uzole|avone|vir|stat|tide|parin|platin|mycin|cillin|sartan|pril|olol|"
    r"azepam|oxetine|triptan|ximab|zumab|umab|gene|cel|fenac|profen|dronate|lukast|semide)$",
    re.I,
)
TRIAL_ID = re.compile(r"\bNCT\d{8}\b", re.I)
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9]|[A-Za-z0-9]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n{1,}")
CITATION = re.compile(r"\[(\d+)\]")
CITATION_SPLIT = re.compile(r"([^\[\]]+?)\s*\[(\d+)\]")  # (sentence, n) pairs of an extractive answer


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    extra = {"als", "amyotrophic", "lateral", "sclerosis", "patients", "people", "disease", "tell", "explain",
             "describe", "much", "many", "used", "use", "known", "also", "like"}
    return frozenset(STOPWORDS_FILE.read_text().split()) | extra


@lru_cache(maxsize=1)
def _stemmer():
    from py_rust_stemmers import SnowballStemmer

    return SnowballStemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words (stopwords and 1-letter tokens dropped)."""
    words = [w.lower() for w in WORD.findall(text)]
    words = [w for w in words if len(w) > 1 and w not in stopwords()]
    return _stemmer().stem_words(words) if words else []


def _norm(s: str) -> str:
    return re.sub(r"[\s\-]", "", s.lower())


def key_entities(question: str, rare=None) -> list[str]:
    """Drug-, gene- and trial-like tokens of a question: NCT ids, tokens mixing letters and digits
    (SOD1, C9orf72, TDP-43), upper-case acronyms (FUS, TARDBP), capitalised or CamelCase words
    inside the sentence (StemRevive), words with a drug-name stem (tofersen, edaravone, riluzole)
    and, when `rare(word)` is given, long words it calls rare (a word the generator's tokenizer
    splits into many pieces: invented names such as motoxaprine or neurotaxin)."""
    out: list[str] = [m.group(0).upper() for m in TRIAL_ID.finditer(question)]
    tokens = WORD.findall(question)
    for i, tok in enumerate(tokens):
        if tok.upper() in GENERIC_ACRONYMS or tok.upper() in out or tok.lower() in stopwords():
            continue
        parts = tok.split("-")
        while len(parts) > 1 and parts[-1].isalpha() and parts[-1].islower() and len(parts[-1]) >= 4:
            parts.pop()  # "C9orf72-linked" names C9orf72, "ALS-causing" names ALS
        tok = "-".join(parts)
        if tok.upper() in GENERIC_ACRONYMS or tok.upper() in out or tok.lower() in stopwords():
            continue
        has_digit, has_alpha = any(c.isdigit() for c in tok), any(c.isalpha() for c in tok)
        word = parts[0]
        if (has_digit and has_alpha) or (len(tok) >= 2 and tok.isupper() and has_alpha):
            out.append(tok)
        elif len(tok) >= 6 and DRUG_SUFFIX.search(tok) and tok.lower() not in _COMMON:
            out.append(tok)
        elif i > 0 and tok[:1].isupper() and tok[1:].islower() and len(tok) >= 4 and tok.lower() not in _COMMON:
            out.append(tok)
        elif tok[:1].isalpha() and any(c.isupper() for c in tok[1:]) and any(c.islower() for c in tok) and len(tok) >= 5:
            out.append(tok)  # CamelCase product names
        elif rare is not None and len(word) >= 7 and word.isalpha() and word.lower() not in _COMMON and rare(word):
            out.append(tok)
    seen, uniq = set(), []
    for e in out:
        if _norm(e) not in seen:
            seen.add(_norm(e))
            uniq.append(e)
    return uniq


# Ordinary words that happen to end in a drug stem or are often capitalised in questions.
_COMMON = {"present", "consent", "absent", "chosen", "frozen", "dozen", "seven", "eleven", "console",
           "science", "research", "therapy", "treatment", "english", "american", "european", "what", "which"}


def missing_entities(question: str, texts: list[str], rare=None) -> list[str]:
    """The question's key entities that appear in none of `texts` under any of their names
    (aliases.txt: Qalsody = tofersen, TDP-43 = TARDBP), case- and hyphen-insensitive. A rare
    word (see `key_entities`) also counts as present when its stem is in the texts."""
    hay = _norm(" ".join(texts))
    stems = set(terms(" ".join(texts))) if rare is not None else set()

    def present(e: str) -> bool:
        return any(_norm(n) in hay for n in (e, *aliases_of(e))) or bool(stems and set(terms(e)) <= stems and terms(e))

    return [e for e in key_entities(question, rare) if not present(e)]


@dataclass
class Sentence:
    source: int  # 1-based citation index
    position: int
    text: str
    score: float


def split_sentences(text: str, whole_only: bool = False) -> list[str]:
    """Sentences of at least 20 characters. whole_only drops the fragments a chunk boundary cuts:
    a first piece starting in lower case and a last piece without closing punctuation."""
    parts = [p.strip(" \t#*-") for p in SENTENCE_END.split(text)]
    parts = [p for p in parts if len(p) >= 20]
    if whole_only and parts:
        if parts[0][:1].islower():
            parts = parts[1:]
        if parts and parts[-1][-1:] not in ".!?:;)\"'":
            parts = parts[:-1]
    return parts


def _with_aliases(text: str, synonyms: dict[str, list[str]]) -> str:
    """`text` plus the question's own name for every alias it mentions (a passage that says
    tofersen matches a question about Qalsody as if it said Qalsody)."""
    extra = [name for name, others in synonyms.items() if any(mentions(text, o) for o in others)]
    return f"{text} {' '.join(extra)}" if extra else text


def _term_weights(question: str, passages: list[str], syn: dict[str, list[str]]) -> dict[str, float]:
    """Rarer terms weigh more; the question's key entities (drug, gene, trial) weigh most."""
    q = set(terms(question))
    entity_terms = set(terms(" ".join(key_entities(question))))
    df = {t: sum(t in set(terms(_with_aliases(p, syn))) for p in passages) for t in q}
    return {t: 1.0 if t in entity_terms else 1.0 / (1 + df[t]) for t in q}


def rank_sentences(question: str, passages: list[str], synonyms: dict[str, list[str]] | None = None) -> list[Sentence]:
    """Sentences of the passages ranked by how many of the question's terms they contain (a term's
    weight is higher the fewer passages contain it), ties broken by retrieval rank. `synonyms`
    ({name in the question: its other names}) lets an alias stand for the name, counted once."""
    q = set(terms(question))
    sents = [Sentence(i + 1, j, s, 0.0) for i, p in enumerate(passages) for j, s in enumerate(split_sentences(p, True))]
    if not q:
        return sents
    syn = synonyms or {}
    weight = _term_weights(question, passages, syn)
    for s in sents:
        st = set(terms(_with_aliases(s.text, syn)))
        s.score = sum(weight[t] for t in sorted(q & st)) + 0.01 / s.source
    return sorted(sents, key=lambda s: (-s.score, s.source, s.position))


def build_context(question: str, passages: list[str], titles: list[str], budget_tokens: int, count_tokens) -> tuple[str, list[Sentence]]:
    """The prompt's context: best sentences within `budget_tokens`, grouped under their source
    number in retrieval order, as '[n] Title: sentence sentence ...'."""
    chosen, used = [], 0
    for s in rank_sentences(question, passages):
        if s.score <= 0.01 and chosen:
            break
        n = count_tokens(s.text) + 2
        if used + n > budget_tokens:
            if not chosen:  # always give the model something, cut to the budget
                chosen.append(s)
            break
        chosen.append(s)
        used += n
    blocks = []
    for src in sorted({s.source for s in chosen}):
        body = " ".join(s.text for s in sorted(chosen, key=lambda s: s.position) if s.source == src)
        blocks.append(f"[{src}] {titles[src - 1]}: {body}")
    return "\n\n".join(blocks), chosen


# What shape of answer a question asks for; sentences of that shape get a bonus in the selection.
SHAPES = (
    ("date", re.compile(r"\b(?:when|what year|which year|since when|how recently|what date)\b", re.I)),
    ("number", re.compile(r"\b(?:how (?:many|much|common|often|long|frequent|rare|likely|fast)|what (?:percentage|proportion|"
                          r"fraction|share|percent|dose|dosage|rate|age)|prevalence|incidence|median|average|mean|risk)\b", re.I)),
    ("list", re.compile(r"\b(?:which|what) (?:\w+ ){0,2}(?:genes|drugs|treatments|therapies|symptoms|signs|criteria|"
                        r"features|options|medications|tests|trials|types|forms|factors|proteins|mechanisms|steps|measures)\b|"
                        r"\b(?:list|name (?:the|some|two|three))\b|\bwhat are\b", re.I)),
)
YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
NUMBER = re.compile(r"\d")


def answer_shape(question: str) -> str:
    """"date", "number", "list" or "" (a description)."""
    return next((name for name, rx in SHAPES if rx.search(question)), "")


def _shape_bonus(shape: str, text: str) -> float:
    if shape == "date":
        return 1.0 if YEAR.search(text) else 0.0
    if shape == "number":
        return 1.0 if NUMBER.search(text) else 0.0
    if shape == "list":
        return 0.5 if text.count(",") >= 2 else 0.0
    return 0.0


def select_sentences(question: str, passages: list[str], budget_tokens: int, count_tokens,
                     similarity=None, redundancy: float = 0.5, shape_weight: float = 1.0,
                     length_norm: float = 0.0, synonyms: dict[str, list[str]] | None = None,
                     already: str = "", fill: bool = True, judge=None) -> list[Sentence]:
    """Query-focused selection across all passages: sentences ranked by the question's weighted
    terms (`rank_sentences`), plus a bonus when they have the shape the question asks for (a
    year for "when", a number for "how many", an enumeration for "which genes") and, when given,
    their similarity to the question (`similarity(texts) -> scores`, e.g. dense cosine); taken best first while they fit `budget_tokens`
    (with their " [n]" citation), skipping near-repeats of a sentence already taken and sentences
    that `already` (e.g. a generated lead) mostly says (partial_ratio >= 80, at most 1.5x as long).
    With `fill`, room of 16 tokens or more left at the end takes the first words of the best
    sentence that did not fit, ending in " …" (a quote marked as cut, never reworded). `judge(ranked)`,
    when given, adjusts the final scores in place (rag.rerank: a language model's judgement)."""
    ranked = rank_sentences(question, passages, synonyms)
    shape = answer_shape(question)
    if similarity is not None and ranked:
        for s, d in zip(ranked, similarity([s.text for s in ranked])):
            s.score += float(d)
    for s in ranked:
        if s.score > 0.01:
            s.score += _shape_bonus(shape, s.text) * shape_weight
            # Facts per token: with length_norm > 0 a long sentence must score higher to be taken.
            s.score /= 1.0 + length_norm * count_tokens(s.text) / 32
    if judge is not None:
        judge(ranked)
    ranked.sort(key=lambda s: (-s.score, s.source, s.position))
    chosen, used, seen, left = [], 0, [], []
    for s in ranked:
        if s.score <= 0.01:
            break
        st = set(terms(s.text))
        if any(len(st & o) / max(1, min(len(st), len(o))) >= redundancy for o in seen):
            continue
        if already and len(s.text) <= 1.5 * len(already) and \
                fuzz.partial_ratio(*sorted((already.lower(), s.text.lower()), key=len)) >= 80:
            continue  # the lead already says (most of) it
        n = count_tokens(f"{s.text} [{s.source}]") + 1
        if used + n > budget_tokens:
            left.append(s)
            continue
        chosen.append(s)
        seen.append(st)
        used += n
    if fill and left and budget_tokens - used >= 16:
        s = left[0]
        words = s.text.split()
        while words and count_tokens(" ".join(words) + f" … [{s.source}]") + 1 > budget_tokens - used:
            words.pop()
        if len(words) >= 6:
            chosen.append(Sentence(s.source, s.position, " ".join(words).rstrip(",;:") + " …", s.score))
    return chosen




def composed_answer(chosen: list[Sentence]) -> str:
    """The selected sentences, best first, each with its citation."""
    return " ".join(f"{s.text.rstrip()} [{s.source}]" for s in chosen)


# Questions that presuppose something: "Since X, ...", "Why is X ...?", "When did X ...?".
# A premise ends at a semicolon ("...; which toxin was proposed?" asks, it does not claim).
# "Since 1993 / since the 1950s / since then" is a time, not a reason: the figure check reads it.
PREMISE = (re.compile(r"^since (?!(?:the\s+)?(?:(?:early|late|mid)[\s-]+)?(?:\d|then\b))(?P<p>[^,?;]+)", re.I),
           re.compile(r"^why (?:does|do|is|are|was|were|did|has|have) (?P<p>[^?;]+)", re.I),
           re.compile(r"^(?:when|(?:in )?(?:which|what) year) (?:did|was|were|has|had) (?P<p>[^?;]+)", re.I))
# A negation just before a premise word in the passage contradicts the premise ("has not been
# approved", "never approved"), so that passage does not support it.
NEG_BEFORE = re.compile(r"\b(?:not|never|no|nor|neither|without|n't)\b(?:\W+\w+){0,3}\W*$", re.I)


def premise_of(question: str) -> str | None:
    """The clause a question takes for granted ("Since Relyvrio is still sold ..." -> "Relyvrio is
    still sold ..."), or None."""
    for rx in PREMISE:
        m = rx.search(question.strip())
        if m:
            return m.group("p").strip()
    return None


def unsupported_premise(question: str, passages: list[str], synonyms: dict[str, list[str]] | None = None,
                        threshold: float = 0.75) -> str | None:
    """The question's premise when no passage sentence (with the sentence after it, for "it")
    holds at least `threshold` of its content terms (an alias counts as the name): "the trial showing that ceftriaxone doubled survival",
    "the FDA grant full approval to tirasemtiv". None when the premise is supported or absent."""
    premise = premise_of(question)
    return premise if premise and claim_unsupported(premise, passages, synonyms, threshold) else None


def claim_unsupported(claim: str, passages: list[str], synonyms: dict[str, list[str]] | None = None,
                      threshold: float = 0.75) -> bool:
    """Whether no passage span (a sentence with the one after it) holds `threshold` of the
    claim's content terms, without negating them, and names every key entity of the claim
    (under any of its names): "TDP-43, the protein encoded by the FUS gene" is not supported by a
    sentence saying that TARDBP encodes TDP-43, though it shares most of the words. A passage
    word holds a claim term when it is the same word (diagnostic ~ diagnosis) or one that says as
    much or more (`_says`: "associated with longer survival" holds "prolongs survival"). A claim
    with an aside between commas ("lithium, reported in 2008 to slow ALS, fail in later trials")
    is two claims, each to be supported on its own."""
    claim = CONTRAST_TAIL.sub("", claim)  # "in the cytoplasm rather than the nucleus": B is denied, not claimed
    parts = _without_aside(claim)
    if len(parts) > 1:
        return any(claim_unsupported(c, passages, synonyms, threshold) for c in parts)
    want = set(_split_terms(claim)) - LIGHT_VERBS
    if len(want) < 2:
        return False
    syn = synonyms or {}
    # A word of the claim that no passage uses ("riluzole lose its FDA approval", "ceftriaxone
    # doubled survival"): the event it names is not in the sources.
    everywhere = set(_split_terms(_with_aliases(" ".join(passages), syn)))
    prefixes = {t[:5] for t in everywhere}
    if any(t[:5] not in prefixes and not _says(t, everywhere) for t in want):  # recognise ~ recognized
        return True
    names = [_names_of(e, syn) for e in key_entities(claim)]
    # "ALS has no single test": a passage saying "there is no single test" agrees with it
    denied = _negated_in(claim, want)
    plain = want - entity_terms(claim) - denied
    # a sentence and the next one together: "Riluzole was the first drug ... The FDA approved it in
    # 1995."; the claim's named entities together in one of the two (a relation between two names)
    for p in passages:
        sents = split_sentences(p)
        for pair in [sents[i:i + 2] for i in range(max(1, len(sents)))]:
            span = " ".join(pair)
            have = set(_split_terms(_with_aliases(span, syn)))
            said = {t: _says(t, have) for t in want}
            held = {t for t in want if said[t]}
            negated = _negated_in(span, set().union(*(said[t] for t in held & plain)))
            if len(held) >= threshold * len(want) and not negated and (not names or any(_names_all(s, names) for s in pair)):
                return False
    return True


# Passage words that say what a claim's word says (stem prefixes): the same meaning both ways, or
# a claim word and the words that say as much or more ("caused" says "linked to"; a "negative"
# trial or one "stopped for futility" is one that "failed"). Antonyms are never listed.
SAME_MEANING = (("prolong", "extend", "lengthen", "longer"), ("common", "frequent"))
SAID_BY = {"link": ("caus", "associ", "connect"), "associ": ("link", "caus", "connect"),
           "fail": ("negat", "futil"), "slow": ("slower", "delay")}


def _says(t: str, terms: set[str]) -> set[str]:
    """The terms of `terms` (stems) that say the claim term `t`: the same stem, one starting like
    it (six letters: diagnostic ~ diagnosis; or one the prefix of the other: treat ~ treatment),
    or a word of `SAME_MEANING` / `SAID_BY`."""
    alts = {a for group in SAME_MEANING if any(t.startswith(g) for g in group) for a in group}
    alts |= {a for k, v in SAID_BY.items() if t.startswith(k) for a in v}

    def same(u: str) -> bool:
        if u == t or (len(t) >= 6 and len(u) >= 6 and u[:6] == t[:6]):
            return True
        return min(len(u), len(t)) >= 5 and (u.startswith(t) or t.startswith(u))

    return {u for u in terms if same(u) or any(u.startswith(a) for a in alts)}


ASIDE = re.compile(r"^(?P<h>[^,]+), (?P<m>[^,]+), (?P<t>[^,]+)$")


def _without_aside(claim: str) -> list[str]:
    """"X, aside, rest" -> ["X rest", "X aside"]; any other claim -> [claim]."""
    m = ASIDE.match(claim.strip())
    if not m:
        return [claim]
    return [f"{m.group('h')} {m.group('t')}", f"{m.group('h')} {m.group('m')}"]


def _negated_in(text: str, wanted: set[str]) -> set[str]:
    """The terms of `wanted` whose word in `text` follows a negation within 3 words ("no single
    diagnostic test" -> singl, ...)."""
    out = set()
    for m in WORD.finditer(text):
        t = _split_terms(m.group(0))
        if t and t[0] in wanted and NEG_BEFORE.search(text[:m.start()]):
            out.add(t[0])
    return out


def _names_of(entity: str, synonyms: dict[str, list[str]]) -> list[str]:
    """Every name of a question's entity: itself, its aliases.txt names, the question's synonyms."""
    return [entity, *aliases_of(entity), *synonyms.get(entity, [])]


def _names_all(sentence: str, names: list[list[str]]) -> bool:
    """Whether `sentence` names every entity of `names` (each a list of its names)."""
    hay = _norm(sentence)
    return all(any(_norm(n) in hay for n in group) for group in names)


# Verbs that carry little of a premise's meaning ("when did X become the first ..."), and words
# placing it in time relative to something else ("fail in later trials"; the sources say "trials
# that followed", "subsequent trials" or name the years).
LIGHT_VERBS = frozenset({"becom", "get", "got", "make", "made", "take", "took", "give", "gave", "come", "came",
                         "go", "went", "begin", "began", "start", "first",
                         "later", "earlier", "subsequ", "recent", "previous", "prior"})


def _split_terms(text: str) -> list[str]:
    """`terms` with hyphenated words split ("FDA-approved" -> fda, approv)."""
    return terms(text.replace("-", " "))


def entity_terms(text: str) -> set[str]:
    return set(terms(" ".join(key_entities(text))))


def unsupported_modifier(question: str, passages: list[str], synonyms: dict[str, list[str]] | None = None) -> str | None:
    """A key entity of the question with a describing word just before it that no passage
    sentence uses with that entity under any of its names ("intrathecal riluzole", "oral
    tofersen"): the question presumes a form or kind the sources do not have. Returns
    "modifier entity" or None."""
    words = WORD.findall(question)
    syn = synonyms or {}
    sents = [s for p in passages for s in split_sentences(p)]
    for e in key_entities(question):
        idx = next((i for i, w in enumerate(words) if _norm(w) == _norm(e.split("-")[0])), None)
        if not idx:
            continue
        mod = words[idx - 1]
        if not (mod.isalpha() and mod.islower() and len(mod) >= 4) or mod in stopwords() or mod in _COMMON \
                or mod in NUMERALS:
            continue
        names = _names_of(e, syn)
        mt = _split_terms(mod)
        if not mt:
            continue
        with_entity = [s for s in sents if any(mentions(s, n) for n in names)]
        if with_entity and not any(mt[0][:5] in {t[:5] for t in _split_terms(s)} for s in with_entity):
            return f"{mod} {e}"
    return None


NUMERALS = frozenset("one two three four five six seven eight nine ten first second third fourth fifth last "
                     "next both each".split())


def premise_note(premise: str) -> str:
    return f"The retrieved sources do not say that {premise}; what they say:"


def modifier_note(phrase: str) -> str:
    return f'The retrieved sources do not mention "{phrase}"; what they say:'


def support(answer: str, context_sentences: list[Sentence], threshold: float = 80.0) -> list[tuple[str, int | None]]:
    """Each answer sentence with the source number it best matches (None when no context
    sentence supports it at rapidfuzz partial_ratio >= threshold)."""
    out = []
    for sent in split_sentences(CITATION.sub("", answer)) or ([answer.strip()] if answer.strip() else []):
        best, src = 0.0, None
        for cs in context_sentences:
            a, b = (sent, cs.text) if len(sent) <= len(cs.text) else (cs.text, sent)
            r = fuzz.partial_ratio(a.lower(), b.lower())
            if r > best:
                best, src = r, cs.source
        out.append((sent, src if best >= threshold else None))
    return out


def extractive_answer(ranked: list[Sentence], titles: list[str], n: int = 2) -> str:
    """Quote the best-matching source sentences with their citations."""
    top = [s for s in ranked if s.score > 0.01][:n]
    if not top:
        return ""
    return " ".join(f"{s.text.rstrip()} [{s.source}]" for s in top)


def cite(answer: str, supported: list[tuple[str, int | None]]) -> str:
    """Add [n] to supported sentences that carry no citation; keep the model's own citations."""
    if CITATION.search(answer):
        return answer.strip()
    return " ".join(f"{s.rstrip()} [{src}]" if src else s.rstrip() for s, src in supported).strip()


def not_in_sources(missing: list[str]) -> str:
    names = ", ".join(f'"{m}"' for m in missing)
    return (f"The retrieved sources do not mention {names}, so they cannot answer this question. "
            "I will not guess.")


NO_ANSWER = "The retrieved sources do not contain the answer to this question."


# ---- Claims a question makes outside an opening premise (issue 13) ----
# A benchmark writer who never saw the corpus states false claims in many shapes, not only
# "Since ...": "Given that half of cases are familial, ...", "Which trial showed that X reverses
# ALS?", "What explains the incidence of 50 per 100,000?", "How does TDP-43, the protein encoded by
# FUS, ...", and in figures ("four body regions", "the 2019 AAN guideline", "stages A through F").
CLAIM = (re.compile(r"^(?:given|assuming|considering) that (?P<p>[^,?;]+)", re.I),
         re.compile(r"\b(?:show(?:s|ed|n)?|found|demonstrated|proved|proven|confirmed|established) that (?P<p>[^?]+)", re.I),
         re.compile(r"^what explains (?P<p>[^?]+)", re.I))
# "X, the protein encoded by Y," / "cerapatrin, the FDA-approved ALS drug?": X is said to be the rest.
APPOSITIVE = re.compile(r"(?P<e>[\w\-]+), (?P<p>(?:the|an?) [^,?]+)[,?]")


def claims_of(question: str) -> list[str]:
    """The claims a question states besides its opening premise (`premise_of`): clauses after
    "given that" / "showed that" / "what explains", and an appositive describing a key entity
    ("TDP-43, the protein encoded by the FUS gene" -> "TDP-43 is the protein encoded by the FUS gene")."""
    q = question.strip()
    out = [m.group("p").strip() for rx in CLAIM for m in rx.finditer(q)]
    entities = {_norm(e) for e in key_entities(q)}
    for m in APPOSITIVE.finditer(q):
        if _norm(m.group("e")) in entities:
            out.append(f"{m.group('e')} is {m.group('p').strip()}")
    return out


def unsupported_claim(question: str, passages: list[str], synonyms: dict[str, list[str]] | None = None,
                      threshold: float = 0.75) -> str | None:
    """The first claim of `claims_of(question)` that `claim_unsupported` finds in no passage, or None."""
    return next((c for c in claims_of(question) if claim_unsupported(c, passages, synonyms, threshold)), None)


NUMBER_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
                if i >= 2} | {"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "half": "50"}
FIGURE = re.compile(r"(?<![\w\-.,])(?:\d+(?:,\d{3})*(?:\.\d+)?|" + "|".join(NUMBER_WORDS) + r")(?![\w\-]|[.,]\d)", re.I)
# A letter naming a stage, grade, type...: "stages A through F", "type B".
LABEL = re.compile(r"\b(?P<noun>stage|grade|type|class|categor(?:y|ie)|level|group)s? (?:[A-Z] (?:through|to|and|or) )?(?P<x>[A-Z])\b")


# Words before a figure that say how exact it is, not what it is about.
APPROXIMATE = frozenset("given about around approximately roughly nearly almost over under least most more less than "
                        "only just some up fewer".split())
ASKED_COUNT = re.compile(r"\b(?:which|what|name|list|give)\s+(?:the\s+)?$", re.I)


def _figure_value(token: str) -> str:
    """A figure token as digits without thousands commas ("four" -> "4", "1,200" -> "1200")."""
    return NUMBER_WORDS.get(token.lower(), token.replace(",", ""))


def _figures(text: str) -> set[str]:
    """The figures of `text`, as digits without thousands commas ("four" -> "4", "half" -> "50",
    "a third" -> "33")."""
    return {_figure_value(m.group(0)) for m in FIGURE.finditer(text)} | \
        {FRACTIONS[m.group(1).lower()] for m in FRACTION.finditer(text)}


FRACTIONS = {"quarter": "25", "third": "33"}
FRACTION = re.compile(r"\b(?:a|one) (quarter|third)\b", re.I)
RANGE = re.compile(r"(?<=\d)\s*[-–]\s*(?=\d)")


def _plain_figures(text: str) -> str:
    """A passage's figures in the form the question's are read in: both ends of a range ("5-10%"
    -> "5 to 10 percent", "2019-2020"), "%" and "per cent" as "percent"."""
    text = re.sub(r"\bper cent\b", "percent", RANGE.sub(" to ", text), flags=re.I)
    return text.replace("%", " percent")


def _figure_context(question: str, m: re.Match) -> tuple[str, list[str], set[str], int, bool]:
    """The words a figure counts or dates and the phrase to name: the first three content terms
    after it within its clause (the phrase goes to the second: "four body regions"; "published in
    1994, grade ..." counts nothing after the comma), and the word it is attached to by a
    preposition just before it ("signs in four", "incidence of about 50", "approved in (May) 2019").
    A figure with neither ("the lifetime risk, about 1 in 400,", "capacity falls below 50%?") goes
    with one of the two content terms before it. Also how many of the terms a passage must have,
    and whether the figure is hedged ("about 40%": see `_same_figure`)."""
    stop = CLAUSE_END.search(question, m.end())
    ctx, end = [], m.end()
    for w in list(WORD.finditer(question, m.end(), stop.start() if stop else len(question)))[:7]:
        t = [] if FIGURE.fullmatch(w.group(0)) else _split_terms(w.group(0))
        if len(ctx) < 2:
            end = w.end()
        if t:
            ctx.append(t[0])
        if len(ctx) == 3:
            break
    words = [w for w in WORD.findall(question[:m.start()]) if w.lower() not in MONTHS]
    hedged = any(w.lower() in HEDGES for w in words[-2:])
    while words and words[-1].lower() in APPROXIMATE:
        words.pop()
    before = _split_terms(words[-2]) if len(words) >= 2 and words[-1].lower() in PREPOSITIONS else []
    if before and (words[-2].lower() == "one" or FIGURE.fullmatch(words[-2])):
        before = []  # "one in ten", "1 in 400": a ratio, not a word the figure is attached to
    if before and (before[0] in LIGHT_VERBS or words[-2].lower() in NUMERALS):
        before = []  # "which drug came next, in 2017": "next" says nothing the passage must repeat
    need = min(1 if before else 2, len(ctx))
    if not ctx and not before:
        ctx = [t[0] for w, t in ((w, _split_terms(w)) for w in words[::-1][:6]) if t and w.lower() not in PREPOSITIONS
               and not FIGURE.fullmatch(t[0]) and t[0] not in LIGHT_VERBS and t[0] not in NUMERALS][:2]
        need = min(1, len(ctx))
    return question[m.start():end], ctx, set(before[:1]), need, hedged


# A number named by the noun before it ("phase 3", "chromosome 21", "type 2"): it is the label's,
# whatever words follow.
LABEL_NOUN = re.compile(r"\b(?P<noun>phase|stage|type|grade|class|chromosome|exon|intron|level|group|step|part|version)"
                        r"s?\s+$", re.I)
ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}


def _label_pattern(noun: str, value: str) -> re.Pattern:
    """"phase 3" as passages write it: "phase 3", "phases 2 and 3", "phase 1, 2 and 3", "phase III"."""
    number = rf"(?:{re.escape(value)}(?!\d|\.\d)|{ROMAN.get(value, re.escape(value))}(?!\w))"
    return re.compile(rf"\b{noun}s?\s+(?:(?:\d+|[IVX]+)\s*(?:,|/|to|and|or)\s*)*{number}", re.I)


# Words a figure counts that say nothing about what is counted but who: one holds another ("97%
# of ALS cases" is said as "97 percent of people with ALS").
GENERIC_COUNTED = frozenset({"case", "person", "individu", "subject"})
GENERIC_WORDS = re.compile(r"\b(?:cases?|people|persons?|patients?|individuals?|subjects?)\b", re.I)
# A comma (not a thousands separator), semicolon, colon or bracket ends what a figure counts.
CLAUSE_END = re.compile(r"[;:()?]|,(?!\d)")
MONTHS = frozenset("january february march april may june july august september october november december".split())
# Words that make a round figure approximate: "about 40%" is said of 37%.
HEDGES = frozenset("about around approximately roughly nearly almost close some".split())


def _same_figure(value: str, other: str, hedged: bool) -> bool:
    """Whether a passage figure states the question's: the same, or, for a hedged round figure,
    one that rounds to it, within an eighth of it ("about 40%" ~ 37%, "about 400" ~ 380, "about
    15" ~ 14; 8 is no "about 10", 60 no "about 100", 2006 no "around 2010")."""
    if value == other:
        return True
    try:
        v, o = float(value), float(other)
    except ValueError:
        return False
    if not hedged or v < 10 or v != int(v) or v % 5 or 1800 <= v <= 2100:  # a year is exact
        return False
    unit = 5 if v % 10 else 10 ** max(k for k in range(1, 8) if v % 10 ** k == 0)
    return abs(o - v) < min(unit / 2, v / 8)  # "about 100" is no 60


def _figure_after(span: str, value: str, term: str, hedged: bool, window: int = 3) -> bool:
    """Whether `span` has the figure with `term` (the question's word right after the figure)
    within `window` words after it: "more than 150 different mutations" states "150 mutations"."""
    for m in FIGURE.finditer(span):
        if _same_figure(value, _figure_value(m.group(0)), hedged):
            nxt = [(_split_terms(w.group(0)) or [""])[0] for w in list(WORD.finditer(span, m.end()))[:window]]
            if term in nxt:
                return True
    return False


PREPOSITIONS = frozenset("in of at by for with to from on since after before during".split())


def _span_states(sp: tuple, value: str, ctx: list[str], before: set[str], need: int, hedged: bool) -> bool:
    """Whether a span (text, passage, terms, figures) states the figure `value` with the word it is
    attached to (`before`) and `need` of the words it counts (`ctx`; a generic counted word such
    as "people" may stand for "cases")."""
    if not (before <= sp[2] and any(_same_figure(value, f, hedged) for f in sp[3])):
        return False
    after = set(ctx)
    held = len(after & sp[2]) + (bool(after & GENERIC_COUNTED - sp[2]) and bool(GENERIC_WORDS.search(sp[0])))
    return held >= need or bool(ctx and _figure_after(sp[0], value, ctx[0], hedged))


def unsupported_figure(question: str, passages: list[str], synonyms: dict[str, list[str]] | None = None) -> str | None:
    """A figure of the question (a number, a year, a number word, "half", a stage letter) that no
    passage span states with the words it counts or dates and with the question's key entities:
    "the 2020 Gold Coast criteria require signs in four body regions" when the passages give one or
    two regions for Gold Coast; "the 2019 AAN guideline" when AAN's guideline is dated 2009.
    Returns the figure with the words after it, or None."""
    syn = synonyms or {}
    # (span, its passage normalised, its terms, its figures): a span is a sentence with the next one
    spans = [(" ".join(ss[i:i + 2]), _norm(_with_aliases(p, syn))) for p in passages
             for ss in [split_sentences(p)] for i in range(max(1, len(ss)))]
    spans = [(_plain_figures(sp), hay) for sp, hay in spans]
    spans = [(sp, hay, set(_split_terms(sp)), _figures(sp)) for sp, hay in spans]
    names = [_names_of(e, syn) for e in key_entities(question)]

    def about(sp: tuple) -> bool:  # the span's passage names the question's entities (one is enough)
        return not names or any(any(_norm(n) in sp[1] for n in group) for group in names)

    for m in FIGURE.finditer(question):
        if ASKED_COUNT.search(question[:m.start()]):
            continue  # "Which two compounds ...": the figure is the shape of the answer, not a claim
        value = _figure_value(m.group(0))
        label = LABEL_NOUN.search(question[:m.start()])
        if label:  # "a phase 3 study of AMX0035": a passage must say "phase 3" (or "phase III")
            rx = _label_pattern(label.group("noun"), value)
            if not any(rx.search(sp[0]) and about(sp) for sp in spans):
                return f"{label.group(0).strip()} {m.group(0)}"
            continue
        # the figure with the word that introduces it ("signs in four ...", "incidence of 50")
        # and what it counts ("... body regions"): "four body regions" alone is another claim
        phrase, ctx, before, need, hedged = _figure_context(question, m)
        if not any(about(sp) and _span_states(sp, value, ctx, before, need, hedged) for sp in spans):
            return phrase
    for m in LABEL.finditer(question):
        rx = re.compile(rf"\b{m.group('noun')}\w* (?:[A-Z] (?:through|to|and|or|-) )?{m.group('x')}\b", re.I)
        if not any(rx.search(sp[0]) for sp in spans):
            return m.group(0)
    return None


# A name the question puts in quotes ("the 'hyperbulbar' subtype", "the “motor ribbon sign”") is
# presented as an established term: the sources must use it as written.
QUOTED = re.compile(r"[\"“](?P<a>[^\"”]{3,60})[\"”]|(?:^|(?<=[\s(]))['‘](?P<b>[^'’]{3,60})['’](?=[\s,.?;:)!]|$)")


def unquoted_name(question: str, passages: list[str]) -> str | None:
    """The first quoted name of the question that no passage contains (case-, space- and
    hyphen-insensitive), or None."""
    hay = _norm(" ".join(passages))
    for m in QUOTED.finditer(question):
        name = (m.group("a") or m.group("b")).strip()
        if _norm(name) and _norm(name) not in hay:
            return name
    return None


# "TDP-43 aggregating inside the nucleus, rather than the cytoplasm": the question asserts one
# place, agent or kind over another.
CONTRAST = re.compile(r"(?P<a>[^,?;]+?),? (?:rather than|instead of|as opposed to) (?P<b>[^,?;]+)", re.I)
CONTRAST_TAIL = re.compile(r",? (?:rather than|instead of|as opposed to) [^,?;]+", re.I)
NEAR = 4  # words between a contrasted term and the event it goes with


def contradicted_contrast(question: str, passages: list[str]) -> str | None:
    """For "A rather than B", the asserted term of A (its last content term that B lacks) and the
    denied term of B (its first content term that A lacks): each mention of the rest of A (the
    event: "aggregating") in a passage sentence goes with the nearer of the two terms within NEAR
    words; when B's term wins, the passages say the opposite. Proximity misreads some sentences, so
    B must win clearly: at least two mentions and more than twice A's. Returns "A rather than B"
    or None."""
    m = CONTRAST.search(question)
    if not m:
        return None
    a, b = _split_terms(m.group("a")), _split_terms(m.group("b"))
    a_only, b_only = [t for t in a if t not in b], [t for t in b if t not in a]
    if not a_only or not b_only:
        return None
    asserted, denied = a_only[-1][:5], b_only[0][:5]
    named = {t[:5] for e in key_entities(m.group("a")) for t in _split_terms(e)}
    event = {t[:5] for t in a_only[:-1]} - named
    if not event:
        return None
    with_a = with_b = 0
    for p in passages:
        for s in split_sentences(p):
            words = [(_split_terms(w) or [""])[0][:5] for w in WORD.findall(s)]
            for i in (i for i, w in enumerate(words) if w in event):
                # the nearer of the two terms goes with this mention of the event
                d_a = min((abs(i - j) for j, w in enumerate(words) if w == asserted), default=NEAR + 1)
                d_b = min((abs(i - j) for j, w in enumerate(words) if w == denied), default=NEAR + 1)
                with_a += d_a <= NEAR and d_a <= d_b
                with_b += d_b <= NEAR and d_b < d_a
    if with_b < 2 or with_b <= 2 * with_a:  # the passages mostly pair the event with B
        return None
    return f"{WH_START.sub('', m.group('a').strip())} rather than {m.group('b').strip()}"


WH_START = re.compile(r"^(?:how|why|what|when|which|where|who)\s+(?:(?:does|do|did|is|are|was|were|has|have|can|could)\s+)?", re.I)
