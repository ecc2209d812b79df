"""Record what a model is: architecture, shape, parameters, bytes, sha256 (rule describe_model)."""

import json
import sys

from batchbench.models import describe

sys.stderr = log = open(snakemake.log[0], "w")
with open(snakemake.output[0], "w") as f:
    json.dump(describe(snakemake.input[0], snakemake.params.name), f, indent=1)
