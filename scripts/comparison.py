"""Compare experiments, builds and models combination by combination (rule comparison)."""

import sys
from pathlib import Path

from batchbench import derive, figures
from batchbench.analysis.combinations import Thresholds

sys.stderr = open(snakemake.log[0], "w")
runs, _ = derive.load(snakemake.input.runs, [], snakemake.params.anonymise)
tables = derive.comparison(runs, snakemake.params.baselines, Thresholds(**snakemake.params.thresholds))
derive.write(tables, Path(snakemake.output.summary_csv).parent)
figures.save(figures.fig_compare(tables["compare"], tables["compare_summary"]), snakemake.output.png,
             snakemake.output.svg)
