"""Where everything of an experiment lies: every path template below results/ (and logs/), and
the job key that names a benchmark job in the grid, the rules and the result folders alike.

Templates are Snakemake's: `{experiment}`, `{machine}` (the machine's folder with its slash, or
empty without `machines`), `{model}`, `{build}` (file-name forms of the names), `{opts}`,
`{pp}`, `{tg}`, `{b}`, `{rep}`, `{table}`, `{name}`, `{ext}`.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

# A benchmark job: machine, model, build, option set, combination and repetition.
COMBINATION = "{opts}/pp{pp}_tg{tg}_b{b}_r{rep}"
JOB_KEY = "{machine}{model}/{build}/" + COMBINATION
# an option set's folder: option slugs joined by "_" (grid.options_slug)
OPTS_PATTERN = r"[A-Za-z0-9.+=-]+(_[A-Za-z0-9.+=-]+)*"

EXPERIMENT = "results/{experiment}"
BUILD = EXPERIMENT + "/builds/{machine}{build}.json"
MODEL = EXPERIMENT + "/models/{model}.json"
SETUP = EXPERIMENT + "/setups/{machine}{model}/{build}.json"
RUN = EXPERIMENT + f"/runs/{JOB_KEY}.json"
PLAN = EXPERIMENT + "/plan.tsv"
IMPORTED = EXPERIMENT + "/imported.json"
RUNS = EXPERIMENT + "/runs.parquet"
# each folder is written by one rule
LIMITS = EXPERIMENT + "/machine/{machine}limits.json"  # measure_limits
TABLE = EXPERIMENT + "/analysis/{table}.{ext}"  # analysis_tables
FIGURE = EXPERIMENT + "/figures/{name}.{ext}"  # plot_figures
COMPARISON = EXPERIMENT + "/comparison/{name}.{ext}"  # compare_runs: compare, compare_summary
MACHINE_COMPARISON = EXPERIMENT + "/machine_comparison/{name}.{ext}"  # compare_machines
REPORT = EXPERIMENT + "/report.{ext}"  # write_report

# logs/<experiment>/<rule>.log, or a folder of them per rule
LOGS = "logs/{experiment}"
RULE_LOG = LOGS + "/{rule}.log"
BUILD_LOG = LOGS + "/build_llama/{machine}{build}.log"
MODEL_LOG = LOGS + "/prepare_model/{model}.log"
SETUP_LOG = LOGS + "/bench_setup/{machine}{model}/{build}.log"
RUN_LOG = LOGS + f"/bench_run/{JOB_KEY}.log"
LIMITS_LOG = LOGS + "/{machine}measure_limits.log"


def job_key(machine: str, model: str, build: str, opts: str, pp, tg, b, rep) -> str:
    """`machine` is the machine's folder with its slash, or empty."""
    return JOB_KEY.format(machine=machine, model=model, build=build, opts=opts, pp=pp, tg=tg, b=b, rep=rep)


def table_folder(name: str) -> str:
    """The folder of results/<experiment>/ that holds a derived table (and its CSV)."""
    if name in ("compare", "compare_summary"):
        return "comparison"
    return "machine_comparison" if name == "compare_machines" else "analysis"


def combined(template: str) -> str:
    """The template with a job's option set, combination and repetition as one wildcard,
    {combination}, as the rule that runs the job names them: Snakemake builds a job's wildcards
    into a new object at every call of its functions (priority, spec, threads, memory), so each
    wildcard costs planning a large grid."""
    return template.replace(COMBINATION, "{combination}")


def combination_pattern() -> str:
    """The regex of the {combination} wildcard (see combined): the template's fields filled in
    with their regexes (its literal text, `/pp`, `_tg`, ..., means itself in a regex)."""
    number = r"\d+"
    return fill(COMBINATION, opts=OPTS_PATTERN, pp=number, tg=number, b=number, rep=number)


def bound(**fields) -> SimpleNamespace:
    """Every template of this module with these fields filled in (see fill), for the rules of one
    run: with the experiment filled in, Snakemake looks a file's rule up among the few whose
    paths start like it, not among every output of every rule under results/."""
    return SimpleNamespace(**{name: fill(value, **fields) if name.isupper() and isinstance(value, str) else value
                              for name, value in globals().items() if not name.startswith("_")})


def fill(template: str, **fields) -> str:
    """The template with these fields filled in and the others left as wildcards."""
    return re.sub(r"\{(\w+)\}", lambda m: str(fields[m[1]]) if m[1] in fields else m[0], template)


def runs_of(experiment: str) -> str:
    return RUNS.format(experiment=experiment)
