"""Compare experiments, builds and models combination by combination (rule compare_runs)."""

import sys
from pathlib import Path

from batchbench import figures
from batchbench.analysis.combinations import Thresholds
from batchbench.analysis.comparison import comparison_tables
from batchbench.tables import load, write

sys.stderr = open(snakemake.log[0], "w")
runs, _ = load(snakemake.input.runs, [], snakemake.params.anonymise)
tables = comparison_tables(runs, snakemake.params.baselines, Thresholds(**snakemake.params.thresholds))
write(tables, Path(snakemake.output.summary_csv).parent)
figures.save(figures.fig_compare(tables["compare"], tables["compare_summary"]), snakemake.output.png,
             snakemake.output.svg)
