"""Write the install cell into every notebook, from the repository named in ``_config.yml``.

Each chapter's first code cell installs the book's library, and what the
chapter imports, where the library is missing: in Colab, or a notebook
downloaded on its own. In the book's environment it does nothing. The
repository's address lives in ``_config.yml`` alone (``repository.url`` and
``branch``); a fork changes it there and runs::

    python scripts/install_cell.py

``tests/test_run_anywhere.py`` fails when a notebook's cell and ``_config.yml``
disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
MARKER = 'find_spec("mnistlib")'  # how the install cell is recognised
TAGS = ["remove-cell"]  # the rendered book does not show it; Jupyter and Colab do


def install_requirement(config: dict) -> str:
    """The pip requirement of the book's library at the repository and branch of ``config``."""
    repository = config["repository"]
    return f"mnist-book[notebooks] @ git+{repository['url']}@{repository['branch']}"


def install_cell_source(config: dict) -> str:
    """The source of the install cell for the book configured by ``config``."""
    return (
        "# Where the book's library is missing (Colab, a notebook downloaded on its own),\n"
        "# install it and what this chapter imports. In the book's environment: nothing.\n"
        "import importlib.util\n"
        "\n"
        f"if importlib.util.{MARKER} is None:\n"
        f'    %pip install --quiet "{install_requirement(config)}"'
    )


def read_config(root: Path = ROOT) -> dict:
    """The book's ``_config.yml``."""
    return yaml.safe_load((root / "_config.yml").read_text())


def first_code_cell(notebook: nbformat.NotebookNode) -> int:
    """The index of the first code cell of ``notebook``."""
    return next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")


def write_install_cell(path: Path, source: str) -> bool:
    """Make the first code cell of the notebook at ``path`` the install cell; True if it changed."""
    notebook = nbformat.read(path, as_version=4)
    index = first_code_cell(notebook)
    cell = notebook.cells[index]
    if MARKER in cell.source:
        if cell.source == source and cell.metadata.get("tags") == TAGS:
            return False
        cell.source = source
    else:
        cell = nbformat.v4.new_code_cell(source)
        notebook.cells.insert(index, cell)
    cell.metadata["tags"] = TAGS
    cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, path)
    return True


def main() -> int:
    source = install_cell_source(read_config())
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if write_install_cell(path, source):
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
