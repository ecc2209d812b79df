"""Derive every analysis table from runs.parquet (rule analysis_tables)."""

import sys
from pathlib import Path

from batchbench.analysis.combinations import Thresholds
from batchbench.tables import derive, load, write

sys.stderr = open(snakemake.log[0], "w")
runs, limits = load([snakemake.input.runs], snakemake.input.limits, snakemake.params.anonymise)
tables = derive(runs, limits, Thresholds(**snakemake.params.thresholds), snakemake.params.predict)
write(tables, Path(snakemake.output[0]).parent)
