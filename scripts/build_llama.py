"""Build llama.cpp into the cache, or take the given binaries, and describe them (build_llama)."""

import json
import sys
from pathlib import Path

from batchbench.build import build, describe, given

sys.stderr = log = open(snakemake.log[0], "w")
params = snakemake.params.build
if params["binaries"]:
    manifest = given(params["binaries"])
else:
    manifest = build(params["source"], params["cmake_flags"], [Path(p) for p in params["patches"]],
                     Path(snakemake.params.cache_dir), snakemake.threads, log)
with open(snakemake.output[0], "w") as f:
    json.dump({"name": params["name"], **describe(manifest)}, f, indent=1)
