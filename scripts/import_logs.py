"""Parse existing llama-batched-bench logs into job records (rule import_logs)."""

import json
import sys

from batchbench.importer import import_records

sys.stderr = log = open(snakemake.log[0], "w")
records = []
for path in snakemake.input:
    found = import_records(path, snakemake.wildcards.experiment)
    log.write(f"{path}: {len(found)} rows\n")
    records += found
with open(snakemake.output[0], "w") as f:
    json.dump(records, f, indent=1)
