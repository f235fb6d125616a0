"""Starter corpus loader: front matter parsed and validated, errors name the file and field,
duplicate ids name both files."""

from pathlib import Path

import pytest

from alslm_ml.sources.starter import DEFAULT_DIR, StarterError, load_starter

GOOD = """---
id: {id}
title: {title}
category: {category}
license: CC-BY-4.0
author: ALS-LM contributors
references:
  - "Example reference one"
  - "Example reference two"
---

# {title}

A short paragraph written for the loader tests.
"""


def put(root: Path, category: str, slug: str, text: str | None = None, **fields) -> Path:
    path = root / category / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {"id": slug, "title": slug.replace("-", " ").title(), "category": category, **fields}
    path.write_text(text if text is not None else GOOD.format(**values))
    return path


def test_loads_documents(tmp_path):
    put(tmp_path, "genetics", "sod1-overview")
    put(tmp_path, "diagnosis", "el-escorial")
    docs = load_starter(tmp_path, today="2026-11-22")
    assert [d.id for d in docs] == ["starter:el-escorial", "starter:sod1-overview"]
    d = docs[1]
    assert d.source == "starter" and d.url == "alslm://starter/genetics/sod1-overview"
    assert d.license == "CC-BY-4.0" and d.title == "Sod1 Overview" and d.date_accessed == "2026-11-22"
    assert d.metadata == {
        "category": "genetics",
        "references": ["Example reference one", "Example reference two"],
        "author": "ALS-LM contributors",
        "starter_id": "sod1-overview",
    }
    assert d.text.startswith("# Sod1 Overview") and "---" not in d.text


@pytest.mark.parametrize(
    "text, field",
    [
        (GOOD.replace("license: CC-BY-4.0\n", ""), "'license' is missing"),
        (GOOD.replace("author: ALS-LM contributors\n", "author: ''\n"), "'author' is missing or empty"),
        (
            GOOD.replace(
                'references:\n  - "Example reference one"\n  - "Example reference two"\n', "references: one\n"
            ),
            "'references' must be a list",
        ),
        (GOOD.replace('  - "Example reference two"\n', "  - 3\n"), "'references' must be a list of non-empty strings"),
        (
            GOOD.replace("category: {category}", "category: epidemiology"),
            "'category' is 'epidemiology' but the file is in folder 'genetics'",
        ),
        (GOOD.replace("---\nid", "id", 1), "no YAML front matter"),
        (GOOD.replace("\n---\n\n#", "\n\n#"), "not closed"),
        (GOOD.replace("title: {title}", "title: [unclosed"), "not valid YAML"),
        (GOOD.split("\n---\n")[0] + "\n---\n", "no body text"),
    ],
)
def test_invalid_file_names_file_and_field(tmp_path, text, field):
    path = put(tmp_path, "genetics", "bad-doc", text.format(id="bad-doc", title="Bad", category="genetics"))
    with pytest.raises(StarterError) as err:
        load_starter(tmp_path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_duplicate_ids_name_both_files(tmp_path):
    a = put(tmp_path, "genetics", "first", id="same-id")
    b = put(tmp_path, "pathology_mechanisms", "second", id="same-id")
    with pytest.raises(StarterError) as err:
        load_starter(tmp_path)
    assert "duplicate id 'same-id'" in str(err.value) and str(a) in str(err.value) and str(b) in str(err.value)


def test_duplicate_slugs_across_categories(tmp_path):
    put(tmp_path, "genetics", "overview", id="g-overview")
    put(tmp_path, "diagnosis", "overview", id="d-overview")
    with pytest.raises(StarterError, match="duplicate id 'starter:overview'"):
        load_starter(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(StarterError, match="starter docs folder not found"):
        load_starter(tmp_path / "nope")


def test_shipped_starter_corpus_is_valid():
    if not any(DEFAULT_DIR.glob("*/*.md")):
        pytest.skip("no starter documents shipped yet")
    docs = load_starter()
    assert docs and all(d.text and d.license and d.metadata["references"] for d in docs)
    assert len({d.id for d in docs}) == len(docs)
