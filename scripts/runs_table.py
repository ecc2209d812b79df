"""Collect every job's record (and the skipped combinations) into runs.parquet."""

import sys

from batchbench.collect import write_runs_table

sys.stderr = log = open(snakemake.log[0], "w")
table = write_runs_table(list(snakemake.input), snakemake.params.skipped, snakemake.output[0])
print(f"{table.num_rows} rows -> {snakemake.output[0]}", file=sys.stdout)
