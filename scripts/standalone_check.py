"""Run every chapter as a reader who downloaded it alone would: outside the checkout.

For the committed state of this repository (``HEAD``), this script:

1. builds a wheel of the library from the repository, as pip does for the
   chapters' install cell, and installs it (not editable) with its
   ``notebooks`` extra into a fresh virtual environment in a temporary folder;
2. uninstalls the library again, so that the first notebook's install cell
   must install it (every chapter's install cell is the same text:
   ``tests/test_run_anywhere.py`` checks it, so one run proves them all);
3. for each notebook: copies it alone into an empty folder and executes it
   there top to bottom, with nothing of the checkout at hand (a ``../`` path
   finds nothing);
4. checks that the library is installed after the first notebook (its install
   cell ran, in that environment) and that the checkout gained no file.

The install cell names the repository of ``_config.yml``. Offline, git is told
(``url.<base>.insteadOf``, in a git configuration of its own) to fetch that
address from a bare copy of this repository, so the cell runs unchanged.
Trained models come from a warm cache through ``MNIST_OUTPUTS`` (default: this
checkout's ``outputs``) and MNIST through ``MNIST_DATA``, so nothing trains.

Usage::

    python scripts/standalone_check.py                       # every notebook
    python scripts/standalone_check.py --notebooks cnn evaluation
    python scripts/standalone_check.py --notebooks path/to/other.ipynb
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from install_cell import install_requirement, read_config

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "mnist-book"
PACKAGE_DATA = ("mnistlib/samples/handwriting/", "mnistlib/samples/fonts/", "mnistlib/results/")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``, failing with its output if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result


def serve_repository_offline(work: Path, config: dict) -> dict[str, str]:
    """A bare copy of HEAD under the configured branch, and a git configuration that serves it."""
    repository = config["repository"]
    bare = work / "repository.git"
    run(["git", "init", "--quiet", "--bare", str(bare)])
    branch = f"HEAD:refs/heads/{repository['branch']}"
    run(["git", "-C", str(ROOT), "push", "--quiet", str(bare), branch])
    gitconfig = work / "gitconfig"
    gitconfig.write_text(f'[url "{bare.as_uri()}"]\n\tinsteadOf = {repository["url"]}\n')
    return {"GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1"}


def fresh_environment(work: Path, requirement: str, env: dict[str, str]) -> Path:
    """A new virtual environment holding the wheel of ``requirement`` and nbconvert; its bin."""
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet"]
    wheels = work / "wheels"
    run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), requirement], env=env)
    (wheel,) = wheels.glob("mnist_book-*.whl")
    listing = run([str(venv / "bin" / "python"), "-m", "zipfile", "-l", str(wheel)]).stdout
    missing = [folder for folder in PACKAGE_DATA if folder not in listing]
    if missing:
        sys.exit(f"{wheel.name} lacks the package data {missing}")
    constraints = ["-c", str(ROOT / "constraints.txt")]
    run([*pip, "install", *constraints, f"{wheel}[notebooks]", "nbconvert"], env=env)
    return venv / "bin"


def untracked_files() -> set[str]:
    """Files of the checkout that git does not ignore and does not track."""
    status = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all"])
    return {line[3:] for line in status.stdout.splitlines()}


def run_alone(
    notebook: Path, folder: Path, bin_dir: Path, env: dict[str, str], uninstall: bool
) -> float:
    """Execute ``notebook`` alone in ``folder`` (``uninstall``: without the library
    installed, so that its install cell must install it); its seconds."""
    python = str(bin_dir / "python")
    if uninstall:
        run([python, "-m", "pip", "uninstall", "--quiet", "--yes", DISTRIBUTION], env=env)
    folder.mkdir(parents=True)
    shutil.copy(notebook, folder)
    started = time.perf_counter()
    command = [
        str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
        "--ExecutePreprocessor.timeout=3600", "--output", "executed.ipynb", notebook.name,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        print(result.stderr[-6000:], file=sys.stderr)
        raise RuntimeError(f"{notebook.name} failed when run alone in {folder}")
    show = [python, "-m", "pip", "show", DISTRIBUTION]
    if subprocess.run(show, env=env, capture_output=True).returncode:
        raise RuntimeError(f"{notebook.name}: its install cell did not install {DISTRIBUTION}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--notebooks", nargs="*", help="chapter names or .ipynb files (default: every chapter)"
    )
    parser.add_argument("--outputs", default=os.environ.get("MNIST_OUTPUTS", ROOT / "outputs"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    names = args.notebooks or [path.stem for path in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    notebooks = [
        Path(name).resolve() if name.endswith(".ipynb") else ROOT / "notebooks" / f"{name}.ipynb"
        for name in names
    ]
    changed = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"]).returncode
    if changed or untracked_files():
        print("note: this checks the committed HEAD; uncommitted changes are not in it")

    config = read_config(ROOT)
    requirement = install_requirement(config)
    work = Path(tempfile.mkdtemp(prefix="mnist-book-standalone-"))
    env = {**os.environ, "MNIST_OUTPUTS": str(Path(args.outputs).resolve())}
    env.pop("PYTHONPATH", None)
    started = time.perf_counter()
    env.update(serve_repository_offline(work, config))
    bin_dir = fresh_environment(work, requirement, env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("VIRTUAL_ENV", None)
    print(f"fresh environment with {requirement}: {time.perf_counter() - started:.0f} s")

    before = untracked_files()
    failures = []
    for index, notebook in enumerate(notebooks):
        try:
            folder = work / "run" / notebook.stem
            seconds = run_alone(notebook, folder, bin_dir, env, uninstall=index == 0)
        except RuntimeError as error:
            failures.append(str(error))
            print(f"FAILED {notebook.name}: {error}")
        else:
            installed = ", its install cell installed the library" if index == 0 else ""
            print(f"passed {notebook.name:34} {seconds:6.0f} s{installed}")
    added = untracked_files() - before
    if added:
        failures.append(f"the notebooks wrote into the checkout: {sorted(added)}")
    if not args.keep and not failures:
        shutil.rmtree(work)
    total = time.perf_counter() - started
    print(f"{len(notebooks) - len(failures)} passed, {len(failures)} failed in {total:.0f} s")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
