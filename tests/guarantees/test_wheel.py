"""What ships: the wheel and the sdist hold every file of the package, the entry points and the metadata.

A file only in the checkout (a template, ``py.typed``, a data file) passes every other test here, which imports
the checkout, and breaks for users. ``make test`` builds ``dist/`` first and points ``SMTPCONN_DIST`` at it, so
these tests read the very files the smoke suite then installs on each Airflow minor; run alone, they build
their own with the standard front end (``python -m build``).
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

import airflow_provider_smtpconn

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_smtpconn"


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"wheel": ..., "sdist": ...}``: the files in ``$SMTPCONN_DIST``, else built into a temporary folder."""
    if os.environ.get("SMTPCONN_DIST"):
        folder = CHECKOUT / os.environ["SMTPCONN_DIST"]
    else:
        folder = tmp_path_factory.mktemp("dist")
        subprocess.run([sys.executable, "-m", "build", "--outdir", str(folder), str(CHECKOUT)], check=True)
    (wheel,) = folder.glob(f"{PACKAGE}-*.whl")
    (sdist,) = folder.glob(f"{PACKAGE}-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="session")
def package_files() -> set[str]:
    """Every file under ``airflow_provider_smtpconn/`` that git tracks, as a path relative to the checkout."""
    if not (CHECKOUT / ".git").exists():
        pytest.skip("needs a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", PACKAGE], cwd=CHECKOUT, check=True, capture_output=True, text=True
    ).stdout
    return {name for name in listed.split("\0") if name}


def wheel_metadata(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (path,) = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(path).decode()


def test_the_wheel_holds_every_package_file_in_git(dist, package_files):
    with zipfile.ZipFile(dist["wheel"]) as archive:
        shipped = set(archive.namelist())
    assert f"{PACKAGE}/py.typed" in package_files
    assert sorted(package_files - shipped) == []
    assert {n for n in shipped if not n.endswith(".py") and ".dist-info/" not in n} >= {
        n for n in package_files if not n.endswith(".py")
    }


def test_the_sdist_holds_every_package_file_in_git(dist, package_files):
    with tarfile.open(dist["sdist"]) as archive:
        shipped = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert sorted(package_files - shipped) == []
    assert {"pyproject.toml", "README.md", "CHANGELOG.md"} <= shipped


def test_the_wheel_declares_the_provider_and_the_command(dist):
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel_metadata(dist["wheel"], "entry_points.txt"))
    assert dict(entry_points["apache_airflow_provider"]) == {"provider_info": f"{PACKAGE}:get_provider_info"}
    assert dict(entry_points["console_scripts"]) == {"smtpconn": f"{PACKAGE}.cli:main"}


def test_the_metadata_users_look_for(dist):
    metadata = HeaderParser().parsestr(wheel_metadata(dist["wheel"], "METADATA"))
    assert metadata["Name"] == "airflow-provider-smtpconn"
    assert metadata["Version"] == airflow_provider_smtpconn.__version__
    classifiers = metadata.get_all("Classifier")
    for expected in ("Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider", "Typing :: Typed"):
        assert expected in classifiers
    pythons = [c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert min(pythons, key=lambda v: int(v.split(".")[1])) == metadata["Requires-Python"].removeprefix(">=")
    assert "airflow" in metadata["Keywords"].split(",")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_the_lowest_airflow_tested_is_the_declared_floor(dist):
    """The smoke suite's oldest constraint set is the minor ``apache-airflow>=X`` names; each set pins its minor."""
    metadata = HeaderParser().parsestr(wheel_metadata(dist["wheel"], "METADATA"))
    requires = metadata.get_all("Requires-Dist")
    (floor,) = [m.group(1) for r in requires if (m := re.fullmatch(r"apache-airflow>=(\S+)", r))]
    minors = {}
    for path in (CHECKOUT / "tests" / "smoke").glob("constraints-airflow-*.txt"):
        minor = path.stem.removeprefix("constraints-airflow-")
        (pinned,) = re.findall(r"^apache-airflow==(\S+)$", path.read_text(), flags=re.MULTILINE)
        assert pinned.startswith(f"{minor}."), path.name
        minors[tuple(int(p) for p in minor.split("."))] = pinned
    assert min(minors) == tuple(int(p) for p in floor.split(".")[:2])


def test_the_changelog_names_this_version():
    changelog = (CHECKOUT / "CHANGELOG.md").read_text(encoding="utf-8")
    (first_release,) = re.findall(r"^## \[(\d[^\]]*)\]", changelog, flags=re.MULTILINE)[:1]
    assert first_release == airflow_provider_smtpconn.__version__
    assert re.search(r"^## \[Unreleased\]", changelog, flags=re.MULTILINE)
