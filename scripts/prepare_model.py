"""Synthesize a model into the cache where asked, and describe the GGUF (prepare_model)."""

import json
import sys

from batchbench.cache import cache_dir_of
from batchbench.files import write_json_atomic
from batchbench.models import describe
from batchbench.synth import cached_model

sys.stderr = log = open(snakemake.log[0], "w")
model = snakemake.params.model
# a given file's identity is its sha256, already read at parse time
path, sha256 = model["path"], model["identity"].removeprefix("sha256:")
if model["synthetic"]:
    quantize = json.load(open(snakemake.input[0]))["quantize"] if snakemake.input else None
    path, sha256 = cached_model(model["synthetic"], model["key"], cache_dir_of(snakemake.config), quantize, log,
                                snakemake.threads)
write_json_atomic(snakemake.output[0], describe(str(path), model["name"], sha256))
