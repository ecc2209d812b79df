"""Run policy: how benchmark jobs still to run are run, never what they measure.

Timeouts, retries and the memory cap reach each job through `--policy` on its command line, not
through the job's params: Snakemake reruns a job whose params changed, and a changed policy
must not re-measure what is measured already. New policy keys go here, and nowhere else.
"""

from __future__ import annotations

import json

# the config's `run:` keys that are policy, with their defaults (the schema's)
DEFAULTS = {"timeout_s": 1800, "retries": 2, "address_space_limit_mb": None}


def run_policy(run: dict) -> dict:
    """The policy of every benchmark job, from the config's `run:` section (defaults filled)."""
    return {key: run.get(key, default) for key, default in DEFAULTS.items()}


def policy_json(run: dict) -> str:
    return json.dumps(run_policy(run), sort_keys=True, separators=(",", ":"))
