"""Finding 1: a newcomer with Python 3.12 or 3.13 must be able to start the back office."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def fake_python(bin_dir: Path, name: str, version: tuple[int, int]) -> None:
    """A stand-in interpreter that reports `version` to the Makefile's check."""
    script = bin_dir / name
    ok = int(version >= (3, 11))
    check = f"import sys; print({ok}); sys.exit({1 - ok})"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *version_info*) exec {sys.executable} -c "{check}";; esac\n'
        f'echo "Python {version[0]}.{version[1]}.0"\n'
    )
    script.chmod(0o755)


def run_make(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": str(bin_dir)}
    for inherited in ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VENV"):
        env.pop(inherited, None)
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(ROOT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_package_accepts_every_python_from_3_11_on():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_make_picks_the_newest_python_it_finds(tmp_path):
    for name, version in [("python3.11", (3, 11)), ("python3.13", (3, 13)), ("python3", (3, 11))]:
        fake_python(tmp_path, name, version)
    assert run_make(tmp_path, "which-python").stdout.strip() == "python3.13"


def test_make_skips_a_python_that_is_too_old_or_broken(tmp_path):
    fake_python(tmp_path, "python3", (3, 10))
    fake_python(tmp_path, "python3.12", (3, 12))
    (tmp_path / "python3.13").write_text("#!/bin/sh\nexit 127\n")
    (tmp_path / "python3.13").chmod(0o755)
    assert run_make(tmp_path, "which-python").stdout.strip() == "python3.12"


def test_make_says_clearly_when_no_python_is_new_enough(tmp_path):
    fake_python(tmp_path, "python3", (3, 10))
    result = run_make(tmp_path, "demo", f"VENV={tmp_path / 'venv'}")
    assert result.returncode != 0
    assert "No Python 3.11 or newer found" in result.stderr
