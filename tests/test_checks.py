"""Tests for fl_course.checks: argument checks and settings recorded once (Configurable)."""

import math

import numpy as np
import pytest

from fl_course.checks import (
    Configurable,
    check_choice,
    check_int,
    check_number,
    check_percent,
    check_probability,
    check_seed,
)


@pytest.mark.parametrize(
    "value, minimum, expected", [(3, 1, 3), (np.int64(4), 1, 4), (0, 0, 0), (5, 5, 5)]
)
def test_check_int_accepts_whole_numbers(value, minimum, expected):
    result = check_int("rounds", value, minimum=minimum)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    "value, minimum, message",
    [
        (0, 1, "rounds must be a positive integer, got 0; pass e.g. rounds=10."),
        (-1, 0, "rounds must be a non-negative integer"),
        (2, 3, "rounds must be an integer of at least 3"),
        (True, 1, "got True"),
        (2.0, 1, "got 2.0"),
        ("3", 1, "got '3'"),
    ],
)
def test_check_int_refuses_with_a_fix(value, minimum, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_int("rounds", value, minimum=minimum)


def test_check_seed():
    assert check_seed(0) == 0
    with pytest.raises(ValueError, match="seed must be a non-negative integer.*seed=0"):
        check_seed(-3)


@pytest.mark.parametrize(
    "kwargs, value",
    [({}, -2.5), ({"positive": True}, 0.1), ({"non_negative": True}, 0), ({"low": 0}, 0)],
)
def test_check_number_accepts(kwargs, value):
    assert check_number("lr", value, **kwargs) == float(value)


@pytest.mark.parametrize(
    "kwargs, value, message",
    [
        ({"positive": True, "example": 0.1}, 0, "lr must be positive, got 0; pass e.g. lr=0.1."),
        ({"non_negative": True}, -1, "lr must be non-negative"),
        ({"low": 0, "high": 1}, 2, r"lr must lie in \[0, 1\]"),
        ({}, math.inf, "lr must be a finite number"),
        ({}, math.nan, "lr must be a finite number"),
        ({}, True, "lr must be a finite number"),
        ({}, "0.1", "lr must be a finite number"),
    ],
)
def test_check_number_refuses(kwargs, value, message):
    with pytest.raises(ValueError, match=message):
        check_number("lr", value, **kwargs)


def test_check_percent_and_probability():
    assert check_percent("rate", 100) == 100.0
    with pytest.raises(ValueError, match="percentage below 100"):
        check_percent("rate", 100, below_100=True)
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 100\]"):
        check_percent("rate", -1)
    assert check_probability("q", 1) == 1.0
    for value, below_one in [(0, False), (1, True), (1.5, False)]:
        with pytest.raises(ValueError, match=r"q must lie in \(0, 1"):
            check_probability("q", value, below_one=below_one)


def test_check_choice():
    assert check_choice("kind", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"kind must be one of \('a', 'b'\), got 'c'"):
        check_choice("kind", "c", ("a", "b"))


class _Base(Configurable):
    def __init__(self, *, seed=0, **validated):
        self.save_settings(seed=check_seed(seed), **validated)


class _Child(_Base):
    _unprinted_settings = ("data",)

    def __init__(self, width=16, data=None, *, seed=0):
        super().__init__(seed=seed, width=check_int("width", width))


class _Rebinding(_Base):
    def __init__(self, hidden=(4, 2), *, seed=0):
        hidden = tuple(hidden)
        super().__init__(seed=seed)


def test_save_settings_records_the_most_derived_constructor_once():
    child = _Child(np.int64(8), data=[1, 2, 3], seed=2)
    assert child.settings() == {"width": 8, "data": [1, 2, 3], "seed": 2}
    assert type(child.width) is int  # the validated value, not the caller's
    assert repr(child) == "_Child(width=8, seed=2)"  # data recorded but not printed
    assert repr(_Rebinding([3])) == "_Rebinding(hidden=(3,), seed=0)"
    assert repr(_Base(seed=1)) == "_Base(seed=1)"


def test_settings_follow_later_changes():
    child = _Child()
    child.width = 32
    assert child.settings()["width"] == 32
