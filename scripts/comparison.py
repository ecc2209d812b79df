"""Compare experiments, builds and models combination by combination (rule comparison)."""

import sys
from pathlib import Path

import pandas as pd

from batchbench import analysis, derive, figures

sys.stderr = open(snakemake.log[0], "w")
runs = pd.concat([pd.read_parquet(path) for path in snakemake.input.runs], ignore_index=True)
if snakemake.params.anonymise:
    runs, _ = derive.anonymise(runs)
table = analysis.combinations(runs, analysis.Thresholds(**snakemake.params.thresholds))
pairs = analysis.comparison_pairs(table, snakemake.params.baselines)
compared = {pair: analysis.compare(table, *pair) for pair in pairs}
ratios = pd.concat([r for r, _ in compared.values()] or [pd.DataFrame(columns=analysis.COMPARE_COLUMNS)],
                   ignore_index=True)
summary = analysis.compare_summary(table, ratios, pairs, {pair: note for pair, (_, note) in compared.items()})
derive.write({"compare": ratios, "compare_summary": summary}, Path(snakemake.output.summary_csv).parent)
figures.save(figures.fig_compare(ratios, summary), snakemake.output.png, snakemake.output.svg)
