"""Reading the documentation: which Markdown files, their fenced blocks, links and inline code."""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.md")
GUIDE_DIR = os.path.join(ROOT, "docs", "guide")

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[(?:[^\]\n]|\n(?!\n))*\]\(([^)\s]+)\)")
SHELL_LANGUAGES = ("", "bash", "sh", "shell", "console")


def doc_files():
    """README.md and every Markdown file under docs/ (the guide, benchmarks, results)."""
    return [README] + sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))


def guide_files():
    return sorted(glob.glob(os.path.join(GUIDE_DIR, "*.md")))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def relative(path):
    return os.path.relpath(path, ROOT)


def fenced_blocks(text):
    """`(language, body, line number of the opening fence)` of every fenced code block."""
    return [(m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def prose(text):
    """`text` with fenced code blocks blanked out (line numbers kept)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def links(text):
    """`(target, line number)` of every Markdown link outside code."""
    body = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), prose(text))
    return [(m.group(1), body.count("\n", 0, m.start()) + 1) for m in LINK.finditer(body)]


def inline_code(text):
    """`(content, line number)` of every inline code span outside fenced blocks."""
    body = prose(text)
    return [(" ".join(m.group(1).split()), body.count("\n", 0, m.start()) + 1) for m in INLINE_CODE.finditer(body)]
