"""Write report.md and the self-contained report.html (rule write_report)."""

import json
import sys
from pathlib import Path

import pandas as pd

from batchbench.analysis.combinations import Thresholds
from batchbench.anonymise import scrub_paths
from batchbench.figures import FIGURES
from batchbench.report import render, sections
from batchbench.tables import load, read

sys.stderr = open(snakemake.log[0], "w")
runs, limits = load([snakemake.input.runs], snakemake.input.limits, snakemake.params.anonymise)
config = snakemake.params.config
if snakemake.params.anonymise:  # paths in the config (extra_args, models) too
    config = json.loads(scrub_paths(json.dumps(config)))
tables = read(Path(snakemake.input.tables[0]).parent)
tables["compare_summary"] = pd.read_parquet(snakemake.input.comparison)
tables["compare"] = pd.read_parquet(Path(snakemake.input.comparison).with_name("compare.parquet"))
if "machines" in snakemake.input.keys():
    tables["compare_machines"] = pd.read_parquet(snakemake.input.machines)
captions = snakemake.params.captions
drawn = {name: (png, captions[name]) for name, png in zip(FIGURES, snakemake.input.figures, strict=True)}
if (tables["compare_summary"]["matched"] > 0).any():  # else the report says why, without a blank figure
    drawn["compare"] = (snakemake.input.comparison_figure, captions["compare"])
if "machines_figure" in snakemake.input.keys():
    drawn["compare_machines"] = (snakemake.input.machines_figure, captions["compare_machines"])
content = sections.build(runs, tables, drawn, config, limits,
                         Thresholds(**snakemake.params.thresholds))
render.write(content, snakemake.output.md, snakemake.output.html)
