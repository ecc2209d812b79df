"""Derive every analysis table from runs.parquet (rule analysis_tables)."""

import json
import sys
from pathlib import Path

import pandas as pd

from batchbench import derive
from batchbench.analysis import Thresholds

sys.stderr = open(snakemake.log[0], "w")
runs = pd.read_parquet(snakemake.input.runs)
limits = json.loads(Path(snakemake.input.limits[0]).read_text()) if snakemake.input.limits else None
if snakemake.params.anonymise:
    runs, limits = derive.anonymise(runs, limits)
tables = derive.derive(runs, limits, Thresholds(**snakemake.params.thresholds))
derive.write(tables, Path(snakemake.output[0]).parent)
