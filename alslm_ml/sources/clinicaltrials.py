"""ClinicalTrials.gov API v2 studies for ALS (design doc 2.2.2).

Pages through /api/v2/studies?query.cond=...&pageSize=N with nextPageToken. Each study becomes
one document whose text joins what a reader needs under section headers: design and enrolment,
summaries, study population, eligibility, arms and interventions, outcome measures and, where
posted, results (participant flow, baseline characteristics, outcome values with units and
dispersion, statistical analyses with method, estimate, CI and p-value, adverse-event totals).
Contacts, locations, officials and points of contact are never rendered. CT.gov's Markdown
escapes ("\\>=") are undone. Records are US government works: public domain.
"""

from __future__ import annotations

import json
import re

from alslm_ml.documents import Document
from alslm_ml.sources.config import SourcesConfig
from alslm_ml.sources.http import FetchError, PoliteClient
from alslm_ml.sources.spool import Run

SOURCE = "clinicaltrials"
LICENCE = "public-domain"


class StudyError(ValueError):
    """A study record without the fields every document needs, or with a field of the wrong type."""


class PageError(ValueError):
    """A response that is not an API v2 page of studies."""


V1_KEYS = ("StudyFieldsResponse", "FullStudiesResponse", "FullStudy")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=|~^])")


def _md(text: str) -> str:
    """CT.gov free text is Markdown with backslash escapes ("\\>=", "\\[ln\\]"): the plain characters."""
    return _MD_ESCAPE.sub(r"\1", text).strip()


def _words(code: str) -> str:
    """API enum values as words: PLACEBO_COMPARATOR -> placebo comparator."""
    return re.sub(r"\bnon ", "non-", code.replace("_", " ").lower().strip())


def _phase(code: str) -> str:
    """API phase codes as words: PHASE2 -> phase 2, EARLY_PHASE1 -> early phase 1, NA -> not applicable."""
    if code == "NA":
        return "not applicable"
    return code.lower().replace("_", " ").replace("phase", "phase ").replace("  ", " ").strip()


class _Rec:
    """Typed access to a record that names the field when a value has the wrong type.

    The API marks absent modules by omission, but real records also carry `null` ones; both read
    as empty. A value of the wrong type raises StudyError with its dotted path."""

    def __init__(self, data: dict, path: str):
        self.data, self.path = data, path

    def _get(self, key: str, kinds: tuple, expected: str):
        value = self.data.get(key)
        if value is not None and not isinstance(value, kinds):
            raise StudyError(f"field {self.path}.{key}: expected {expected}, got {type(value).__name__}")
        return value

    def obj(self, key: str) -> _Rec:
        return _Rec(self._get(key, (dict,), "an object") or {}, f"{self.path}.{key}")

    def objs(self, key: str) -> list[_Rec]:
        items = self._get(key, (list,), "a list") or []
        out = []
        for i, item in enumerate(items):
            if item is None:
                continue
            if not isinstance(item, dict):
                raise StudyError(f"field {self.path}.{key}[{i}]: expected an object, got {type(item).__name__}")
            out.append(_Rec(item, f"{self.path}.{key}[{i}]"))
        return out

    def text(self, key: str) -> str:
        value = self._get(key, (str, int, float), "a string")
        return "" if value is None or isinstance(value, bool) else _md(str(value))

    def texts(self, key: str) -> list[str]:
        """A list of strings; a single string is one item (not split into letters)."""
        value = self._get(key, (list, str), "a list of strings")
        items = [value] if isinstance(value, str) else value or []
        return [_md(str(v)) for v in items if isinstance(v, (str, int, float)) and str(v).strip()]

    def num(self, key: str):
        value = self.data.get(key)
        return (
            value
            if isinstance(value, (int, float, str)) and not isinstance(value, bool) and str(value).strip()
            else None
        )


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body.strip()}" if body and body.strip() else ""


def _outcomes(items: list[_Rec]) -> str:
    lines = []
    for o in items:
        measure = o.text("measure") or o.text("description")
        if not measure:
            continue  # a null outcome: nothing to say about it
        line = f"- {measure}"
        if o.text("timeFrame"):
            line += f" (time frame: {o.text('timeFrame')})"
        if o.text("description") and o.text("description") != measure:
            line += f": {o.text('description')}"
        lines.append(line)
    return "\n".join(lines)


