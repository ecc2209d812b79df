"""The workflow deployed the way Snakemake users deploy a published one: as a module of their
own Snakefile in another folder (what `snakedeploy deploy-workflow` writes), real binary."""

import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from workflow import TINY, runs

pytestmark = pytest.mark.real

OUTER = f"""\
configfile: "config/config.yaml"


module batchbench:
    snakefile:
        "{ROOT / 'Snakefile'}"
    config:
        config


use rule * from batchbench
"""


def test_the_workflow_runs_as_a_module_from_another_folder(tmp_path, default_config):
    config = {**default_config, "experiment": "deployed",
              "models": [{"name": "tiny", "synthetic": {**TINY, "quant": "Q8_0"}}],
              "grid": {"npp": [32], "ntg": [16], "npl": [1, 2], "threads": 1, "batch": 2048, "ubatch": 512}}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "Snakefile").write_text(OUTER)
    # The jobs' python3 is a Python without this package installed (the system's): the
    # benchmark job finds the package only through the workflow's source folder.
    bare = tmp_path / "bare-python"
    bare.mkdir()
    (bare / "python3").symlink_to("/usr/bin/python3")
    assert subprocess.run([str(bare / "python3"), "-c", "import batchbench"], capture_output=True,
                          env={"PATH": "/usr/bin"}).returncode != 0
    env = {**os.environ, "PATH": os.pathsep.join([str(bare), os.environ["PATH"]])}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    rows = runs(tmp_path, "deployed")
    assert len(rows) == 2 and (rows["status"] == "ok").all(), rows[["status", "reason"]]
    assert (tmp_path / "results" / "deployed" / "report.html").is_file()
