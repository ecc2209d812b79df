"""The checks the model workflows run in CI: ruff, snakefmt and Snakemake's own linter."""

import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "ruff", "check", "src", "scripts", "tests", "bench"],
    [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
], ids=["ruff", "snakefmt"])
def test_linters_pass(command):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_finds_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                             "--directory", str(tmp_path), "--lint"], capture_output=True, text=True)
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout
