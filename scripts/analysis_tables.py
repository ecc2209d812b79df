"""Derive every analysis table from runs.parquet (rule analysis_tables)."""

import sys
from pathlib import Path

from batchbench import derive
from batchbench.analysis.combinations import Thresholds

sys.stderr = open(snakemake.log[0], "w")
runs, limits = derive.load([snakemake.input.runs], snakemake.input.limits, snakemake.params.anonymise)
tables = derive.derive(runs, limits, Thresholds(**snakemake.params.thresholds), snakemake.params.predict)
derive.write(tables, Path(snakemake.output[0]).parent)
