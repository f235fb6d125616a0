"""KEY=VALUE options from a command line (`alslm train --set`, `alslm eval --option`): one parser,
so both commands read a value the same way."""

from __future__ import annotations

import json

from alslm_ml.errors import UserError


def parse_value(text: str):
    """JSON when it parses (numbers, true/false, null, lists, quoted strings); else a bool written
    True/False, an int or float Python reads (1_000, inf); else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_assignment(item: str, flag: str, example: str) -> tuple[str, object]:
    """"key=value" -> (key, parsed value); UserError naming the flag and an example otherwise."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
    return key.strip(), parse_value(value.strip())
