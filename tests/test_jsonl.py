"""alslm_ml.jsonl: the one JSON Lines reader (Q&A files, splits, reviews, eval cache, scrape index)."""

import pytest

from alslm_ml import jsonl


def test_records_name_their_line_and_stop_on_a_bad_one(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n[1, 2]\n{"a": 3}\n', encoding="utf-8")
    it = jsonl.records(path)
    assert next(it) == (f"{path}:1", {"a": 1})
    assert next(it) == (f"{path}:3", {"a": 2})  # blank lines are passed over, numbering kept
    with pytest.raises(ValueError, match=rf"{path.name}:4: expected a JSON object, got list"):
        next(it)
    path.write_text('{"a": 1}\n{"a": 2', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path.name}:2: not valid JSON"):
        list(jsonl.records(path))


def test_a_file_cut_by_a_kill_is_read_up_to_the_cut(tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b'{"q": "x"}\n{"q": "\xc3\n{"q": "y", "tail": "cut o')
    skipped = []
    got = [rec for _, rec in jsonl.records(path, skip_bad=True, on_skip=skipped.append)]
    assert got == [{"q": "x"}]
    assert skipped == [f"{path}:2", f"{path}:3"]
