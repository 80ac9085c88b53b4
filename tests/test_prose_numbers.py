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


def text_outside_code(markdown: str) -> str:
    """``markdown`` without glue roles, code, maths and link targets."""
    for pattern in NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return markdown


NUMBER = r"\d+(?:[.,]\d+)?"
PERCENTAGE = re.compile(
    rf"{NUMBER}(?:\s*[-\u2013]\s*{NUMBER})?\s*(?:%|per\s*cent|percent)", re.IGNORECASE
)


def hand_typed_percentages(markdown: str) -> list[str]:
    """The percentages in ``markdown`` outside glue roles, code, maths and links."""
    prose = text_outside_code(markdown)
    return [" ".join(match.group().split()) for match in PERCENTAGE.finditer(prose)]


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


# Counts of things a chapter measures or sets: epochs, weights, images, minutes...
# A number with one of these units is glued too, unless it is a fact of MNIST or of
# the book's fixed protocol, listed in ALLOWED_FACTS with the reason it may be typed.
UNITS = (
    "epochs?|weights?|parameters?|images?|digits?|seconds?|minutes?|hours?|layers?|"
    "filters?|neurons?|units?|pixels?|pictures?|photos?|examples?|channels?|networks?|"
    "mistakes?|seeds?|members?"
)
# Number words are scanned before the units that describe settings and results;
# "one" and "ten" are left out ("one epoch" defines a word, "ten digits" are MNIST's).
WORD_UNITS = "epochs?|weights?|parameters?|seconds?|minutes?|hours?|layers?|filters?|neurons?"
NUMBER_WORDS = "two|three|four|five|six|seven|eight|nine|eleven|twelve|fifteen|twenty|thirty"
# Words that may stand between a number and its unit ("60,000 training images").
BETWEEN = r"(?:[\s-]+(?!(?:from|of|per|in|at|to|for|if|than|and|or|by|a|an|the)\b)[A-Za-z-]+){0,2}"
NUMERAL = r"(?<![\w.,-])\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\w.,-])\d+(?:\.\d+)?(?![\d.])"
FACT = re.compile(
    rf"(?:(?:{NUMERAL}){BETWEEN}[\s-]+(?:{UNITS})"
    rf"|\b(?:{NUMBER_WORDS}){BETWEEN}[\s-]+(?:{WORD_UNITS}))\b",
    re.IGNORECASE,
)
ALLOWED_FACTS = {
    "70,000": "MNIST's size, checked by the loader against the canonical files",
    "60,000": "MNIST's training set, checked by the loader against the canonical files",
    "10,000": "MNIST's test set, checked by the loader against the canonical files",
    "54,000": "the training images left beside the validation split (test below)",
    "6,000": "the validation split, a tenth of the training set (test below)",
    "784": "the pixels of a 28x28 image",
    "20 pixels": "the box MNIST centres each digit in (LeCun et al.), images.DIGIT_BOX",
}


def hand_typed_facts(markdown: str) -> list[str]:
    """Counts with a unit (epochs, weights, images...) outside glue, code and maths."""
    prose = text_outside_code(markdown)
    found = [" ".join(match.group().split()) for match in FACT.finditer(prose)]
    return [fact for fact in found if not is_allowed(fact)]


def is_allowed(fact: str) -> bool:
    """Whether ``fact`` starts with an allowed number or is an allowed phrase."""
    number = fact.split()[0]
    return number in ALLOWED_FACTS or fact in ALLOWED_FACTS


def test_the_scan_finds_typed_counts_and_ignores_glued_and_allowed_ones() -> None:
    text = (
        "The CNN trains for 20 epochs, {glue:text}`epochs` epochs in all, on the "
        "60,000 training images; three more epochs, 832 weights, 1.5 minutes, "
        "`epochs = 20`, one epoch at a time, ten digits, 30 real handwritten digits, "
        "reads 99 validation digits in 100 from epoch 3, 12 seconds."
    )
    assert hand_typed_facts(text) == [
        "20 epochs",
        "three more epochs",
        "832 weights",
        "1.5 minutes",
        "30 real handwritten digits",
        "99 validation digits",
        "12 seconds",
    ]


def test_the_allowed_facts_are_true() -> None:
    from mnistlib.configs import TrainConfig
    from mnistlib.images import DIGIT_BOX

    fraction = TrainConfig.__dataclass_fields__["validation_fraction"].default
    assert round(60_000 * fraction) == 6_000
    assert 60_000 - round(60_000 * fraction) == 54_000
    assert 28 * 28 == 784
    assert DIGIT_BOX == 20


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=lambda path: path.name)
def test_no_hand_typed_counts(path: Path) -> None:
    found = [
        f"{where}: {fact}" for where, text in markdown_of(path) for fact in hand_typed_facts(text)
    ]
    assert not found, "counts typed by hand instead of glued:\n" + "\n".join(found)


CHAPTER_NUMBER = re.compile(r"\bchapters?\s+\d+", re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=lambda path: path.name)
def test_chapters_are_referred_to_by_label(path: Path) -> None:
    """ "Chapter 5" typed in prose goes wrong when chapters move; {numref} does not."""
    found = [
        f"{where}: {match.group()}"
        for where, text in markdown_of(path)
        for match in CHAPTER_NUMBER.finditer(text_outside_code(text))
    ]
    assert not found, "chapter numbers typed by hand, use {numref}:\n" + "\n".join(found)
