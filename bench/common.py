"""Helpers shared by the benchmarks: run the workflow in a scratch folder and time it."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def run_workflow(workdir: Path, config: dict, *args: str) -> float:
    """Wall seconds of one `snakemake` run of this workflow on `config` in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                    "--directory", str(workdir), "--configfile", str(cfg), "--cores", "2",
                    "--quiet", "all", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_snakefile(snakefile: Path, workdir: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
                    "--directory", str(workdir), "--cores", "2", "--quiet", "all", *args],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median(values) -> float:
    return statistics.median(values)
