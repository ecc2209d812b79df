"""Draw every figure of the experiment from its analysis tables (rule plot_figures)."""

import sys
from pathlib import Path

from batchbench import figures
from batchbench.tables import read

sys.stderr = open(snakemake.log[0], "w")
tables = read(Path(snakemake.input[0]).parent)
for name in figures.FIGURES:
    figures.save(figures.make(name, tables), snakemake.output[f"{name}_png"], snakemake.output[f"{name}_svg"])
