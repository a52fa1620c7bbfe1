"""What `pip install hwnas` ships: every package folder of the tree, the space and device files, the licence and
the version that `hwnas --version` prints. (CI also installs the wheel into an empty environment and runs the
README's commands with it: .ci/wheel-smoke.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import hwnas

from .conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
MAPPED = PYPROJECT["tool"]["setuptools"]["package-dir"]  # packages whose files live elsewhere (searchspaces/)


def package_folders() -> set[str]:
    """Every folder under hwnas/ that holds Python files, as a dotted package name."""
    folders = {p.parent for p in (REPO / "hwnas").rglob("*.py") if "__pycache__" not in p.parts}
    return {".".join(f.relative_to(REPO).parts) for f in folders}


def test_every_package_folder_is_listed_and_a_regular_package():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = package_folders()
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - folders - set(MAPPED) == set(), "listed packages with no folder"
    for name in folders:  # a folder without __init__.py would be a namespace package: easy to lose
        assert (REPO / name.replace(".", "/") / "__init__.py").is_file(), name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built, as a release would build it, from a copy of what the build reads."""
    pytest.importorskip("build", reason="the packaging test builds a wheel: pip install '.[test]'")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    for folder in ("hwnas", "searchspaces"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (path,) = out.glob("hwnas-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_ships_every_module_and_data_file(wheel):
    names = set(wheel.namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "hwnas").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - names == set()
    spaces = {f"hwnas/space/definitions/{p.name}" for p in (REPO / "searchspaces").glob("*.toml")}
    assert spaces and spaces <= names
    assert "hwnas/measure/devices.toml" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "backends/", "examples/")) for n in names)


def test_the_wheel_carries_the_licence_and_the_version(wheel):
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    fields = [line.split(": ", 1) for line in wheel.read(metadata).decode().splitlines() if ": " in line]
    meta: dict[str, list[str]] = {}
    for key, value in fields:
        meta.setdefault(key, []).append(value)
    assert meta["Version"] == [hwnas.__version__]
    assert meta["License-Expression"] == ["Apache-2.0"]
    licence = next(n for n in wheel.namelist() if n.endswith("dist-info/licenses/LICENSE"))
    assert b"Apache License" in wheel.read(licence) and Path(REPO / "LICENSE").read_bytes() == wheel.read(licence)
