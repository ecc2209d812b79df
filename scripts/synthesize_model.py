"""Write a random-weight GGUF of the configured shape into the cache (rule synthesize_model)."""

import json
import sys
from pathlib import Path

from batchbench.synth import synthesize

sys.stderr = log = open(snakemake.log[0], "w")
quantize = None
if snakemake.input:
    source = snakemake.input[0]
    quantize = json.load(open(source))["quantize"] if source.endswith(".json") else source
synthesize(snakemake.params.model["spec"], Path(snakemake.output[0]), quantize, log)
