"""The folders' one-way dependencies (pyproject.toml's import-linter contract) hold, and the check
would catch a lower folder importing a higher one."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (setup.sh installs it with the test extra)")
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd / "src"), "PATH": str(Path(exe).parent)})


def test_no_folder_imports_upward():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_an_upward_import_breaks_the_contract(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    errors = copy / "src" / "impasto" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom ..api import Engine  # noqa: E402,F401 - the deliberate bad import\n")
    proc = lint_imports(copy)
    assert proc.returncode != 0 and "impasto.core is not allowed to import impasto.api" in proc.stdout
