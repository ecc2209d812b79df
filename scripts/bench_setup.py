"""Pair a build with a model: the one file a benchmark job reads (rule bench_setup)."""

import json
import sys

sys.stderr = open(snakemake.log[0], "w")
with open(snakemake.input.build) as b, open(snakemake.input.model) as m:
    setup = {"build": json.load(b), "model": json.load(m)}
with open(snakemake.output[0], "w") as f:
    json.dump(setup, f, indent=1)
