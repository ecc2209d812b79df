"""The test SLURM cluster runs a job end to end (installs slurm-wlm and munge with apt on first use)."""

import re
import socket
import subprocess
import time

import pytest
from slurm_cluster import slurm_cluster_fixture

pytestmark = pytest.mark.real
slurm = slurm_cluster_fixture(scope="module")


def job_state(job_id: str, env: dict) -> str:
    shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True,
                           check=True).stdout
    return re.search(r"JobState=(\S+)", shown).group(1)


def test_slurm_cluster_runs_a_job(slurm, tmp_path):
    output = tmp_path / "hostname.out"
    submitted = subprocess.run(["sbatch", "--parsable", f"--output={output}", "--wrap", "hostname"],
                               env=slurm.env, capture_output=True, text=True, check=True)
    job_id = submitted.stdout.strip().split(";")[0]  # --parsable prints "id" or "id;cluster"

    deadline = time.monotonic() + 60
    while (state := job_state(job_id, slurm.env)) in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
        assert time.monotonic() < deadline, f"job {job_id} still {state} after 60 s"
        time.sleep(0.5)

    assert state == "COMPLETED"
    assert output.read_text().strip() == socket.gethostname()
