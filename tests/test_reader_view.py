"""The notebooks as a reader sees them: what hidden cells may do, and what the page teaches.

A cell hidden from the page (``remove-cell``, ``remove-input``, ``hide-*``)
may glue numbers and check claims, but a reader typing along never runs it:
a name it defines and a visible cell uses would be a ``NameError`` for them.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HIDING_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
#: The chapters whose visible cells hold the Keras workflow (issue 16).
KERAS_CHAPTERS = ["mlp_baseline", "cnn", "deeper_cnn"]
PLUMBING = ("batches_per_call", "fit_model", "refit_on_all", "steps_per_execution")


def is_hidden(cell: nbformat.NotebookNode) -> bool:
    return bool(HIDING_TAGS & set(cell.get("metadata", {}).get("tags", [])))


def parse(source: str) -> ast.Module:
    """The cell as Python, IPython's ``%magic`` and ``!shell`` lines read as ``pass``."""
    lines = [
        line[: len(line) - len(line.lstrip())] + "pass"
        if line.lstrip().startswith(("%", "!"))
        else line
        for line in source.splitlines()
    ]
    return ast.parse("\n".join(lines))


def defined_names(tree: ast.Module) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, functions, loops, ...)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def used_names(tree: ast.Module) -> set[str]:
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def names_only_hidden_cells_define(notebook: nbformat.NotebookNode) -> dict[int, set[str]]:
    """For each visible cell, the names it uses that only a hidden cell before it defined."""
    visible_defined: set[str] = set(dir(builtins))
    hidden_defined: set[str] = set()
    found: dict[int, set[str]] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        tree = parse(cell.source)
        if is_hidden(cell):
            hidden_defined |= defined_names(tree)
            continue
        own = defined_names(tree)
        missing = (used_names(tree) & hidden_defined) - visible_defined - own
        if missing:
            found[index] = missing
        visible_defined |= own
    return found


def visible_code(name: str) -> str:
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return "\n".join(
        cell.source for cell in notebook.cells if cell.cell_type == "code" and not is_hidden(cell)
    )


def test_the_check_finds_a_name_only_a_hidden_cell_defines() -> None:
    notebook = nbformat.v4.new_notebook()
    hidden = nbformat.v4.new_code_cell("import numpy as np\nbest = 3")
    hidden.metadata["tags"] = ["remove-cell"]
    notebook.cells = [
        hidden,
        nbformat.v4.new_code_cell("x = [1, 2]\nprint(best, len(x))"),
        nbformat.v4.new_code_cell("best = 4\nprint(best, np.pi)"),
    ]
    assert names_only_hidden_cells_define(notebook) == {1: {"best"}, 2: {"np"}}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_visible_cell_uses_a_name_only_a_hidden_cell_defines(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    found = names_only_hidden_cells_define(notebook)
    assert not found, f"visible cells use names only hidden cells define: {found}"


@pytest.mark.parametrize("name", KERAS_CHAPTERS)
def test_the_keras_workflow_is_on_the_page(name: str) -> None:
    code = visible_code(name)
    assert re.search(r"\.compile\(\s*optimizer=", code), "model.compile(optimizer=...)"
    training_call = re.search(r"(cached_fit|\.fit)\((.*?)\n\)", code, re.DOTALL)
    assert training_call, "the training call"
    for argument in ("epochs=", "batch_size=", "callbacks="):
        assert argument in training_call.group(2), argument
    assert ".evaluate(" in code
    for plumbing in PLUMBING:
        assert plumbing not in code, f"{plumbing} is plumbing, not the lesson"


def test_the_callbacks_are_written_out() -> None:
    for name in KERAS_CHAPTERS:
        code = visible_code(name)
        assert "ReduceLROnPlateau(" in code and "restore_best_weights=True" in code


def test_a_model_is_saved_and_loaded_on_the_page() -> None:
    code = "\n".join(visible_code(name) for name in KERAS_CHAPTERS)
    assert ".save(" in code and "keras.models.load_model(" in code


#: A chapter reads in one sitting: at most this many cells on the page.
MAX_VISIBLE_CELLS = 35


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_chapter_reads_in_one_sitting(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    visible = [cell for cell in notebook.cells if not is_hidden(cell)]
    assert len(visible) <= MAX_VISIBLE_CELLS, f"{path.name}: {len(visible)} cells on the page"


def imported_modules(tree: ast.Module) -> set[str]:
    """The top-level packages a cell imports."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_how_a_network_learns_teaches_in_numpy_alone() -> None:
    """Its teaching cells use no Keras or TensorFlow; one cell compares with TensorFlow."""
    notebook = nbformat.read(ROOT / "notebooks" / "how_a_network_learns.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code" and not is_hidden(c)]
    with_tensorflow = [
        c.source for c in code if imported_modules(parse(c.source)) & {"keras", "tensorflow"}
    ]
    assert len(with_tensorflow) == 1 and "tf.GradientTape" in with_tensorflow[0]
    assert all("keras" not in c.source for c in code)
