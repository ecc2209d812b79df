"""Collect every job's record (and the skipped combinations) into runs.parquet."""

import json
import sys

from batchbench.collect import write_runs_table

sys.stderr = log = open(snakemake.log[0], "w")
imported = []
for path in snakemake.input.imported:
    with open(path) as f:
        imported += json.load(f)
table = write_runs_table(list(snakemake.input.runs), snakemake.params.skipped + imported,
                         snakemake.output[0])
print(f"{table.num_rows} rows -> {snakemake.output[0]}", file=sys.stdout)
