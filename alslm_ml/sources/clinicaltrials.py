"""ClinicalTrials.gov API v2 studies for ALS (design doc 2.2.2).

Pages through /api/v2/studies?query.cond=...&pageSize=N with nextPageToken. Each study becomes
one document whose text joins the descriptive fields under section headers: summaries,
eligibility, arms and interventions, outcome measures and, where posted, results. Contacts,
locations, officials and points of contact are never rendered. Records are US government
works: public domain.
"""

from __future__ import annotations

import json

from alslm_ml.documents import Document
from alslm_ml.sources.config import SourcesConfig
from alslm_ml.sources.http import FetchError, PoliteClient
from alslm_ml.sources.spool import Run

SOURCE = "clinicaltrials"
LICENCE = "public-domain"


class StudyError(ValueError):
    """A study record without the fields every document needs."""


def _phase(code: str) -> str:
    """API phase codes as words: PHASE2 -> phase 2, EARLY_PHASE1 -> early phase 1, NA -> not applicable."""
    if code == "NA":
        return "not applicable"
    return code.lower().replace("_", " ").replace("phase", "phase ").replace("  ", " ").strip()


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body.strip()}" if body and body.strip() else ""


def _outcomes(items: list[dict]) -> str:
    lines = []
    for o in items or []:
        line = f"- {o.get('measure', '').strip()}"
        if o.get("timeFrame"):
            line += f" (time frame: {o['timeFrame'].strip()})"
        if o.get("description"):
            line += f": {o['description'].strip()}"
        lines.append(line)
    return "\n".join(lines)


def _results(results: dict) -> str:
    """Posted results as sentences: each outcome measure with its per-group values."""
    parts = []
    for m in results.get("outcomeMeasuresModule", {}).get("outcomeMeasures", []):
        groups = {g.get("id"): g.get("title", g.get("id")) for g in m.get("groups", [])}
        head = f"{m.get('type', '').title()} outcome: {m.get('title', '').strip()}"
        if m.get("description"):
            head += f". {m['description'].strip()}"
        values = []
        for cls in m.get("classes", []):
            for cat in cls.get("categories", []):
                label = " / ".join(x for x in (cls.get("title"), cat.get("title")) if x)
                for v in cat.get("measurements", []):
                    val = f"{groups.get(v.get('groupId'), v.get('groupId'))}: {v.get('value', 'n/a')}"
                    if v.get("lowerLimit") and v.get("upperLimit"):
                        val += f" ({v['lowerLimit']} to {v['upperLimit']})"
                    elif v.get("spread"):
                        val += f" (spread {v['spread']})"
                    values.append(f"{label}: {val}" if label else val)
        unit = (
            f" [{m['paramType'].lower().replace('_', ' ')}, {m.get('unitOfMeasure', '')}]" if m.get("paramType") else ""
        )
        parts.append(head + unit + (": " + "; ".join(values) if values else ""))
    limits = results.get("moreInfoModule", {}).get("limitationsAndCaveats", {}).get("description")
    if limits:
        parts.append(f"Limitations and caveats: {limits.strip()}")
    return "\n\n".join(parts)


def study_document(study: dict, today: str) -> Document:
    """One study record -> a Document; raises StudyError naming the missing field."""
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise StudyError("missing field protocolSection")
    p = study["protocolSection"]
    ident = p.get("identificationModule") or {}
    nct = ident.get("nctId")
    if not nct:
        raise StudyError("missing field protocolSection.identificationModule.nctId")
    title = ident.get("briefTitle") or ident.get("officialTitle")
    if not title:
        raise StudyError(f"{nct}: missing field identificationModule.briefTitle")
    status = p.get("statusModule", {})
    design = p.get("designModule", {})
    desc = p.get("descriptionModule", {})
    elig = p.get("eligibilityModule", {})
    arms = p.get("armsInterventionsModule", {})
    outcomes = p.get("outcomesModule", {})
    conditions = p.get("conditionsModule", {}).get("conditions", [])

    overview = []
    if ident.get("officialTitle") and ident["officialTitle"] != title:
        overview.append(f"Official title: {ident['officialTitle']}")
    if conditions:
        overview.append(f"Conditions: {', '.join(conditions)}")
    if design.get("studyType"):
        overview.append(f"Study type: {design['studyType'].lower()}")
    if design.get("phases"):
        overview.append(f"Phase: {', '.join(_phase(p) for p in design['phases'])}")
    if status.get("overallStatus"):
        overview.append(f"Status: {status['overallStatus'].lower().replace('_', ' ')}")
    if n := design.get("enrollmentInfo", {}).get("count"):
        overview.append(f"Enrollment: {n} participants")

    eligibility = elig.get("eligibilityCriteria", "")
    facts = [
        f"Sex: {elig['sex'].lower()}" if elig.get("sex") else "",
        f"Minimum age: {elig['minimumAge']}" if elig.get("minimumAge") else "",
        f"Maximum age: {elig['maximumAge']}" if elig.get("maximumAge") else "",
    ]
    if any(facts):
        eligibility = (eligibility + "\n\n" + "; ".join(f for f in facts if f)).strip()

    interventions = "\n".join(
        f"- {i.get('type', '').title()}: {i.get('name', '')}"
        + (f" (also known as {', '.join(i['otherNames'])})" if i.get("otherNames") else "")
        + (f". {i['description'].strip()}" if i.get("description") else "")
        for i in arms.get("interventions", [])
    )
    arm_text = "\n".join(
        f"- {a.get('label', '')} ({a.get('type', '').lower().replace('_', ' ')})"
        + (f": {a['description'].strip()}" if a.get("description") else "")
        for a in arms.get("armGroups", [])
    )
    sections = [
        f"# {title}",
        "\n".join(overview),
        _section("Brief summary", desc.get("briefSummary", "")),
        _section("Detailed description", desc.get("detailedDescription", "")),
        _section("Eligibility criteria", eligibility),
        _section("Arms", arm_text),
        _section("Interventions", interventions),
        _section("Primary outcomes", _outcomes(outcomes.get("primaryOutcomes"))),
        _section("Secondary outcomes", _outcomes(outcomes.get("secondaryOutcomes"))),
        _section("Results summary", _results(study.get("resultsSection") or {})),
    ]
    meta = {
        "nct_id": nct,
        "overall_status": status.get("overallStatus", ""),
        "study_type": design.get("studyType", ""),
        "phases": design.get("phases", []),
        "conditions": conditions,
        "has_results": bool(study.get("hasResults") or study.get("resultsSection")),
        "last_update": status.get("lastUpdatePostDateStruct", {}).get("date", ""),
    }
    return Document(
        f"clinicaltrials:{nct}",
        SOURCE,
        f"https://clinicaltrials.gov/study/{nct}",
        title,
        "\n\n".join(s for s in sections if s),
        today,
        LICENCE,
        meta,
    )


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
            data = resp.json()
            studies = data["studies"]
            if not isinstance(studies, list):
                raise TypeError("'studies' is not a list")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            run.quarantine(page_id, f"malformed page JSON: {type(exc).__name__}: {exc}", resp.content)
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
        token = data.get("nextPageToken")
        if not token:
            return
