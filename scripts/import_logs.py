"""Parse existing llama-batched-bench logs into job records (rule import_logs)."""

import json
import sys

from batchbench import UserError
from batchbench.importer import import_records

sys.stderr = log = open(snakemake.log[0], "w")
records = []
for path in snakemake.input:
    try:
        found = import_records(path, snakemake.config["experiment"])
    except UserError as err:  # a log that cannot be read: its file and line, no traceback
        sys.exit(f"import failed: {err}")
    log.write(f"{path}: {len(found)} rows\n")
    records += found
with open(snakemake.output[0], "w") as f:
    json.dump(records, f, indent=1)
