"""Measure this machine's memory bandwidth and arithmetic rate (rule measure_limits)."""

import sys

from batchbench.files import write_json_atomic
from batchbench.limits import measure

sys.stderr = open(snakemake.log[0], "w")
write_json_atomic(snakemake.output[0], {**measure(snakemake.threads), "machine": snakemake.params.machine})
