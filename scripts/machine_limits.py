"""Measure this machine's memory bandwidth and arithmetic rate (rule machine_limits)."""

import json
import os
import sys

from batchbench.machine import measure

sys.stderr = open(snakemake.log[0], "w")
limits = measure(snakemake.threads)
tmp = f"{snakemake.output[0]}.tmp"
with open(tmp, "w") as f:
    json.dump(limits, f, indent=1)
os.replace(tmp, snakemake.output[0])
