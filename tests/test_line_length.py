"""One line length for the whole repository (issue 21): no `.py` line longer than setup.cfg's `[flake8]` limit.

The limit is read from setup.cfg, so the test and flake8 cannot disagree; pyproject's `[tool.ruff]` repeats it
for editors, and a test checks the two match. Wrap a long line the way the code around it is written:
implicit string concatenation inside parentheses for long messages, one argument per line or a hanging
indent for long calls, no backslashes.
"""

import configparser
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("mmfusion_tf", "tests", "bench", "tuning", "serving")
SKIPPED_FOLDERS = {"__pycache__", ".venv"}


def _max_line_length():
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    return config.getint("flake8", "max-line-length")


MAX_LINE_LENGTH = _max_line_length()


def _python_files():
    for folder in FOLDERS:
        for directory, subdirectories, files in os.walk(os.path.join(ROOT, folder)):
            subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_FOLDERS)
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(directory, name)


def _long_lines(path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            length = len(line.rstrip("\r\n"))
            if length > MAX_LINE_LENGTH:
                yield number, length


def test_pyproject_ruff_uses_the_same_limit():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        assert tomllib.load(f)["tool"]["ruff"]["line-length"] == MAX_LINE_LENGTH


def test_no_python_line_is_longer_than_the_limit():
    files = list(_python_files())
    assert any(path.endswith(os.path.join("tests", "test_line_length.py")) for path in files)
    offenders = [
        f"{os.path.relpath(path, ROOT)}:{number} ({length})" for path in files for number, length in _long_lines(path)
    ]
    assert not offenders, (
        f"{len(offenders)} line(s) longer than {MAX_LINE_LENGTH} characters (setup.cfg [flake8] max-line-length):\n"
        + "\n".join(offenders)
    )