def _groups(module: _Rec) -> dict[str, str]:
    return {g.text("id"): g.text("title") or g.text("id") for g in module.objs("groups")}


def _counts(items: list[_Rec], groups: dict[str, str], key: str) -> str:
    """ "Placebo 8, Riluzole 9" from [{groupId, <key>}]."""
    return ", ".join(f"{groups.get(c.text('groupId'), c.text('groupId'))} {c.text(key)}" for c in items if c.text(key))


def _value(v: _Rec, dispersion: str) -> str:
    """One measurement: value with its spread or interval, named by the dispersion type."""
    val = v.text("value") or "not available"
    if v.text("comment") and val == "not available":
        val += f" ({v.text('comment')})"
    if v.text("lowerLimit") or v.text("upperLimit"):
        val += (
            f" ({dispersion + ' ' if dispersion else ''}{v.text('lowerLimit') or '?'} to {v.text('upperLimit') or '?'})"
        )
    elif v.text("spread"):
        val += f" ({dispersion or 'spread'} {v.text('spread')})"
    return val


def _measure_values(m: _Rec, groups: dict[str, str]) -> list[str]:
    dispersion = _words(m.text("dispersionType"))
    values = []
    for cls in m.objs("classes"):
        for cat in cls.objs("categories"):
            label = " / ".join(x for x in (cls.text("title"), cat.text("title")) if x)
            per_group = "; ".join(
                f"{groups.get(v.text('groupId'), v.text('groupId'))}: {_value(v, dispersion)}"
                for v in cat.objs("measurements")
            )
            if per_group:
                values.append(f"{label}: {per_group}" if label else per_group)
    return values


def _analysis(a: _Rec, groups: dict[str, str]) -> str:
    """A statistical analysis as one sentence: compared groups, method, estimate with its CI, p-value."""
    compared = [groups.get(g, g) for g in a.texts("groupIds")]
    parts = []
    if a.text("statisticalMethod"):
        parts.append(a.text("statisticalMethod"))
    if a.text("paramType") or a.text("paramValue"):
        estimate = " ".join(x for x in (a.text("paramType").lower(), a.text("paramValue")) if x)
        if a.text("ciLowerLimit") or a.text("ciUpperLimit"):
            pct = f"{a.text('ciPctValue')}% " if a.text("ciPctValue") else ""
            sides = f", {_words(a.text('ciNumSides')).replace(' ', '-')}" if a.text("ciNumSides") else ""
            estimate += f" ({pct}CI {a.text('ciLowerLimit') or '?'} to {a.text('ciUpperLimit') or '?'}{sides})"
        elif a.text("dispersionValue"):
            estimate += f" ({_words(a.text('dispersionType')) or 'dispersion'} {a.text('dispersionValue')})"
        parts.append(estimate)
    if p := a.text("pValue"):
        parts.append(f"p {p}" if p[0] in "<>≤≥=" else f"p = {p}")
    if a.text("nonInferiorityType"):
        parts.append(f"{_words(a.text('nonInferiorityType'))} analysis")
    head = "Analysis" + (f" ({' vs '.join(compared)})" if compared else "")
    text = f"{head}: {'; '.join(parts)}." if parts else ""
    comments = [
        a.text(k)
        for k in (
            "groupDescription",
            "statisticalComment",
            "pValueComment",
            "estimateComment",
            "nonInferiorityComment",
            "otherAnalysisDescription",
        )
    ]
    extra = " ".join(c if c.endswith((".", "!", "?")) else c + "." for c in comments if c)
    return (text + " " + extra).strip()


