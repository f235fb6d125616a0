"""JSON Lines, read one way everywhere: the Q&A files, the instruction splits, the reviewers'
files, the eval resume cache and the scrape index. Each record comes with `path:line`, so an
error names the place; a file that a killed run may have cut off is read with `skip_bad=True`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path


def records(path: str | Path, skip_bad: bool = False,
            on_skip: Callable[[str], None] | None = None) -> Iterator[tuple[str, dict]]:
    """(where, record) for each non-blank line of a JSON Lines file, where = "path:line".
    A line that is not a JSON object raises ValueError naming path:line, or with skip_bad is
    passed over (on_skip(where) is told): the last line of a file cut by a kill."""
    with open(path, encoding="utf-8", errors="replace" if skip_bad else "strict") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
            except (json.JSONDecodeError, ValueError) as e:
                if not skip_bad:
                    msg = f"{where}: not valid JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else str(e)
                    raise ValueError(msg) from None
                if on_skip:
                    on_skip(where)
                continue
            yield where, rec
