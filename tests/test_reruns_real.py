"""A rerun does exactly what a change requires: one full real run of a tiny grid in a folder laid
out as a user's checkout, then each edit on a copy of that folder (copied with its mtimes, so
every copy is also the folder moved), each followed by `snakemake -n` and its exact job counts."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT
from workflow import TINY

from batchbench.policy import DEFAULTS

pytestmark = pytest.mark.real

# What a checkout holds for running (tests, bench and the package itself are not needed there).
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "schemas", "config", "patches", "report", "envs")
# What reruns after any change of the benchmark table: the tables, figures and report.
# Rules that remake records of what exists (a build, a model, the plan), measuring no combination.
NOT_MEASUREMENTS = {"build_llama", "prepare_model", "bench_setup", "measure_limits", "plan_table"}
ANALYSIS = {"runs_table": 1, "analysis_tables": 1, "plot_figures": 1, "compare_runs": 1, "write_report": 1, "all": 1}


def snakemake(folder: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    """The README's command, run in the folder (the default config/config.yaml, no options)."""
    result = subprocess.run([python, "-m", "snakemake", "--cores", "2", *args], cwd=folder,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def planned(folder: Path, *args: str, python: str = sys.executable) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` plans ({} when there is nothing to do)."""
    out = snakemake(folder, "-n", *args, python=python)
    counts, in_table = {}, False
    for line in (out.stdout + out.stderr).splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
        elif in_table and parts and parts[0] == "total":
            break
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """A checkout with its default config set to a tiny grid, fully run once."""
    folder = tmp_path_factory.mktemp("reruns") / "checkout"
    folder.mkdir()
    for name in WORKFLOW_FILES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, folder / name)
    config = yaml.safe_load((folder / "config/config.yaml").read_text())
    config["experiment"] = "tiny"
    config["models"] = [{"name": "tiny-q8", "synthetic": {**TINY, "quant": "Q8_0"}}]
    config["grid"] = {"npp": [32], "ntg": [16], "npl": [1, 2], "threads": 2}
    (folder / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(folder)
    assert planned(folder) == {}
    return folder


@pytest.fixture
def copy(measured, tmp_path) -> Path:
    """The measured folder, copied elsewhere with its mtimes (as `cp -a` or `mv` keep them)."""
    folder = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(measured, folder, symlinks=True)
    return folder


def edit(folder: Path, change) -> None:
    """Load, change and save config/config.yaml with a YAML library (keys saved sorted)."""
    path = folder / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=True))


def test_keys_reordered_by_a_yaml_tool_run_nothing(copy):
    path = copy / "config/config.yaml"
    config = yaml.safe_load(path.read_text())

    def reversed_keys(value):
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        return [reversed_keys(v) for v in value] if isinstance(value, list) else value

    path.write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False, default_flow_style=True))
    assert planned(copy) == {}


def test_comments_and_formatting_by_hand_run_nothing(copy):
    path = copy / "config/config.yaml"
    text = path.read_text().replace("grid:\n", "# my study\n\ngrid:   # the axes\n")
    path.write_text("# edited by hand\n" + text.replace("- 1\n", "- 1   # one sequence\n"))
    assert planned(copy) == {}


@pytest.mark.parametrize("axis, value, new_jobs", [("npl", 4, 1), ("npp", 64, 2), ("ntg", 32, 2)])
def test_a_new_axis_value_runs_only_its_combinations(copy, axis, value, new_jobs):
    edit(copy, lambda c: c["grid"][axis].append(value))
    assert planned(copy) == {"bench_run": new_jobs, "plan_table": 1, **ANALYSIS}


def test_a_removed_value_measures_nothing_and_leaves_its_rows_out(copy):
    edit(copy, lambda c: c["grid"].update(npl=[1]))
    assert planned(copy) == {"plan_table": 1, **ANALYSIS}
    snakemake(copy, "results/tiny/runs.parquet")
    assert list(pq.read_table(copy / "results/tiny/runs.parquet").column("b").to_pylist()) == [1]
    # its record stays on disk: putting the value back measures nothing again
    assert list((copy / "results/tiny/runs").rglob("pp32_tg16_b2_r1.json"))
    edit(copy, lambda c: c["grid"].update(npl=[1, 2]))
    assert planned(copy) == ANALYSIS


def test_a_second_model_runs_only_its_jobs(copy):
    gguf = json.loads(next((copy / "results/tiny/models").glob("*.json")).read_text())["path"]
    (copy / "models").mkdir()
    shutil.copy(gguf, copy / "models/mine.gguf")
    edit(copy, lambda c: c["models"].append({"name": "mine", "path": "models/mine.gguf"}))
    assert planned(copy) == {"prepare_model": 1, "bench_setup": 1, "bench_run": 2, "plan_table": 1,
                             **ANALYSIS}


def test_a_second_build_runs_only_its_jobs(copy):
    built = json.loads(next((copy / "results/tiny/builds").glob("*.json")).read_text())
    edit(copy, lambda c: c["builds"].append({"name": "mine",
                                             "binaries": {"batched_bench": built["batched_bench"]}}))
    assert planned(copy) == {"build_llama": 1, "bench_setup": 1, "bench_run": 2, "plan_table": 1,
                             **ANALYSIS}


def test_run_policy_applies_to_jobs_still_to_run_and_measures_nothing_again(copy):
    edit(copy, lambda c: c["run"].update(timeout_s=99, retries=0, address_space_limit_mb=8192))
    assert planned(copy) == {}
    # forcing one combination (the README's command) measures it alone, under the new policy
    record = next((copy / "results/tiny/runs").rglob("pp32_tg16_b2_r1.json")).relative_to(copy)
    assert planned(copy, "--forcerun", str(record)) == {"bench_run": 1, **ANALYSIS}
    assert planned(copy, "--forcerun", "bench_run") == {"bench_run": 2, **ANALYSIS}
    snakemake(copy, str(record), "--forcerun", str(record))
    policy = json.loads((copy / record).read_text())["run_policy"]
    assert policy == {**DEFAULTS, "timeout_s": 99, "retries": 0, "address_space_limit_mb": 8192}


def test_remeasure_and_the_disturbed_verdicts_limits_measure_nothing_again(copy):
    edit(copy, lambda c: c["run"].update(remeasure=0, remeasure_wait_s=0, min_cpu_share=0.5, max_cpu_pressure=0.9,
                                         max_memory_pressure=0.9, max_steal=0.9))
    assert planned(copy) == {}


def test_an_analysis_setting_reruns_only_the_analysis(copy):
    edit(copy, lambda c: c.setdefault("analysis", {}).update(max_cv=0.2))
    assert planned(copy) == {"analysis_tables": 1, "plot_figures": 1, "compare_runs": 1, "write_report": 1, "all": 1}


def test_the_folder_moved_runs_nothing(copy):
    moved = copy.parent.parent / "moved"
    os.rename(copy, moved)
    assert planned(moved) == {}


def test_a_new_virtual_environment_runs_nothing(copy, tmp_path):
    venv = tmp_path / "new venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the same packages, seen from the new interpreter (this one's site-packages and the source)
    Path(purelib, "same-packages.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{ROOT / 'src'}\n")
    assert planned(copy, python=str(venv / "bin/python")) == {}


def test_a_build_and_model_remade_from_the_cache_leave_the_measurements_alone(copy):
    assert planned(copy, "--forcerun", "build_llama") == {"build_llama": 1, "bench_setup": 1}
    assert planned(copy, "--forcerun", "prepare_model") == {"prepare_model": 1, "bench_setup": 1}
    snakemake(copy, "results/tiny/setups/tiny-q8/llama.cpp-0c1e570.json", "--forcerun", "build_llama")
    assert planned(copy) == {}


def test_touching_every_input_runs_nothing(copy):
    for path in [copy / "config/config.yaml", *(copy / "patches").iterdir()]:
        path.touch()
    assert planned(copy) == {}


@pytest.mark.parametrize("order", ["at once", "one by one"])
def test_touching_every_file_measures_nothing_again(copy, order):
    """As a fresh clone with the results copied in: Snakemake remakes what the scripts made (they
    are not older than their outputs), but no benchmark job's spec or input changed."""
    stamp = time.time_ns() + 10**9
    for path in sorted(copy.rglob("*"), reverse=True):
        if path.is_file() and ".snakemake" not in path.parts:
            os.utime(path, ns=(stamp, stamp)) if order == "at once" else path.touch()
    remade = planned(copy)
    assert "bench_run" not in remade and set(remade) <= set(ANALYSIS) | NOT_MEASUREMENTS, remade
