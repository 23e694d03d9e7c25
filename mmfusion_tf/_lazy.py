"""Packages whose public names load on first use (PEP 562), so that `mmfusion --help` needs no TensorFlow.

Example:

>>> __getattr__, __dir__ = lazy_names(__name__, {"DevServer": "devserver", "PredictionClient": "client"})
"""

import importlib
import sys


def lazy_names(package, names):
    """`__getattr__` and `__dir__` for `package`, importing `package.<module>` when a name is first used.

    Args:
        package: str, the package's `__name__`.
        names: dict of public name -> module name relative to `package`
            (`None`: the name is itself a submodule).
    """
    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name]
        if module is None:
            return importlib.import_module(f"{package}.{name}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__
