"""Write the plan: every job, its context, memory and a rough time; skipped ones with why."""

import csv
import sys

sys.stderr = log = open(snakemake.log[0], "w")
rows = snakemake.params.rows
with open(snakemake.output[0], "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["status"], delimiter="\t")
    writer.writeheader()
    writer.writerows(rows)
log.write(snakemake.params.summary + "\n")
