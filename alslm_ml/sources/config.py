"""sources.yaml: the curated, reviewed list of what the scrapers may fetch, and how politely.

The file is validated as a whole before anything is fetched, so a typo stops the run with a
message naming the file and the field (`sources.yaml: narratives[2].ethics: missing`) instead
of surfacing halfway through a scrape.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from alslm_ml import paths

DEFAULT_PATH = paths.SOURCES_YAML
CURATED = ("educational", "narratives", "supplementary")
SCRAPED = ("pubmed", "clinicaltrials", *CURATED)


class ConfigError(ValueError):
    """sources.yaml is malformed; the message names the file and the field."""


@dataclass
class Entry:
    """One curated page: a web page (trafilatura) or a MediaWiki article (api: mediawiki)."""

    url: str
    title: str
    license: str
    api: str = "web"  # "web" | "mediawiki"
    ethics: str = ""
    scrub_names: list[str] = field(default_factory=list)


@dataclass
class Settings:
    user_agent: str
    contact_email: str
    rate_per_host: float
    host_rates: dict[str, float]
    max_tries: int
    backoff_s: float
    timeout_s: float
    caps: dict[str, int]
    licence_allowlist: dict[str, list[str]]
    max_response_mb: float = 64.0  # a response body over this is dropped (streamed, never held whole)
    deadline_s: float = 120.0  # wall-clock limit for one request attempt, body included


@dataclass
class SourcesConfig:
    path: Path
    settings: Settings
    pubmed: dict
    clinicaltrials: dict
    entries: dict[str, list[Entry]]

    def allowed_hosts(self) -> set[str]:
        """Every host any scraper may contact: API hosts plus the hosts of curated entries."""
        hosts = {urlsplit(self.pubmed["base_url"]).hostname, urlsplit(self.clinicaltrials["base_url"]).hostname}
        for entries in self.entries.values():
            hosts |= {urlsplit(e.url).hostname for e in entries}
        return {h for h in hosts if h}

    def cap(self, source: str) -> int:
        return self.settings.caps.get(source, 0)

    def licence_ok(self, source: str, licence: str) -> bool:
        return licence_allowed(licence, self.settings.licence_allowlist.get(source, []))

    def ncbi_params(self) -> dict[str, str]:
        """tool/email (and api_key) as NCBI asks every E-utilities caller to send."""
        params = {"tool": self.pubmed.get("tool", "alslm")}
        email = os.environ.get("NCBI_EMAIL") or self.settings.contact_email
        if email:
            params["email"] = email
        if key := os.environ.get("NCBI_API_KEY"):
            params["api_key"] = key
        return params

    def ncbi_rate(self) -> float:
        """NCBI: at most 3 requests/s without an API key, 10 with one."""
        return 10.0 if os.environ.get("NCBI_API_KEY") else 3.0


def licence_allowed(licence: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(licence, p) for p in patterns)


def _req(d: dict, key: str, typ: type | tuple, where: str, file: Path):
    if not isinstance(d, dict):
        raise ConfigError(f"{file}: {where}: expected a mapping, got {type(d).__name__}")
    if key not in d or d[key] is None or d[key] == "":
        raise ConfigError(f"{file}: {where}.{key}: missing")
    if not isinstance(d[key], typ) or isinstance(d[key], bool) and typ is not bool:
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ConfigError(f"{file}: {where}.{key}: expected {name}, got {d[key]!r}")
    return d[key]


def _entry(raw, source: str, i: int, file: Path, allow: list[str]) -> Entry:
    where = f"{source}[{i}]"
    url = _https(_req(raw, "url", str, where, file), f"{where}.url", file)
    entry = Entry(url=url, title=_req(raw, "title", str, where, file), license=_req(raw, "license", str, where, file))
    if not licence_allowed(entry.license, allow):
        raise ConfigError(
            f"{file}: {where}.license: {entry.license!r} is not in settings.licence_allowlist.{source} {allow}"
        )
    entry.api = raw.get("api", "web")
    if entry.api not in ("web", "mediawiki"):
        raise ConfigError(f"{file}: {where}.api: expected 'web' or 'mediawiki', got {entry.api!r}")
    if source == "narratives":
        entry.ethics = _req(raw, "ethics", str, where, file)
    names = raw.get("scrub_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{file}: {where}.scrub_names: expected a list of strings")
    entry.scrub_names = names
    unknown = set(raw) - {"url", "title", "license", "api", "ethics", "scrub_names"}
    if unknown:
        raise ConfigError(f"{file}: {where}: unknown field(s) {sorted(unknown)}")
    return entry


SETTINGS_KEYS = {"user_agent", "contact_email", "rate_per_host", "host_rates", "max_tries", "backoff_s", "timeout_s",
                 "caps", "licence_allowlist", "max_response_mb", "deadline_s"}
PUBMED_KEYS = {"base_url", "tool", "queries", "open_access_filter", "batch_size", "page_size"}
CT_KEYS = {"base_url", "condition", "page_size"}
ROOT_KEYS = {"settings", "pubmed", "clinicaltrials", *CURATED}


def _no_unknown(d: dict, known: set[str], where: str, file: Path) -> None:
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{file}: {where}: unknown field(s) {unknown}; known: {', '.join(sorted(known))}")


def _range(value, ok: bool, where: str, accepted: str, file: Path):
    if not ok:
        raise ConfigError(f"{file}: {where}: {value!r} is out of range; expected {accepted}")
    return value


def _https(url: str, where: str, file: Path) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{file}: {where}: expected an https:// URL, got {url!r}")
    return url


def _read_yaml(file: Path) -> dict:
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a directory, expected sources.yaml") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping at the top level")
    _no_unknown(raw, ROOT_KEYS, "<root>", file)
    return raw


def _politeness(s: dict, file: Path) -> tuple[dict, dict, dict, float]:
    """settings.caps, licence_allowlist, host_rates and rate_per_host, each checked."""
    caps = _req(s, "caps", dict, "settings", file)
    for src, n in caps.items():
        if src not in SCRAPED or not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"{file}: settings.caps.{src}: expected a source in {SCRAPED} with an integer >= 0")
    allow = _req(s, "licence_allowlist", dict, "settings", file)
    for src, pats in allow.items():
        if not isinstance(pats, list) or not all(isinstance(p, str) for p in pats):
            raise ConfigError(f"{file}: settings.licence_allowlist.{src}: expected a list of licence patterns")
    host_rates = s.get("host_rates", {}) or {}
    if not isinstance(host_rates, dict) or not all(isinstance(v, (int, float)) and v > 0 for v in host_rates.values()):
        raise ConfigError(f"{file}: settings.host_rates: expected a mapping host -> requests per second > 0")
    rate = _req(s, "rate_per_host", (int, float), "settings", file)
    if rate <= 0:
        raise ConfigError(f"{file}: settings.rate_per_host: must be > 0")
    return caps, allow, host_rates, rate


def _settings(raw: dict, file: Path) -> Settings:
    s = _req(raw, "settings", dict, "<root>", file)
    _no_unknown(s, SETTINGS_KEYS, "settings", file)
    caps, allow, host_rates, rate = _politeness(s, file)
    settings = Settings(
        user_agent=_req(s, "user_agent", str, "settings", file),
        contact_email=s.get("contact_email", "") or "",
        rate_per_host=float(rate),
        host_rates={k: float(v) for k, v in host_rates.items()},
        max_tries=_range(t := _req(s, "max_tries", int, "settings", file), 1 <= t <= 20, "settings.max_tries",
                         "an integer in [1, 20] (attempts, the first included)", file),
        backoff_s=float(_range(b := _req(s, "backoff_s", (int, float), "settings", file), 0 <= b <= 600,
                               "settings.backoff_s", "seconds in [0, 600]", file)),
        timeout_s=float(_range(t := _req(s, "timeout_s", (int, float), "settings", file), 0 < t <= 600,
                               "settings.timeout_s", "seconds in (0, 600]", file)),
        caps=caps,
        licence_allowlist=allow,
    )
    for key, hi in (("max_response_mb", 4096), ("deadline_s", 3600)):
        if key in s:
            v = _req(s, key, (int, float), "settings", file)
            setattr(settings, key, float(_range(v, 0 < v <= hi, f"settings.{key}", f"a number in (0, {hi}]", file)))
    return settings


def _apis(raw: dict, file: Path) -> tuple[dict, dict]:
    """The pubmed and clinicaltrials sections: known keys, types, https base URLs, page sizes."""
    pubmed = _req(raw, "pubmed", dict, "<root>", file)
    _no_unknown(pubmed, PUBMED_KEYS, "pubmed", file)
    for key, typ in (
        ("base_url", str),
        ("queries", list),
        ("open_access_filter", str),
        ("batch_size", int),
        ("page_size", int),
    ):
        _req(pubmed, key, typ, "pubmed", file)
    ct = _req(raw, "clinicaltrials", dict, "<root>", file)
    _no_unknown(ct, CT_KEYS, "clinicaltrials", file)
    for key, typ in (("base_url", str), ("condition", str), ("page_size", int)):
        _req(ct, key, typ, "clinicaltrials", file)
    for name, api in (("pubmed", pubmed), ("clinicaltrials", ct)):
        _https(api["base_url"], f"{name}.base_url", file)
        for key in ("page_size", "batch_size"):
            if key in api:
                _range(api[key], 1 <= api[key] <= 10000, f"{name}.{key}", "an integer in [1, 10000]", file)
    return pubmed, ct


def _curated(raw: dict, allow: dict, file: Path) -> dict[str, list[Entry]]:
    """The curated lists, each entry checked (licence against the allow-list), no URL twice."""
    entries: dict[str, list[Entry]] = {}
    for src in CURATED:
        items = raw.get(src, []) or []
        if not isinstance(items, list):
            raise ConfigError(f"{file}: {src}: expected a list of entries")
        entries[src] = [_entry(item, src, i, file, allow.get(src, [])) for i, item in enumerate(items)]
        seen: dict[str, int] = {}
        for i, e in enumerate(entries[src]):
            if e.url in seen:
                raise ConfigError(f"{file}: {src}[{i}].url: duplicate of {src}[{seen[e.url]}] ({e.url})")
            seen[e.url] = i
    return entries


def load_sources_config(path: str | Path | None = None) -> SourcesConfig:
    """Load and validate sources.yaml (default: the one shipped next to this module)."""
    file = Path(path) if path else DEFAULT_PATH
    raw = _read_yaml(file)
    settings = _settings(raw, file)
    pubmed, ct = _apis(raw, file)
    return SourcesConfig(file, settings, pubmed, ct, _curated(raw, settings.licence_allowlist, file))