def _outcome_results(results: _Rec) -> str:
    """Posted outcome measures: title, time frame, unit, values per group, participants analysed and analyses."""
    parts = []
    for m in results.obj("outcomeMeasuresModule").objs("outcomeMeasures"):
        groups = _groups(m)
        head = f"{_words(m.text('type')).capitalize() or 'Outcome'} outcome: {m.text('title') or 'untitled measure'}"
        if m.text("timeFrame"):
            head += f" (time frame: {m.text('timeFrame')})"
        head += "."
        if m.text("description"):
            head += f" {m.text('description')}" + ("" if m.text("description").endswith(".") else ".")
        if m.text("populationDescription"):
            head += f" Analysis population: {m.text('populationDescription')}" + (
                "" if m.text("populationDescription").endswith(".") else "."
            )
        kind = _words(m.text("paramType"))  # the dispersion is named in each value
        unit = m.text("unitOfMeasure")
        lines = [head]
        values = _measure_values(m, groups)
        if values:
            lines.append(
                (f"Values ({kind}{', ' if kind and unit else ''}{unit})" if kind or unit else "Values")
                + ": "
                + "; ".join(values)
                + "."
            )
        for d in m.objs("denoms")[:1]:
            if n := _counts(d.objs("counts"), groups, "value"):
                lines.append(f"Participants analysed: {n}.")
        lines += [t for a in m.objs("analyses") if (t := _analysis(a, groups))]
        parts.append(" ".join(lines))
    limits = results.obj("moreInfoModule").obj("limitationsAndCaveats").text("description")
    if limits:
        parts.append(f"Limitations and caveats: {limits}")
    return "\n\n".join(parts)


def _lead(rec: _Rec, field: str) -> list[str]:
    """A section's free-text lead paragraph, if the registry has one."""
    return [rec.text(field)] if rec.text(field) else []


def _participant_flow(flow: _Rec) -> str:
    groups = _groups(flow)
    lines = _lead(flow, "recruitmentDetails")
    for period in flow.objs("periods"):
        bits = []
        for ms in period.objs("milestones"):
            if n := _counts(ms.objs("achievements"), groups, "numSubjects"):
                bits.append(f"{_words(ms.text('type')) or 'milestone'}: {n}")
        for dw in period.objs("dropWithdraws"):
            if n := _counts(dw.objs("reasons"), groups, "numSubjects"):
                bits.append(f"withdrawn ({dw.text('type').lower() or 'other reason'}): {n}")
        if bits:
            lines.append(f"{period.text('title') or 'Study period'}: " + "; ".join(bits) + ".")
    return "\n\n".join(lines)


def _baseline(base: _Rec) -> str:
    groups = _groups(base)
    lines = _lead(base, "populationDescription")
    for d in base.objs("denoms")[:1]:
        if n := _counts(d.objs("counts"), groups, "value"):
            lines.append(f"Participants: {n}.")
    for m in base.objs("measures"):
        kind = ", ".join(x for x in (_words(m.text("paramType")), m.text("unitOfMeasure")) if x)
        values = _measure_values(m, groups)
        if values:
            lines.append(
                f"{m.text('title') or 'Measure'}" + (f" ({kind})" if kind else "") + ": " + "; ".join(values) + "."
            )
    return "\n\n".join(lines)


def _adverse_events(ae: _Rec) -> str:
    rows = []
    for g in ae.objs("eventGroups"):
        counts = [
            f"{label} {g.num(k + 'NumAffected')} of {g.num(k + 'NumAtRisk')}"
            for k, label in (
                ("serious", "serious adverse events"),
                ("other", "other adverse events"),
                ("deaths", "deaths"),
            )
            if g.num(k + "NumAffected") is not None and g.num(k + "NumAtRisk") is not None
        ]
        if counts:
            rows.append(f"{g.text('title') or g.text('id')}: " + ", ".join(counts) + ".")
    if rows and ae.text("timeFrame"):
        rows.insert(0, f"Time frame: {ae.text('timeFrame')}")
    return "\n\n".join(rows)


def study_document(study: dict, today: str) -> Document:
    """One study record -> a Document; raises StudyError naming the missing or mistyped field."""
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise StudyError("missing field protocolSection")
    p = _Rec(study["protocolSection"], "protocolSection")
    ident = p.obj("identificationModule")
    nct = ident.text("nctId")
    if not nct:
        raise StudyError("missing field protocolSection.identificationModule.nctId")
    try:
        return _study_document(study, p, ident, nct, today)
    except StudyError as exc:
        raise StudyError(f"{nct}: {exc}") from None


def _design_line(info: _Rec) -> str:
    """"Design: randomized, parallel assignment, masking: double (participant, investigator), ..." or ""."""
    masking = info.obj("maskingInfo")
    who = masking.texts("whoMasked")
    bits = [
        _words(info.text("allocation")),
        f"{_words(info.text('interventionModel'))} assignment" if info.text("interventionModel") else "",
        f"{_words(info.text('observationalModel'))} model" if info.text("observationalModel") else "",
        f"{_words(info.text('timePerspective'))}" if info.text("timePerspective") else "",
        f"masking: {_words(masking.text('masking'))}" + (f" ({', '.join(_words(w) for w in who)})" if who else "")
        if masking.text("masking")
        else "",
        f"primary purpose: {_words(info.text('primaryPurpose'))}" if info.text("primaryPurpose") else "",
    ]
    return "Design: " + ", ".join(b for b in bits if b) if any(bits) else ""


