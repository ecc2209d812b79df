"""Each machine's speeds against its own limits, and S_TG against B per machine (rule machine_comparison)."""

import sys
from pathlib import Path

from batchbench import derive, figures
from batchbench.analysis.combinations import Thresholds

sys.stderr = open(snakemake.log[0], "w")
runs, limits = derive.load([snakemake.input.runs], snakemake.input.limits, snakemake.params.anonymise)
table = derive.machine_comparison(runs, limits, Thresholds(**snakemake.params.thresholds))
derive.write({"compare_machines": table}, Path(snakemake.output.table).parent)
figures.save(figures.fig_machines(table), snakemake.output.png, snakemake.output.svg)
