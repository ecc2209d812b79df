"""Record what a build is: version, commit, flags, patches, JSONL support (rule describe_build)."""

import json
import sys

from batchbench.build import describe

sys.stderr = log = open(snakemake.log[0], "w")
if snakemake.input:
    with open(snakemake.input[0]) as f:
        manifest = json.load(f)
else:
    given = snakemake.params.given
    manifest = {"batched_bench": given["batched_bench"], "quantize": given.get("quantize"),
                "built": False, "source": None, "cmake_flags": None, "patches": []}
with open(snakemake.output[0], "w") as f:
    json.dump(describe(manifest), f, indent=1)
