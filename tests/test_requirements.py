"""requirements.txt says which versions the book supports, constraints.txt pins the
ones its stored outputs come from: the two must agree."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(path: Path) -> list[str]:
    """The lines of a requirements file that are neither blank nor comments."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pinned_versions() -> dict[str, str]:
    """constraints.txt as {canonical package name: exact version}."""
    pins = {}
    for line in requirement_lines(ROOT / "constraints.txt"):
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_requirements_apply_the_constraints() -> None:
    assert "-c constraints.txt" in requirement_lines(ROOT / "requirements.txt")


def test_every_requirement_is_pinned_within_its_range() -> None:
    pins = pinned_versions()
    for line in requirement_lines(ROOT / "requirements.txt"):
        if line.startswith("-"):  # -c constraints.txt, -e .
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} has no pin in constraints.txt (run make lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt: {requirement.name}=={pins[name]} is outside {requirement.specifier}"
        )


def test_binder_installs_the_pinned_versions() -> None:
    """binder/ (repo2docker) applies the same pins, from Python 3.11, to what it names."""
    binder = ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    lines = requirement_lines(binder / "requirements.txt")
    # pip reads -c relative to the requirements file, "." relative to the working
    # directory, which repo2docker makes the repository's root
    assert "-c ../constraints.txt" in lines
    assert "-e .[notebooks]" in lines
    pins = pinned_versions()
    for line in lines:
        if line.startswith("-"):
            continue
        name = canonicalize_name(Requirement(line).name)
        assert name in pins, f"binder/requirements.txt: {name} has no pin in constraints.txt"
