"""Where everything of an experiment lies: every path template below results/ (and logs/), and
the job key that names a benchmark job in the grid, the rules and the result folders alike.

Templates are Snakemake's: `{experiment}`, `{machine}` (the machine's folder with its slash, or
empty without `machines`), `{model}`, `{build}` (file-name forms of the names), `{opts}`,
`{pp}`, `{tg}`, `{b}`, `{rep}`, `{table}`, `{name}`, `{ext}`.
"""

from __future__ import annotations

# A benchmark job: machine, model, build, option set, combination and repetition.
JOB_KEY = "{machine}{model}/{build}/{opts}/pp{pp}_tg{tg}_b{b}_r{rep}"

EXPERIMENT = "results/{experiment}"
BUILD = EXPERIMENT + "/builds/{machine}{build}.json"
MODEL = EXPERIMENT + "/models/{model}.json"
SETUP = EXPERIMENT + "/setups/{machine}{model}/{build}.json"
RUN = EXPERIMENT + f"/runs/{JOB_KEY}.json"
PLAN = EXPERIMENT + "/plan.tsv"
IMPORTED = EXPERIMENT + "/imported.json"
RUNS = EXPERIMENT + "/runs.parquet"
LIMITS = EXPERIMENT + "/machine/{machine}limits.json"
TABLE = EXPERIMENT + "/analysis/{table}.{ext}"
FIGURE = EXPERIMENT + "/figures/{name}.{ext}"
REPORT = EXPERIMENT + "/report.{ext}"

LOGS = "logs/{experiment}"
RUN_LOG = LOGS + f"/bench_run/{JOB_KEY}.log"


def job_key(machine: str, model: str, build: str, opts: str, pp, tg, b, rep) -> str:
    """`machine` is the machine's folder with its slash, or empty."""
    return JOB_KEY.format(machine=machine, model=model, build=build, opts=opts, pp=pp, tg=tg, b=b, rep=rep)


def runs_of(experiment: str) -> str:
    return RUNS.format(experiment=experiment)
