"""All derived tables of an experiment: computed from the runs, written as Parquet (for programs) and CSV
(for people), read back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import perf_model, summary
from .analysis.combinations import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    combinations,
    failures,
    with_all_columns,
)
from .analysis.hardware import hardware_efficiency, perf_reconciliation
from .analysis.latency import latency
from .analysis.quality import drift, measurement_quality, trusted
from .analysis.questions import context_effects, generation_scaling, n_kv_check, prompt_phase, saturation
from .analysis.verdicts import context_trends, prompt_verdict, scaling_verdict, whole_run_check
from .anonymise import anonymise
from .files import atomic_path
from .outputs import TABLES


def load(runs_paths: list[str], limits_paths: list[str], shared: bool
         ) -> tuple[pd.DataFrame, dict | list[dict] | None]:
    """The runs tables (several are stacked) and the machine's limits if measured (a list, one
    per machine, when there are several), as the analysis shares them: anonymised when asked."""
    runs = pd.concat([pd.read_parquet(p) for p in runs_paths], ignore_index=True)
    measured = [json.loads(Path(p).read_text()) for p in limits_paths]
    limits = (measured[0] if len(measured) == 1 else measured) or None
    return anonymise(runs, limits) if shared else (runs, limits)


def derive(runs: pd.DataFrame, limits: dict | list[dict] | None, thresholds: Thresholds = DEFAULT_THRESHOLDS,
           predict: list[dict] | None = None) -> dict[str, pd.DataFrame]:
    """Every table; `predict`: other model shapes (as in `analysis.predict`) to predict."""
    runs = with_all_columns(runs)
    table = combinations(runs, thresholds)
    # the verdicts (Q2-Q5) leave out what interference or an outlier made untrustworthy
    kept = trusted(table)
    tables = {
        "combinations": table,
        "n_kv_check": n_kv_check(table),
        "prompt_phase": prompt_phase(kept),
        "generation_scaling": generation_scaling(kept, thresholds),
        "saturation": saturation(kept, thresholds),
        "context_effects": context_effects(kept),
        "latency": latency(table),
        "hardware": hardware_efficiency(table, limits),
        "perf_reconciliation": perf_reconciliation(runs),
        "failures": failures(runs),
        "drift": drift(runs),
        "measurement_quality": measurement_quality(runs, table),
        **perf_model.tables(table, limits, thresholds, predict),
    }
    tables |= {  # the counts the report's verdicts state
        "prompt_verdict": prompt_verdict(tables["prompt_phase"], thresholds),
        "scaling_verdict": scaling_verdict(tables["generation_scaling"], tables["saturation"]),
        "context_trends": context_trends(tables["context_effects"]),
        "whole_run_check": whole_run_check(runs),
    }
    return {"summary": summary.summary(tables), **tables}


def write(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        with atomic_path(folder / f"{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        with atomic_path(folder / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)


def read(folder: str | Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in TABLES}
