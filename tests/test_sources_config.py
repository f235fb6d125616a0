"""sources.yaml validation: the shipped file loads; a malformed file or entry stops with a
message naming the file and the field."""

from pathlib import Path

import pytest
import yaml

from alslm_ml.sources.config import DEFAULT_PATH, ConfigError, load_sources_config

FIX = Path(__file__).parent / "fixtures" / "sources"


def test_shipped_config_is_valid_and_polite():
    cfg = load_sources_config()
    assert cfg.path == DEFAULT_PATH
    assert "ALS-LM" in cfg.settings.user_agent and cfg.settings.rate_per_host <= 1.0
    assert {
        "eutils.ncbi.nlm.nih.gov",
        "clinicaltrials.gov",
        "en.wikipedia.org",
        "www.ninds.nih.gov",
    } <= cfg.allowed_hosts()
    assert len(cfg.pubmed["queries"]) == 3 and all(
        cfg.entries[s] for s in ("educational", "narratives", "supplementary")
    )
    assert all(e.ethics for e in cfg.entries["narratives"])
    assert cfg.licence_ok("pubmed", "CC-BY-4.0") and cfg.licence_ok("pubmed", "CC-BY-NC-4.0")
    assert cfg.licence_ok("pubmed", "CC0-1.0") and cfg.licence_ok("pubmed", "public-domain")
    for bad in ("CC-BY-NC-ND-4.0", "CC-BY-SA-4.0", "CC-BY-ND-4.0", "", "unknown"):
        assert not cfg.licence_ok("pubmed", bad)


def write(tmp_path, mutate) -> Path:
    raw = yaml.safe_load((FIX / "sources_test.yaml").read_text())
    mutate(raw)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _del(d, *keys):
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: _del(r, "settings", "user_agent"), "settings.user_agent: missing"),
        (lambda r: r["settings"].update(max_tries="five"), "settings.max_tries: expected int"),
        (lambda r: r["settings"].update(rate_per_host=0), "settings.rate_per_host: must be > 0"),
        (lambda r: r["settings"]["caps"].update(pubmed=-1), "settings.caps.pubmed"),
        (lambda r: r["settings"]["caps"].update(forum=5), "settings.caps.forum"),
        (lambda r: _del(r, "pubmed", "queries"), "pubmed.queries: missing"),
        (lambda r: _del(r, "clinicaltrials"), "<root>.clinicaltrials: missing"),
        (lambda r: _del(r["narratives"][0], "ethics"), "narratives[0].ethics: missing"),
        (lambda r: _del(r["educational"][1], "license"), "educational[1].license: missing"),
        (
            lambda r: r["educational"][0].update(url="http://health.example.gov/als"),
            "educational[0].url: expected an https:// URL",
        ),
        (
            lambda r: r["educational"][0].update(license="all-rights-reserved"),
            "educational[0].license: 'all-rights-reserved' is not in",
        ),
        (lambda r: r["supplementary"][0].update(api="scrape-everything"), "supplementary[0].api"),
        (lambda r: r["supplementary"][0].update(crawl=True), "supplementary[0]: unknown field(s) ['crawl']"),
        (
            lambda r: r["educational"].append(dict(r["educational"][0])),
            "educational[2].url: duplicate of educational[0]",
        ),
        (lambda r: r.update(narratives={"url": "x"}), "narratives: expected a list"),
    ],
)
def test_malformed_entries_name_file_and_field(tmp_path, mutate, message):
    path = write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_sources_config(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("settings: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_sources_config(bad)
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_sources_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_sources_config(tmp_path / "list.yaml")


def test_ncbi_params_from_environment(monkeypatch):
    cfg = load_sources_config(FIX / "sources_test.yaml")
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.setenv("NCBI_EMAIL", "someone@example.org")
    assert cfg.ncbi_params() == {"tool": "alslm-tests", "email": "someone@example.org"}
    assert cfg.ncbi_rate() == 3.0
