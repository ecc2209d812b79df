"""Compare experiments, builds and models combination by combination (rule comparison)."""

import sys

import pandas as pd

from batchbench import analysis, derive, figures

sys.stderr = open(snakemake.log[0], "w")
runs = pd.concat([pd.read_parquet(path) for path in snakemake.input.runs], ignore_index=True)
if snakemake.params.anonymise:
    runs, _ = derive.anonymise(runs)
table = analysis.combinations(runs, analysis.Thresholds(**snakemake.params.thresholds))
ratios = [analysis.compare(table, axis, snakemake.params.baselines[axis]) for axis in analysis.comparison_axes(table)]
ratios = pd.concat(ratios, ignore_index=True) if ratios else analysis.compare(table, "build", "")
summary = analysis.compare_summary(table, ratios)
derive.write({"compare": ratios, "compare_summary": summary}, snakemake.params.folder)
figures.save(figures.fig_compare(ratios, summary), snakemake.output.png, snakemake.output.svg)
