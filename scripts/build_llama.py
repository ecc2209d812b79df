"""Build llama-batched-bench and llama-quantize into the cache (rule build_llama)."""

import sys
from pathlib import Path

from batchbench.build import build

sys.stderr = log = open(snakemake.log[0], "w")
params = snakemake.params.build
build(params["source"], params["cmake_flags"], [Path(p) for p in params["patches"]],
      Path(snakemake.output[0]).parent, Path(snakemake.params.cache_dir), snakemake.threads, log)
