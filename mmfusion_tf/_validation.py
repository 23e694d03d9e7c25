"""Small argument checks shared by the data and dataset modules.

Example:

>>> is_int(3), is_int(True), is_real(float("nan"))
(True, False, False)
"""

import numbers

import numpy as np


def is_int(value):
    """A whole number that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A finite real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))
