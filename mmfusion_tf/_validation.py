"""Small argument checks shared by the package's modules.

Errors name the argument and echo the value received.

Example:

>>> is_int(3), is_int(True), is_real(float("nan"))
(True, False, False)
>>> check_int("rank", 4, minimum=1)
4
>>> check_seed(-1)
Traceback (most recent call last):
...
ValueError: `seed` must be a non-negative integer. Received: seed=-1
"""

import numbers

import numpy as np


def is_int(value):
    """A whole number that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A finite real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))


def _int_phrase(minimum, noun):
    if minimum is None:
        return f"an {noun}"
    if minimum == 0:
        return f"a non-negative {noun}"
    if minimum == 1:
        return f"a positive {noun}"
    return f"an {noun} >= {minimum}"


def check_int(name, value, minimum=None, allow_none=False, noun="integer"):
    """Returns `int(value)`; raises `ValueError` unless `value` is an int >= `minimum`.

    Bools and non-integral numbers (2.7, 2.0) are rejected.

    Args:
        name: str, the argument's name, for the message.
        value: the value to check.
        minimum: optional int, the smallest allowed value.
        allow_none: bool, accept (and return) None.
        noun: str, how the message calls an integer ("integer" or "int").
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or (minimum is not None and value < minimum):
        expected = _int_phrase(minimum, noun) + (" or None" if allow_none else "")
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return int(value)


def check_seed(seed, name="seed"):
    """Returns `seed` as an int; raises `ValueError` unless it is an integer >= 0."""
    return check_int(name, seed, minimum=0)
