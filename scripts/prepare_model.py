"""Synthesize a model into the cache where asked, and describe the GGUF (prepare_model)."""

import json
import sys
from pathlib import Path

from batchbench.models import describe
from batchbench.synth import cached_model

sys.stderr = log = open(snakemake.log[0], "w")
model = snakemake.params.model
path, sha256 = model["path"], None
if model["synthetic"]:
    quantize = json.load(open(snakemake.input[0]))["quantize"] if snakemake.input else None
    path, sha256 = cached_model(model["synthetic"], model["key"], Path(snakemake.params.cache_dir),
                                quantize, log, snakemake.threads)
with open(snakemake.output[0], "w") as f:
    json.dump(describe(str(path), model["name"], sha256), f, indent=1)
