"""Each machine's speeds against its own limits, and S_TG against B per machine (rule compare_machines)."""

import sys
from pathlib import Path

from batchbench import figures
from batchbench.analysis.combinations import Thresholds
from batchbench.analysis.comparison import machine_comparison
from batchbench.tables import load, write

sys.stderr = open(snakemake.log[0], "w")
runs, limits = load([snakemake.input.runs], snakemake.input.limits, snakemake.params.anonymise)
table = machine_comparison(runs, limits, Thresholds(**snakemake.params.thresholds))
write({"compare_machines": table}, Path(snakemake.output.table).parent)
figures.save(figures.fig_machines(table), snakemake.output.png, snakemake.output.svg)