def _overview(ident: _Rec, title: str, design: _Rec, status: _Rec, conditions: list, phases: list) -> list[str]:
    """The lines under the title: official title, conditions, type, phase, design, status, enrollment."""
    overview = []
    if ident.text("officialTitle") and ident.text("officialTitle") != title:
        overview.append(f"Official title: {ident.text('officialTitle')}")
    if conditions:
        overview.append(f"Conditions: {', '.join(conditions)}")
    if design.text("studyType"):
        overview.append(f"Study type: {_words(design.text('studyType'))}")
    if phases:
        overview.append(f"Phase: {', '.join(_phase(x) for x in phases)}")
    if line := _design_line(design.obj("designInfo")):
        overview.append(line)
    if status.text("overallStatus"):
        overview.append(f"Status: {_words(status.text('overallStatus'))}")
    enrollment = design.obj("enrollmentInfo")
    if (n := enrollment.num("count")) is not None:
        overview.append(
            f"Enrollment: {n} participants"
            + (f" ({_words(enrollment.text('type'))})" if enrollment.text("type") else "")
        )
    return overview


def _population_and_eligibility(elig: _Rec) -> tuple[str, str]:
    """The study population (with its sampling method) and the eligibility criteria (with sex,
    ages and healthy volunteers appended)."""
    population = elig.text("studyPopulation")
    if population and elig.text("samplingMethod"):
        population += f"\n\nSampling method: {_words(elig.text('samplingMethod'))}."
    eligibility = elig.text("eligibilityCriteria")
    healthy = elig.data.get("healthyVolunteers")
    facts = [
        f"Sex: {_words(elig.text('sex'))}" if elig.text("sex") else "",
        f"Minimum age: {elig.text('minimumAge')}" if elig.text("minimumAge") else "",
        f"Maximum age: {elig.text('maximumAge')}" if elig.text("maximumAge") else "",
        f"Healthy volunteers: {'accepted' if healthy else 'not accepted'}" if isinstance(healthy, bool) else "",
    ]
    if any(facts):
        eligibility = (eligibility + "\n\n" + "; ".join(f for f in facts if f)).strip()
    return population, eligibility


def _interventions(arms: _Rec) -> str:
    return "\n".join(
        f"- {_words(i.text('type')).capitalize()}: {i.text('name')}"
        + (f" (also known as {', '.join(i.texts('otherNames'))})" if i.texts("otherNames") else "")
        + (f". {i.text('description')}" if i.text("description") else "")
        for i in arms.objs("interventions")
        if i.text("name")
    )


def _arm_groups(arms: _Rec) -> str:
    return "\n".join(
        f"- {a.text('label')}"
        + (f" ({_words(a.text('type'))})" if a.text("type") else "")
        + (f": {a.text('description')}" if a.text("description") else "")
        for a in arms.objs("armGroups")
        if a.text("label")
    )


def _content(study: dict, desc: _Rec, elig: _Rec, arms: _Rec, outcomes: _Rec) -> list[str]:
    """The document's sections (empty strings for the missing ones); StudyError when none has text."""
    population, eligibility = _population_and_eligibility(elig)
    interventions, arm_text = _interventions(arms), _arm_groups(arms)
    results = _Rec(study.get("resultsSection") or {}, "resultsSection")
    if not isinstance(results.data, dict):
        raise StudyError(f"field resultsSection: expected an object, got {type(results.data).__name__}")
    content = [
        _section("Brief summary", desc.text("briefSummary")),
        _section("Detailed description", desc.text("detailedDescription")),
        _section("Study population", population),
        _section("Eligibility criteria", eligibility),
        _section("Arms", arm_text),
        _section("Interventions", interventions),
        _section("Primary outcomes", _outcomes(outcomes.objs("primaryOutcomes"))),
        _section("Secondary outcomes", _outcomes(outcomes.objs("secondaryOutcomes"))),
        _section("Other outcomes", _outcomes(outcomes.objs("otherOutcomes"))),
        _section("Participant flow", _participant_flow(results.obj("participantFlowModule"))),
        _section("Baseline characteristics", _baseline(results.obj("baselineCharacteristicsModule"))),
        _section("Results summary", _outcome_results(results)),
        _section("Adverse events", _adverse_events(results.obj("adverseEventsModule"))),
    ]
    if not any(content):
        raise StudyError(
            "no descriptive field (descriptionModule.briefSummary/detailedDescription, eligibilityModule, "
            "armsInterventionsModule, outcomesModule or resultsSection): a title alone is not a document"
        )
    return content


