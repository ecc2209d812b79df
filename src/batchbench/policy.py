"""Run policy: how benchmark jobs still to run are run, never what they measure.

Timeouts, retries, the memory cap, measuring a disturbed job again and the limits of the
disturbed verdict reach each job through its environment (set when the workflow is parsed, on
the submitting host and again inside each cluster job), not through the job's params: Snakemake
reruns a job whose params changed, and a changed policy must not re-measure what is measured
already. New policy keys go in DEFAULTS, and nowhere else.
"""

from __future__ import annotations

import json
import os
import sys

# the config's `run:` keys that are policy, with their defaults (the schema's)
DEFAULTS = {
    "timeout_s": 1800,
    "retries": 2,
    "address_space_limit_mb": None,
    "remeasure": 2,  # new measurements of a disturbed job
    # before each, at most this long for the disturbance to pass (a burst shorter than the job's
    # attempts and waits together is measured around, not into the row)
    "remeasure_wait_s": 10,
    # the limits of the disturbed verdict (batchbench.surroundings), calibrated on this project's
    # 2-core machine between quiet runs and runs beside a hog, see the README's "Measurements
    # you can trust"
    "min_cpu_share": 0.80,  # of the wall time x the threads the benchmark was given
    "max_cpu_pressure": 0.15,  # share of the wall time some task waited for a CPU
    "max_memory_pressure": 0.05,  # share of the wall time some task waited for memory
    "max_steal": 0.05,  # share of the machine's CPU time taken by the hypervisor
}
POLICY_ENV = "BATCHBENCH_RUN_POLICY"
# the interpreter of this run, which runs the job: not a param either (a new virtual environment
# measures nothing anew)
PYTHON_ENV = "BATCHBENCH_PYTHON"


def run_policy(run: dict) -> dict:
    """The policy of every benchmark job, from the config's `run:` section (defaults filled)."""
    return {key: run.get(key, default) for key, default in DEFAULTS.items()}


def job_environment(run: dict, python: str = sys.executable) -> dict[str, str]:
    """What the workflow puts in the environment of its jobs: the policy, and the Python that
    runs a benchmark job (this run's, or `python3` of the job's own env under --sdm conda)."""
    return {POLICY_ENV: json.dumps(run_policy(run), sort_keys=True), PYTHON_ENV: python}


def policy_from_environment() -> dict:
    """The policy a job runs under (the defaults outside the workflow)."""
    return run_policy(json.loads(os.environ.get(POLICY_ENV) or "{}"))
