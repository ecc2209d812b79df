"""Build llama.cpp into the cache, or take the given binaries, and describe them (build_llama)."""

import sys
from pathlib import Path

from batchbench.build import build, describe, given
from batchbench.cache import cache_dir_of
from batchbench.files import write_json_atomic

sys.stderr = log = open(snakemake.log[0], "w")
params = snakemake.params.build
if params["binaries"]:
    manifest = given(params["binaries"])
else:
    # patches are named relative to the workflow (or absolutely), as in the config
    workflow_dir = Path(snakemake.scriptdir).parent
    manifest = build(params["source"], params["cmake_flags"], [workflow_dir / p for p in params["patches"]],
                     cache_dir_of(snakemake.config), snakemake.threads, log)
write_json_atomic(snakemake.output[0], {"name": params["name"], **describe(manifest)})