def _study_document(study: dict, p: _Rec, ident: _Rec, nct: str, today: str) -> Document:
    title = ident.text("briefTitle") or ident.text("officialTitle")
    if not title:
        raise StudyError("missing field identificationModule.briefTitle")
    status, design, desc = p.obj("statusModule"), p.obj("designModule"), p.obj("descriptionModule")
    elig, arms, outcomes = p.obj("eligibilityModule"), p.obj("armsInterventionsModule"), p.obj("outcomesModule")
    conditions = p.obj("conditionsModule").texts("conditions")
    phases = design.texts("phases")
    overview = _overview(ident, title, design, status, conditions, phases)
    content = _content(study, desc, elig, arms, outcomes)
    meta = {
        "nct_id": nct,
        "overall_status": status.text("overallStatus"),
        "study_type": design.text("studyType"),
        "phases": phases,
        "conditions": conditions,
        "has_results": bool(study.get("hasResults") or study.get("resultsSection")),
        "last_update": status.obj("lastUpdatePostDateStruct").text("date"),
    }
    text = "\n\n".join(s for s in [f"# {title}", "\n".join(overview), *content] if s)
    return Document(f"clinicaltrials:{nct}", SOURCE, f"https://clinicaltrials.gov/study/{nct}", title, text, today,
                    LICENCE, meta)


def parse_page(data) -> tuple[list, str | None]:
    """(studies, nextPageToken) of an API v2 page; PageError names what the response is instead."""
    if isinstance(data, dict):
        for key in V1_KEYS:
            if key in data:
                raise PageError(
                    f"this is the retired ClinicalTrials.gov v1 API format (<{key}>); the scraper reads API v2 "
                    "(/api/v2/studies: {'studies': [...], 'nextPageToken': ...})"
                )
    if not isinstance(data, dict) or "studies" not in data:
        got = f"keys {sorted(data)[:8]}" if isinstance(data, dict) else type(data).__name__
        raise PageError(
            f"no field 'studies' (got {got}); expected an API v2 page {{'studies': [...], 'nextPageToken': ...}}"
        )
    if not isinstance(data["studies"], list):
        raise PageError(f"field 'studies' is a {type(data['studies']).__name__}, not a list")
    token = data.get("nextPageToken")
    return data["studies"], token if isinstance(token, str) and token else None


def scrape(client: PoliteClient, cfg: SourcesConfig, run: Run) -> None:
    ct = cfg.clinicaltrials
    token: str | None = None
    while not run.full:
        params = {"query.cond": ct["condition"], "pageSize": ct["page_size"], "format": "json"}
        if token:
            params["pageToken"] = token
        page_id = f"page:{token or 'first'}"
        try:
            resp = client.get(ct["base_url"], params=params)
        except FetchError as exc:
            run.quarantine(page_id, str(exc))
            return  # no token for the following pages: the next run starts over, skipping done studies
        try:
            studies, token = parse_page(resp.json())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            run.quarantine(page_id, f"malformed page JSON: {type(exc).__name__}: {exc}", resp.content)
            return
        except PageError as exc:
            run.quarantine(page_id, f"malformed page JSON: {exc}", resp.content)
            return
        for study in studies:
            if run.full:
                return
            nct = (
                (((study or {}).get("protocolSection") or {}).get("identificationModule") or {}).get("nctId")
                if isinstance(study, dict)
                else None
            )
            if nct and run.seen(nct):
                continue
            try:
                doc = study_document(study, run.today)
            except (StudyError, AttributeError, TypeError) as exc:
                run.quarantine(
                    nct or f"{page_id}#{studies.index(study)}", f"malformed study: {exc}", json.dumps(study)[:2000]
                )
                continue
            run.save(nct, [doc])
        if not token:
            return
