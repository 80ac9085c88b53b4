"""Every chapter runs wherever a reader opens it: the install cell, no checkout paths.

The standalone run (``scripts/standalone_check.py``, in CI) executes each
notebook alone in an empty folder. These tests check the notebooks' text:
each one's first code cell installs the library from the repository that
``_config.yml`` names, no code cell reaches into the checkout with ``../``,
and no stored output shows this machine's folders.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [path.stem for path in NOTEBOOKS]


def load_install_cell_script():
    """``scripts/install_cell.py`` as a module."""
    spec = importlib.util.spec_from_file_location("install_cell", ROOT / "scripts/install_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


install_cell = load_install_cell_script()


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_first_code_cell_installs_the_library_from_the_configured_repository(path):
    expected = install_cell.install_cell_source(install_cell.read_config(ROOT))
    first = code_cells(path)[0]
    assert first.source == expected, f"{path.name}: run `python scripts/install_cell.py`"
    assert first.metadata.get("tags") == install_cell.TAGS


def test_the_install_requirement_follows_the_config():
    config = {"repository": {"url": "https://example.org/fork/book", "branch": "dev"}}
    assert install_cell.install_requirement(config) == (
        "mnist-book[notebooks] @ git+https://example.org/fork/book@dev"
    )
    assert '"mnist-book[notebooks] @ git+https://example.org/fork/book@dev"' in (
        install_cell.install_cell_source(config)
    )


def test_the_package_names_the_configured_repository_and_its_own_name():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    repository = install_cell.read_config(ROOT)["repository"]["url"]
    assert project["urls"]["Homepage"] == repository
    assert project["name"] == "mnist-book"  # "mnistlib" on PyPI is another project
    assert "notebooks" in project["optional-dependencies"]


def test_the_readme_and_intro_install_the_same_requirement():
    requirement = install_cell.install_requirement(install_cell.read_config(ROOT))
    for page in ("README.md", "book/intro.md"):
        text = (ROOT / page).read_text()
        assert requirement in text, f'{page} should show `pip install "{requirement}"`'
        fenced = "".join(re.findall(r"```.*?```", text, flags=re.DOTALL))
        assert "install mnistlib" not in fenced, f"{page}: mnistlib on PyPI is another project"


CHECKOUT_PATH = re.compile(r"""["'(]\.\./|Path\(["']\.\.""")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_code_cell_reads_or_writes_through_the_checkout(path):
    """What a chapter reads ships with the library; what it writes goes to the outputs folder."""
    offending = [cell.source for cell in code_cells(path) if CHECKOUT_PATH.search(cell.source)]
    assert not offending, f"{path.name}: {offending}"


def machine_folders() -> set[str]:
    """Folders of this machine that must not appear in a stored output."""
    folders = {str(ROOT), str(Path.home()), sys.prefix, os.path.realpath(sys.prefix)}
    if os.environ.get("MNIST_DATA"):
        folders.add(str(Path(os.environ["MNIST_DATA"]).resolve()))
    return {folder for folder in folders if len(folder) > 1}


ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:work|root|home|tmp|usr|opt|var|mnt|srv)/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_stored_output_shows_a_machine_path(path):
    text = "\n".join(str(output) for cell in code_cells(path) for output in cell.get("outputs", []))
    found = [folder for folder in machine_folders() if folder in text]
    found += ABSOLUTE_PATH.findall(text)
    assert not found, f"{path.name}: {found}"
