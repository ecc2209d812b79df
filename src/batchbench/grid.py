"""The benchmark grid: one Job per combination x option set x repetition x model x build."""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
import re
from dataclasses import dataclass

from .kv_cache import context_for
from .llama_options import OPTIONS
from .paths import job_key

SWEEP_AXES = ("npp", "ntg", "npl")


def as_list(value) -> list:
    """Any axis may be a scalar (fixed) or a list (swept)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def path_segment(name: str) -> str:
    """A file-name-safe stand-in for a user's name; unsafe names get a hash so they stay unique."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name):
        return name
    clean = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "name"
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@functools.cache  # a grid has few option sets and many jobs
def options_slug(options: tuple[tuple[str, object], ...], extra_args: tuple[str, ...]) -> str:
    """The options' part of a job's path: `c-auto_b-2048_ub-512`, `defaults` when none is set."""
    parts = []
    for key, value in options:
        short = OPTIONS[key][1]
        if isinstance(value, bool):
            if value:
                parts.append(short)
        else:
            parts.append(f"{short}-{value}")
    if extra_args:
        digest = hashlib.sha256("\0".join(extra_args).encode()).hexdigest()[:8]
        parts.append(f"x-{digest}")
    return "_".join(parts) or "defaults"


@dataclass(frozen=True)
class Job:
    model: str
    build: str
    pp: int
    tg: int
    b: int
    rep: int
    options: tuple[tuple[str, object], ...]  # set options only, in OPTIONS order
    extra_args: tuple[str, ...] = ()
    model_dir: str = ""
    build_dir: str = ""
    machine: str | None = None  # None: no `machines` key
    machine_dir: str = ""
    sentinel: int = 0  # k > 0: the k-th re-measurement of the drift sentinel (rep numbers after the grid's)

    # computed once per job: a large grid asks for each many times while Snakemake plans it
    @functools.cached_property
    def option_map(self) -> dict:
        return dict(self.options)

    @functools.cached_property
    def opts_slug(self) -> str:
        return options_slug(self.options, self.extra_args)

    def relpath(self) -> str:
        """The job's key (paths.JOB_KEY): its path below results/<experiment>/runs/ (and
        logs/<experiment>/bench_run/); the machine's level only when machines are configured."""
        machine = f"{self.machine_dir}/" if self.machine_dir else ""
        return job_key(machine, self.model_dir, self.build_dir, self.opts_slug, self.pp, self.tg, self.b, self.rep)

    def context(self) -> tuple[int, int, int]:
        """(-c value, cells allocated, cells needed)."""
        return self._context

    @functools.cached_property
    def _context(self) -> tuple[int, int, int]:
        opts = self.option_map
        return context_for(self.pp, self.tg, self.b, opts.get("ctx", "auto"),
                           bool(opts.get("pp_shared")), bool(opts.get("kv_unified")))

    def skip_reason(self) -> str | None:
        c, allocated, needed = self.context()
        if needed > allocated:
            return (f"N_KV {needed} exceeds the {allocated} KV cells llama.cpp allocates for "
                    f"-c {c} with {self.b} sequences")
        return None


def option_sets(grid: dict) -> list[tuple[tuple[str, object], ...]]:
    """Every combination of the swept llama-batched-bench options (unset options omitted)."""
    axes = [(key, as_list(grid[key])) for key in OPTIONS if grid.get(key) is not None]
    combos = []
    for values in itertools.product(*(vals for _, vals in axes)):
        combos.append(tuple((key, v) for (key, _), v in zip(axes, values, strict=True) if v is not None))
    return combos


def expand(grid: dict, models: list[tuple[str, str]], builds: list[tuple[str, str]],
           seed: int = 0, machines: list[tuple[str | None, str]] = ((None, ""),)) -> list[Job]:
    """All jobs, interleaved: repetition by repetition, combinations in a shuffled order, and
    models, builds and machines alternating job by job, so slow drift of a machine spreads over
    all of them instead of looking like a difference between them."""
    extra = tuple(grid.get("extra_args") or ())
    points = list(itertools.product(option_sets(grid), as_list(grid["npp"]),
                                    as_list(grid["ntg"]), as_list(grid["npl"])))
    pairs = list(itertools.product(models, builds, machines))
    jobs = []
    for rep in range(1, int(grid.get("repetitions", 1)) + 1):
        order = points[:]
        random.Random(f"{seed}:{rep}").shuffle(order)
        for i, (opts, pp, tg, b) in enumerate(order):
            for k in range(len(pairs)):
                (model, model_dir), (build, build_dir), (machine, machine_dir) = pairs[(i + k) % len(pairs)]
                jobs.append(Job(model, build, int(pp), int(tg), int(b), rep, opts, extra,
                                model_dir, build_dir, machine, machine_dir))
    return jobs
