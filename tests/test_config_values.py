"""The one KEY=VALUE parser behind `alslm train --set` and `alslm eval --option`."""

import math

import pytest

from alslm_ml.config_values import parse_assignment, parse_value
from alslm_ml.errors import UserError


@pytest.mark.parametrize("text, value", [
    ("8", 8), ("0.5", 0.5), ("1e3", 1000.0), ("true", True), ("False", False), ("TRUE", True), ("null", None),
    ("[1, 2]", [1, 2]), ('"x"', "x"), ("1_000", 1000), ("extractive", "extractive"), ("q8_0", "q8_0"),
])
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_parse_value_inf_reads_as_float():
    assert math.isinf(parse_value("inf"))


def test_parse_assignment_strips_and_names_the_flag():
    assert parse_assignment(" k = 8 ", "--option", "k=8") == ("k", 8)
    assert parse_assignment("model=a=b", "--set", "x") == ("model", "a=b")
    for bad in ("k3", "=4"):
        with pytest.raises(UserError, match=f"--option '{bad}': expected KEY=VALUE, e.g. k=8"):
            parse_assignment(bad, "--option", "k=8")
