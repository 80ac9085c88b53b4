"""Every percentage in the book's prose is glued from an executed notebook.

A number typed by hand into the text goes stale the day a model is trained
again; a glued one (``{glue:text}`key:.2f` %``) is always what the code
produced. This test reads the markdown cells of every chapter and every
markdown page of the book, removes glue roles, code and maths, and fails on
any percentage left.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))

NOT_PROSE = [
    re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),  # glue roles: their number comes from the notebook
    re.compile(r"```.*?```", re.DOTALL),  # fenced code and directives' code
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.DOTALL),  # maths
    re.compile(r"\]\([^)]*\)|https?://\S+"),  # link targets
]
NUMBER = r"\d+(?:[.,]\d+)?"
PERCENTAGE = re.compile(
    rf"{NUMBER}(?:\s*[-\u2013]\s*{NUMBER})?\s*(?:%|per\s*cent|percent)", re.IGNORECASE
)


def hand_typed_percentages(markdown: str) -> list[str]:
    """The percentages in ``markdown`` outside glue roles, code, maths and links."""
    for pattern in NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return [" ".join(match.group().split()) for match in PERCENTAGE.finditer(markdown)]


def markdown_of(path: Path) -> list[tuple[str, str]]:
    """``(where, text)`` for each markdown cell of a notebook, or the whole of a page."""
    if path.suffix == ".md":
        return [(path.name, path.read_text())]
    notebook = nbformat.read(path, as_version=4)
    return [
        (f"{path.name} cell {index}", cell.source)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown"
    ]


def test_the_scan_finds_typed_percentages_and_ignores_glued_ones() -> None:
    text = "We reach 99.1 % ({glue:text}`acc:.2f` %), `x = 5%`, $50\\%$, 98.1-98.3 %, 12 per cent."
    assert hand_typed_percentages(text) == ["99.1 %", "98.1-98.3 %", "12 per cent"]


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=lambda path: path.name)
def test_no_hand_typed_percentages(path: Path) -> None:
    found = [
        f"{where}: {number}"
        for where, text in markdown_of(path)
        for number in hand_typed_percentages(text)
    ]
    assert not found, "percentages typed by hand instead of glued:\n" + "\n".join(found)
