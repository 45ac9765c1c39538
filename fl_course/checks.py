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
ValueError: rounds must be a positive integer, got 0; pass e.g. rounds=10.
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
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer of at least {minimum}"
        )
        raise ValueError(
            f"{name} must be {kind}, got {value!r}; pass e.g. {name}={max(example, minimum)}."
        )
    return int(value)


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a non-negative integer (every random thing takes one).

    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be a non-negative integer, got -1; pass e.g. seed=0.
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
    example: float | str | None = None,
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


def check_probability(
    name: str, value: float, *, below_one: bool = False, example: float | str = 0.5
) -> float:
    """Return ``value`` if it lies in (0, 1] (or (0, 1) with ``below_one``).

    >>> check_probability("delta", 1.0, below_one=True, example=1e-5)
    Traceback (most recent call last):
    ...
    ValueError: delta must lie in (0, 1), got 1.0; pass e.g. delta=1e-05.
    """
    value = check_number(name, value, example=example)
    if not 0 < value <= 1 or (below_one and value == 1):
        bound = "(0, 1)" if below_one else "(0, 1]"
        raise ValueError(f"{name} must lie in {bound}, got {value!r}; pass e.g. {name}={example}.")
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
    The arguments are read from the most-derived constructor on the call stack,
    so a base class may call ``save_settings()`` for its subclasses: a subclass
    constructor only validates its own arguments (rebinding a validated value,
    ``width = check_int("width", width)``, is what gets recorded) and calls
    ``super().__init__``; arguments a subclass passes on in ``**kwargs`` are read from
    the base constructor that names them. Arguments named in ``ignore`` or starting with ``_``
    are not recorded; settings named in the class attribute
    ``_unprinted_settings`` (data sets, say) are recorded but left out of ``repr``.

    Examples
    --------
    >>> class Base(Configurable):
    ...     def __init__(self, *, seed=0):
    ...         self.save_settings(seed=check_seed(seed))
    >>> class Child(Base):
    ...     def __init__(self, width=16, *, seed=0):
    ...         width = check_int("width", width)
    ...         super().__init__(seed=seed)
    >>> Child(8, seed=1)
    Child(width=8, seed=1)
    >>> Child(8).settings()
    {'width': 8, 'seed': 0}
    """

    _unprinted_settings: tuple[str, ...] = ()

    def save_settings(self, *, ignore: tuple[str, ...] = (), **validated) -> None:
        """Set every constructor argument (or its validated value) as an attribute."""
        frames = [inspect.currentframe().f_back]
        # climb to the outermost __init__ of this object: the most-derived constructor
        while (
            frames[-1].f_back is not None
            and frames[-1].f_back.f_code.co_name == "__init__"
            and frames[-1].f_back.f_locals.get("self") is self
        ):
            frames.append(frames[-1].f_back)
        settings = {}
        # the most-derived constructor's arguments first, then those it passed on in **kwargs
        for frame in reversed(frames):
            names, _, _, arguments = inspect.getargvalues(frame)
            for name in names:
                if name == "self" or name in ignore or name.startswith("_") or name in settings:
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
        fields = ", ".join(
            f"{k}={v!r}" for k, v in self.settings().items() if k not in self._unprinted_settings
        )
        return f"{type(self).__name__}({fields})"
