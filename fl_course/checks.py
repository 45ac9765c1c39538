"""Argument checks shared by every module, and settings recorded once per class.

Every public constructor in ``fl_course`` validates its arguments with these
functions, so a bad value always produces the same kind of message: what was
expected, what arrived, and an example of a good value.

:class:`Configurable` is the declarative half (the idea of d2l's
``save_hyperparameters``): a constructor calls ``self.save_settings()`` once,
every argument becomes an attribute, and ``repr`` prints them, so each setting is
written once instead of three times (argument, attribute, ``__repr__``).

>>> check_int("rounds", 3)
3
>>> check_int("rounds", 0)
Traceback (most recent call last):
...
ValueError: rounds must be an integer of at least 1, got 0; pass e.g. rounds=10.
>>> check_number("lr", 0.1, positive=True)
0.1
>>> class Sampler(Configurable):
...     def __init__(self, rate=0.5, *, seed=0):
...         self.save_settings()
>>> Sampler(0.25, seed=3)
Sampler(rate=0.25, seed=3)
"""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real

__all__ = [
    "Configurable",
    "check_choice",
    "check_int",
    "check_number",
    "check_percent",
    "check_probability",
    "check_seed",
]


def check_int(name: str, value: int, *, minimum: int = 1, example: int = 10) -> int:
    """Return ``value`` as an ``int`` if it is a whole number ``>= minimum``.

    ``bool`` is rejected although it is an ``int`` subclass: ``rounds=True`` is a mistake.
    NumPy integers are accepted.

    Raises
    ------
    ValueError
        If ``value`` is not a whole number or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(
            f"{name} must be an integer of at least {minimum}, got {value!r}; "
            f"pass e.g. {name}={max(example, minimum)}."
        )
    return int(value)


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a non-negative integer (every random thing takes one).

    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer of at least 0, got -1; pass e.g. seed=0.
    """
    return check_int("seed", seed, minimum=0, example=0)


def check_number(
    name: str,
    value: float,
    *,
    positive: bool = False,
    non_negative: bool = False,
    low: float | None = None,
    high: float | None = None,
    example: float | None = None,
) -> float:
    """Return ``value`` as a ``float`` if it is finite and within the stated bounds.

    Parameters
    ----------
    positive, non_negative : bool
        Require ``value > 0`` or ``value >= 0``.
    low, high : float, optional
        Inclusive bounds.
    example : float, optional
        A good value to suggest in the error message.

    Raises
    ------
    ValueError
        If ``value`` is not a finite real number or violates a bound.
    """
    hint = "" if example is None else f"; pass e.g. {name}={example}"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}{hint}.")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}{hint}.")
    if non_negative and value < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}{hint}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}{hint}.")
    return float(value)


def check_percent(name: str, value: float, *, below_100: bool = False) -> float:
    """Return ``value`` if it is a percentage in [0, 100] (or [0, 100) with ``below_100``)."""
    value = check_number(name, value, low=0, high=100, example=50)
    if below_100 and value == 100:
        raise ValueError(f"{name} is a percentage below 100, got {value!r}; pass e.g. {name}=90.")
    return value


def check_probability(name: str, value: float, *, below_one: bool = False) -> float:
    """Return ``value`` if it lies in (0, 1] (or (0, 1) with ``below_one``)."""
    value = check_number(name, value, low=0, high=1, example=0.5)
    if value == 0 or (below_one and value == 1):
        bound = "(0, 1)" if below_one else "(0, 1]"
        raise ValueError(f"{name} must lie in {bound}, got {value!r}; pass e.g. {name}=0.5.")
    return value


def check_choice(name: str, value: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``.

    >>> check_choice("reduction", "sum", ("mean", "none"))
    Traceback (most recent call last):
    ...
    ValueError: reduction must be one of ('mean', 'none'), got 'sum'.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
    return value


class Configurable:
    """Mixin: record a constructor's arguments once, as attributes and in ``repr``.

    Call ``self.save_settings()`` in ``__init__`` after validating the arguments
    (pass the validated values as keywords to override what the caller gave).
    Arguments named in ``ignore`` or starting with ``_`` are not recorded.
    """

    def save_settings(self, *, ignore: tuple[str, ...] = (), **validated) -> None:
        frame = inspect.currentframe().f_back
        arguments = inspect.getargvalues(frame).locals
        # the signature of the __init__ that called (a base class's, under super().__init__)
        init = next(
            (
                c.__init__
                for c in type(self).__mro__
                if getattr(c.__init__, "__code__", None) is frame.f_code
            ),
            type(self).__init__,
        )
        names = [n for n in inspect.signature(init).parameters if n != "self"]
        settings = {}
        for name in names:
            if name in ignore or name.startswith("_") or name not in arguments:
                continue
            settings[name] = validated.pop(name, arguments[name])
        settings.update(validated)
        for name, value in settings.items():
            setattr(self, name, value)
        self._setting_names = tuple(settings)

    def settings(self) -> dict[str, object]:
        """The recorded settings, by name, in the constructor's order (current values)."""
        return {name: getattr(self, name) for name in getattr(self, "_setting_names", ())}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({fields})"
