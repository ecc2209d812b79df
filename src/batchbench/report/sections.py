"""The report's sections, prose only: every number they print is read from a table (so it is in
a CSV too). The report leads with the answer (a summary per model and build, the key figures),
then states what this run measured per question, with the numbers; where the run disagrees with
the usual explanation it says so."""

from __future__ import annotations

import json

import pandas as pd

from ..analysis.combinations import SERIES, Thresholds, status_counts
from ..analysis.comparison import machine_verdict
from ..analysis.hardware import limits_list
from ..paths import table_folder
from .document import Report, bool_name, fmt, series_name

MISFIT_PCT = 25  # a row the model misses by more than this is listed as not fitting
SUMMARY_LINES = 2  # more series than this are summarised as a compact table
KEY_FIGURES = ["s_tg_vs_b", "perf_model", "latency"]  # the figures that carry the answer, shown first


def section(r: Report, heading: str, data: pd.DataFrame) -> bool:
    """Starts a section; False (and says so) when there is nothing measured to report in it."""
    r.heading(heading)
    if data.empty:
        r.text("No measured combination: nothing to report here.")
    return not data.empty


GLOSSARY = ("B is the number of sequences decoded in parallel (concurrent requests), PP the prompt tokens and TG "
            "the generated tokens of each; S_TG is the generation throughput (tokens per second over all B "
            "sequences), TTFT the time to the first token of a request, TPOT the time per output token.")


def summary_section(r: Report, tables: dict):
    """The answer first: one line per model × build × options × machine, every number from the
    summary table."""
    summary = tables.get("summary")
    r.heading("Summary")
    if summary is None or summary.empty:
        r.text("No row was measured or imported.")
        return
    lines = []
    for row in summary.itertuples(index=False):
        name = series_name(row._asdict()) + (f" on {row.host_name}" if isinstance(row.host_name, str) else "")
        parts = []
        if pd.notna(row.peak_s_tg):
            parts.append(f"peak S_TG {row.peak_s_tg:.1f} tokens/s at B = {int(row.peak_b)} "
                         f"(PP {int(row.peak_pp)}, TG {int(row.peak_tg)})")
        if pd.notna(row.saturation_b):
            parts.append(f"S_TG saturates at B = {fmt(row.saturation_b, 0)} (in {row.saturation_groups} PP × TG groups)"
                         + model_words(row, ", "))
        elif pd.notna(row.peak_s_tg):
            parts.append("S_TG does not saturate within the B measured" + model_words(row, "; "))
        if pd.notna(row.b1_ttft_s):
            parts.append(f"one request alone (B = 1, PP {int(row.b1_pp)}, TG {int(row.b1_tg)}): TTFT "
                         f"{row.b1_ttft_s:.3f} s, TPOT {row.b1_tpot_ms:.1f} ms"
                         + (f", {row.b1_bandwidth_pct:.0f}% of the measured {row.bandwidth_limit_gb_s:.1f} GB/s "
                            "memory bandwidth" if pd.notna(row.b1_bandwidth_pct) else ""))
        parts.append(f"{row.ok} rows measured, {row.skipped} skipped, {row.failed} failed, {row.timeout} timed out, "
                     f"{row.flagged} of {row.combinations} combinations flagged")
        lines.append(f"{name}: " + "; ".join(parts) + "." + (f" ({row.note})" if row.note else ""))
    if len(lines) <= SUMMARY_LINES:
        r.items(lines)
    else:
        # many series: one compact row each, so the key figures still start in the first screen
        r.table(summary, ["model", "build", "machine", "config", "host_name", "peak_s_tg", "peak_b", "saturation_b",
                          "b1_ttft_s", "b1_tpot_ms", "b1_bandwidth_pct", "ok", "skipped", "failed", "flagged"],
                {"peak_s_tg": 1, "peak_b": 0, "saturation_b": 0, "b1_ttft_s": 3, "b1_tpot_ms": 1,
                 "b1_bandwidth_pct": 0}, source="summary")
    ratios, compared = tables.get("compare"), tables.get("compare_summary")
    if ratios is not None and compared is not None:  # with machines: which one is ahead where
        sentences = machine_verdict(ratios, compared)
        if sentences:
            r.text(" ".join(sentences))


def model_words(row, joint: str) -> str:
    """The decode model's crossover, only where the model fits the series."""
    if pd.isna(row.model_crossover_b):
        return ""
    if not row.model_fits:
        return f"{joint}the decode model does not fit this series (see the performance model)"
    return f"{joint}the model's crossover B* = {row.model_crossover_b:.1f}"


def key_figures(r: Report, figures: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The figures that carry the answer, side by side; returns the others."""
    r.figure_row([(name, *figures[name]) for name in KEY_FIGURES if name in figures])
    r.text(GLOSSARY)
    return {name: figure for name, figure in figures.items() if name not in KEY_FIGURES}


def model_explanation(tables: dict, runs: pd.DataFrame) -> list[str]:
    """Q4's physical account, per series, with the fitted model's numbers: the weight streaming,
    the arithmetic per sequence, where they meet, against the measured saturation."""
    model = tables.get("perf_model")
    lines = []
    for row in (model.itertuples(index=False) if model is not None else []):
        name = series_name(row._asdict())
        if pd.isna(row.memory_ms):
            lines.append(f"{name}: the decode model is not fitted ({row.note}).")
            continue
        weights = (f", {row.memory_ms:.1f} ms of it streaming {row.weight_bytes / 1e6:.0f} MB of weights at "
                   f"{row.bandwidth_gb_s:.1f} GB/s" if pd.notna(row.weight_bytes) else
                   f"; the weights take {row.memory_ms:.1f} ms to stream (their size is unknown for these rows)")
        step = f"a decode step costs {row.step_ms_b1:.1f} ms at B = 1" if pd.notna(row.step_ms_b1) else (
            f"streaming the weights takes {row.memory_ms:.1f} ms per step")
        text = (f"{name}: {step}{weights if pd.notna(row.step_ms_b1) else ''}; each sequence adds "
                f"{row.compute_ms_per_seq:.2f} ms of arithmetic"
                + (f" ({row.flops_g:.1f} GFLOP/s effective)" if pd.notna(row.flops_g) else "")
                + f", hidden under the weight streaming until B · {row.compute_ms_per_seq:.2f} ms exceeds "
                f"{row.memory_ms:.1f} ms: the two meet at B* ≈ {row.crossover_b:.1f}. "
                f"Each KV cell read adds {row.attention_us_per_cell:.2f} µs (the attention term, growing with the "
                f"context). So T_TG grows sub-linearly below B*, linearly beyond it, and S_TG levels off below "
                f"1 / t_seq = {1000 / row.compute_ms_per_seq:.1f} tokens/s (attention takes its share); "
                f"the same rule as the saturation table, applied to the "
                f"model, saturates at B = {fmt(row.predicted_saturation_b, 0)}, measured at B = "
                f"{fmt(row.measured_saturation_b, 0)}. ")
        if row.fits:
            text += (f"The model explains the measured step times with R² = {row.r2:.2f} (of log time, median "
                     f"error {row.median_error_pct:.0f}%); fitted without each B in turn, it predicts that B's "
                     f"S_TG within {row.loo_error_pct:.0f}% (median, worst B).")
        else:
            text += f"The model does not explain this series: {row.note}."
        lines.append(text)
    return lines


def device_note(runs: pd.DataFrame) -> str:
    """Where the textbook GPU account (warps, L2 misses) applies to this run, and where not."""
    measured = runs[~runs["imported"].astype(bool)]
    if measured.empty:
        return ("The imported log does not record its device, so whether a GPU account (warps, L2 cache "
                "misses) or a CPU one applies cannot be told from it; the model above needs neither.")
    gpu = measured["n_gpu_layers"].fillna(0).astype(float).gt(0).any() if "n_gpu_layers" in measured else False
    if gpu:
        return ("Part of this run ran on a GPU: there, warps idle at small B and cache behaviour add to the "
                "account above.")
    return ("This run used the CPU only: explanations in terms of GPU warps or L2 cache misses do not apply. "
            "Here a step is bound by streaming the weights from memory, then by the cores' arithmetic.")


def model_section(r: Report, tables: dict):
    """The fitted model's coefficients, its validation and what it predicts (never mixed with
    the measured rows)."""
    model = tables.get("perf_model")
    r.heading("Performance model: what explains S_TG, and what it predicts")
    if model is None or model.empty:
        r.text("No series to fit.")
        return
    r.text("Decode step time t_step = T_TG / TG is fitted, per series, to max(t_mem, B · t_seq) + cells · t_cell: "
           "t_mem the time to stream the weights once (shared by all B sequences), t_seq the arithmetic of one "
           "sequence's token, t_cell the time per KV-cache cell read by attention. Robust least squares (soft L1 "
           "on relative residuals) on the valid rows only; leave-one-B-out validation. Where the model's size and "
           "shape are known the times are converted to rates (bytes / t_mem, FLOPs per token / t_seq).")
    r.table(model, ["model", "build", "machine", "config", "host_name", "b_values", "memory_ms", "compute_ms_per_seq",
                    "attention_us_per_cell", "crossover_b", "predicted_saturation_b", "measured_saturation_b", "r2",
                    "loo_error_pct", "bandwidth_gb_s", "bandwidth_pct", "flops_g", "fits", "note"],
            {"memory_ms": 2, "compute_ms_per_seq": 3, "attention_us_per_cell": 3, "crossover_b": 1,
             "predicted_saturation_b": 0, "measured_saturation_b": 0, "loo_error_pct": 0, "bandwidth_pct": 0},
            source="perf_model")
    misses = tables.get("perf_model_fit")
    misses = misses[misses["error_pct"].abs() > MISFIT_PCT] if misses is not None else pd.DataFrame()
    if len(misses):
        r.text(f"Where the model does not fit: {len(misses)} valid combination(s) whose step time it misses by more "
               f"than {MISFIT_PCT}% (measured against model, ms per step):")
        r.table(misses, ["model", "build", "machine", "config", "pp", "tg", "b", "step_ms", "model_step_ms",
                         "error_pct", "regime"], {"step_ms": 1, "model_step_ms": 1, "error_pct": 0},
                source="perf_model_fit")
    validation = tables.get("perf_model_validation")
    if validation is not None and len(validation):
        r.text("Leave-one-B-out: each B left out of the fit in turn, its S_TG predicted from the others.")
        r.table(validation, ["model", "build", "machine", "config", "left_out_b", "n_rows", "median_error_pct",
                             "max_error_pct", "crossover_b"],
                {"median_error_pct": 1, "max_error_pct": 1, "crossover_b": 1}, source="perf_model_validation")
    predicted = tables.get("perf_predictions")
    r.heading("Predicted, not measured", 3)
    if predicted is None or predicted.empty:
        r.text("No prediction: no series' model fits (see the notes above).")
        return
    r.text("From the fitted coefficients: S_TG and TPOT for B and prompt lengths this run did not measure, and "
           "for the other model shapes named in analysis.predict on this machine. These are predictions; the "
           "measured rows are in the tables above.")
    lines = []
    for (model_name, machine, shape), group in predicted.groupby(["model", "machine", "shape"], sort=False):
        smallest = group[(group["pp"] == group["pp"].min()) & (group["tg"] == group["tg"].min())].sort_values("b")
        if smallest.empty:
            continue
        first, best = smallest.iloc[0], smallest.loc[smallest["s_tg"].idxmax()]
        fit = f"{model_name}'s fit" + (f" on {machine}" if isinstance(machine, str) and machine else "")
        lines.append(f"{shape} (from {fit}): at PP {int(first['pp'])}, TG {int(first['tg'])}, B = "
                     f"{int(first['b'])}: TPOT {first['tpot_ms']:.1f} ms, S_TG {first['s_tg']:.1f} tokens/s; up to "
                     f"{best['s_tg']:.1f} tokens/s at B = {int(best['b'])}; crossover B* ≈ {first['crossover_b']:.1f}.")
    r.items(lines)
    r.table(predicted, ["shape", "build", "machine", "pp", "tg", "b", "tpot_ms", "s_tg", "regime", "predicted",
                        "basis"], {"tpot_ms": 1, "s_tg": 1}, source="perf_predictions")


def provenance(r: Report, runs: pd.DataFrame, config: dict, limits: dict | list[dict] | None):
    r.heading("Provenance")
    counts = status_counts(runs)
    measured = runs[~runs["imported"].astype(bool)]
    imported = runs[runs["imported"].astype(bool)]
    r.text(f"{len(runs)} rows: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed, "
           f"{counts['timeout']} timed out; {len(measured)} from this workflow's runs, "
           f"{len(imported)} imported from existing logs.")
    if len(measured):  # the config's grid says nothing of imported rows
        grid = config.get("grid", {})
        r.text("Grid: " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in grid.items()))
    columns = ["model", "build", "machine", "model_arch", "model_quant", "model_params", "model_bytes", "build_version",
               "build_commit", "build_flags", "host_name", "host_cpu", "host_cores", "host_mem_bytes",
               "host_governor", "host_gpu", "job_scheduler"]
    if len(measured):
        series = measured.drop_duplicates(["model", "build", "machine", "host_name"])
        r.table(series, columns)
        start, end = measured["start_time"].min(), measured["end_time"].max()
        if pd.notna(start) and pd.notna(end):
            r.text(f"Measured from {start} to {end} (UTC).")
    if len(imported):
        r.text("Imported logs: " + ", ".join(sorted(imported["source_file"].dropna().unique())))
    for entry in limits_list(limits):
        machine = f"machine {entry['machine']}, " if entry.get("machine") else ""
        r.text(f"Machine limits on {machine}{entry.get('host_name')}: memory bandwidth "
               f"{entry['bandwidth_gb_s']:.1f} GB/s ({entry['bandwidth_method']}); arithmetic "
               f"{entry['flops_g']:.1f} GFLOP/s ({entry['flops_method']}).")


def measurement_quality(r: Report, runs: pd.DataFrame, tables: dict):
    """Which measurements the machine disturbed, which were measured again, which stayed
    disturbed, the outliers across B, and what the counters saw (the measurement_quality table)."""
    r.heading("Measurement quality")
    q = tables["measurement_quality"].iloc[0]
    table = tables["combinations"]
    if q["watched"]:
        r.text(f"Each job recorded what surrounded its benchmark process, and a job the machine disturbed was "
               f"measured again (run.remeasure). Of {q['watched']} jobs with a result, {q['disturbed_first']} were "
               f"disturbed at their first measurement, {q['remeasured']} were measured again, and "
               f"{q['still_disturbed']} were still disturbed after every attempt: those keep status ok, are flagged "
               f"`disturbed`, drawn hollow and left out of the verdicts.")
        if pd.notna(q["cpu_share_min"]):
            r.text(f"CPU share of the reported measurements (CPU time / wall time × threads): min "
                   f"{q['cpu_share_min']:.2f}, 10th percentile {q['cpu_share_p10']:.2f}, median "
                   f"{q['cpu_share_median']:.2f}, max {q['cpu_share_max']:.2f}.")
        if pd.notna(q["cpu_pressure_median"]):
            r.text(f"The machine's CPU pressure over the reported measurements (share of each job's wall time some "
                   f"task waited for a CPU): median {q['cpu_pressure_median']:.1%}, max {q['cpu_pressure_max']:.1%}.")
        if q["counters_missing"]:
            r.text(f"Not available on this machine (left null): {q['counters_missing']}.")
        if q["still_disturbed"]:
            still = runs[(runs["status"] == "ok") & runs["disturbed"].eq(True)]
            r.table(still, ["model", "build", "machine", "pp", "tg", "b", "rep", "attempts", "cpu_share",
                            "disturbed_reason"], {"cpu_share": 2})
    elif q["jobs_with_result"] > q["imported"]:
        r.text("These rows were collected before jobs recorded their surroundings: whether the machine disturbed "
               "them is unknown.")
    else:
        r.text("Every row was imported: no counters of their surroundings exist, only the check across B below.")
    r.text(f"Outliers across B (a point far off its series' smooth trend in per-step decode time or S_PP): "
           f"{q['outliers']} of {q['combinations']} combinations.")
    if q["outliers"]:
        r.table(table[table["outlier"]], ["model", "build", "machine", "config", "pp", "tg", "b", "t_tg", "s_pp",
                                          "flags"], {"t_tg": 4}, source="combinations")
    sentinel_drift(r, tables.get("drift"))
    r.text(f"The verdicts below (Q2-Q5) are computed from the {q['trusted']} combinations neither disturbed "
           f"nor outliers; they leave out {q['left_out']}.")


def sentinel_drift(r: Report, drift: pd.DataFrame | None):
    """The drift sentinel's spread: how much the machine drifted over the run."""
    if drift is None or drift.empty:
        r.text("No drift sentinel was measured (set run.sentinel_every to measure one combination again every "
               "N jobs; its spread is then the run's drift and the noise floor of comparisons).")
        return
    for key, group in drift.groupby(SERIES + ["pp", "tg", "b"], dropna=False, sort=True):
        by = group.set_index("metric")
        parts = ", ".join(f"{m.upper()} {by.loc[m, 'spread']:.1%} (CV {fmt(by.loc[m, 'cv'] * 100, 1)}%)"
                          for m in ("s_tg", "s_pp", "s") if m in by.index)
        machine = dict(zip(SERIES, key, strict=False))["machine"]  # each machine drifts on its own
        where = f" on {machine}" if isinstance(machine, str) and machine else ""
        r.text(f"Drift sentinel{where} PP={key[-3]} TG={key[-2]} B={key[-1]}, measured {int(by['n'].max())} times from "
               f"{by['first'].min()} to {by['last'].max()}: spread (max − min) / median {parts}. Differences "
               "smaller than this are within the run's drift.")


def left_out(r: Report, tables: dict):
    """A verdict section's note of the combinations it did not use (disturbed, outliers)."""
    table = tables["combinations"]
    flagged = table[table["disturbed"] | table["outlier"]] if len(table) else table
    if len(flagged):
        r.text(f"Computed without the {len(flagged)} disturbed or outlier combination(s) (see Measurement quality): "
               + ", ".join(f"{x.machine + ' ' if bool_name(x.machine) else ''}PP={x.pp} TG={x.tg} B={x.b}"
                           for x in flagged.head(10).itertuples())
               + (" …" if len(flagged) > 10 else "") + ".")


def caveats(r: Report, runs: pd.DataFrame, thresholds: Thresholds):
    r.heading("How to read these numbers")
    ok = runs[runs["status"] == "ok"]
    reps = (ok.groupby(["experiment", "model", "build", "machine", "pp", "tg", "b"], dropna=False).size()
            if len(ok) else pd.Series([0]))
    if reps.max() < 3:
        r.text("Each combination was measured once, so this run cannot tell noise from an effect: a single "
               "slow job (another process on the machine, a frequency change) reads as a finding below. "
               "Treat the verdicts as tentative and set grid.repetitions to 3 or more to judge them.")
    r.items([
        "llama-batched-bench feeds random token ids and does no sampling: its time to first token and "
        "time per output token are lower bounds of what a server such as llama-server delivers "
        "(tokenization, sampling, HTTP and scheduling come on top).",
        "Each row is one process running one combination; llama.cpp times one sample per process. "
        "Repetitions are separate processes; with 3 or more the tables give median, min, max and "
        "coefficient of variation, from 5 on a bootstrap 95% interval of the median.",
        f"A T_PP or T_TG under {thresholds.min_time_s * 1000:g} ms is too short to trust the timer, and "
        f"repetitions spreading more than {thresholds.max_cv:.0%} (coefficient of variation) are noisy: "
        "such rows are flagged in the tables and drawn hollow in the figures.",
        "Runs made at different times on a shared machine drift (±10% between runs minutes apart was "
        "measured on a shared VM): compare builds or models as axes of one experiment, whose jobs are "
        "interleaved, rather than across runs.",
    ])


def q1(r: Report, tables: dict):
    check = tables["n_kv_check"]
    if not section(r, "Q1. How many KV-cache cells does each combination fill? N_KV = (PP+TG)·B", check):
        return
    bad = check[check["mismatch"]]
    r.text(f"N_KV is the number of KV-cache cells the combination fills: each of the B sequences keeps "
           f"its PP prompt tokens and its TG generated tokens, so (PP+TG)·B; with a shared prompt "
           f"(-pps) in a unified cache (-kvu) the prompt is stored once: PP + B·TG. "
           f"Measured: the printed N_KV equals the expected value in {len(check) - len(bad)} of "
           f"{len(check)} combinations.")
    if len(bad):
        r.text(f"{len(bad)} mismatches (the `matches` column says which formula the printed value fits):")
        r.table(bad, ["model", "build", "machine", "pp", "tg", "b", "n_kv", "expected_n_kv", "formula", "matches"],
                source="n_kv_check")


def q2_q3(r: Report, tables: dict):
    prompt = tables["prompt_phase"]
    r.heading("Q2, Q3. Does the prompt time T_PP grow in proportion to the prompt, so the prompt speed S_PP "
              "stays flat?")
    left_out(r, tables)
    verdict = tables["prompt_verdict"].iloc[0]
    if not verdict["fits"]:
        r.text("No fit possible: every B has fewer than two prompt sizes. " +
               "; ".join(sorted(set(prompt["note"]) - {""})))
        return
    r.text(f"A least-squares line of T_PP against the prompt tokens (B·PP) per B: R² ≥ {verdict['min_r2']:g} in "
           f"{verdict['linear_fits']} of {verdict['fits']} fits, slopes {verdict['slope_min_ms_per_token']:.3f} to "
           f"{verdict['slope_max_ms_per_token']:.3f} ms per token. "
           + ("As expected, T_PP is proportional to the prompt tokens."
              if verdict["linear_fits"] == verdict["fits"] else
              f"Where R² < {verdict['min_r2']:g} this run does not show the expected linear growth."))
    if pd.notna(verdict["s_pp_cv_max"]):
        r.text(f"S_PP = prompt tokens / T_PP varies by a coefficient of variation of {verdict['s_pp_cv_min']:.0%} to "
               f"{verdict['s_pp_cv_max']:.0%} across the combinations of each B (every PP and TG); "
               + ("flat, as expected." if verdict["flat"] else
                  f"above {verdict['max_cv']:.0%} somewhere, so 'S_PP stays flat' holds only where "
                  "the CV is small."))
    r.table(prompt, ["model", "build", "machine", "config", "b", "n_points", "slope_ms_per_token", "intercept_ms", "r2",
                     "s_pp_mean", "s_pp_cv", "note"], {"slope_ms_per_token": 3, "r2": 4}, source="prompt_phase")


def q4(r: Report, tables: dict, thresholds: Thresholds, runs: pd.DataFrame):
    scaling = tables["generation_scaling"]
    saturation = tables["saturation"]
    if not section(r, "Q4. How do generation time T_TG and speed S_TG change with B, PP and TG, and why?", scaling):
        return
    left_out(r, tables)
    lines = []
    for key, group in scaling.groupby(SERIES + ["pp", "tg"], dropna=False, sort=True):
        label = f"{series_name(dict(zip(SERIES, key, strict=False)))} PP={key[-2]} TG={key[-1]}"
        if (group["b"] > 1).sum() == 0:
            lines.append(f"{label}: only B = 1 measured, nothing to scale.")
            continue
        group = group[group["b"] > 1]
        if group["t_tg_ratio"].isna().all():
            lines.append(f"{label}: no B = 1 row, no ratios.")
            continue
        ratios = ", ".join(f"{v:.2f}" for v in group["t_tg_ratio"])
        bs = ", ".join(str(b) for b in group["b"])
        regimes = [g for g in group["regime"] if g]
        k = dict(zip(SERIES + ["pp", "tg"], key, strict=True))
        sat = saturation[(saturation["pp"] == k["pp"]) & (saturation["tg"] == k["tg"])
                         & (saturation["model"] == k["model"]) & (saturation["build"] == k["build"])
                         & (saturation["machine"] == k["machine"])
                         & (saturation["config"] == k["config"])].set_index("metric")
        lines.append(f"{label}: T_TG(B)/T_TG(1) = "
                     f"{ratios} for B = {bs} (ideal {bs}); growth from the previous B: "
                     f"{', '.join(regimes) or '–'}; saturation of S_TG at B = "
                     f"{fmt(sat.loc['s_tg', 'saturation_b'], 0)} ({sat.loc['s_tg', 'why']}), of S at B = "
                     f"{fmt(sat.loc['s', 'saturation_b'], 0)} ({sat.loc['s', 'why']}).")
    r.text("Per PP and TG, each B against B = 1 (T_TG ratio beside the ideal B), how T_TG grew from the "
           "previous B (against growing in proportion), and the saturation point: the smallest B whose "
           f"doubling raises the metric by less than {thresholds.saturation_share:.0%}.")
    r.items(lines)
    r.text(seed_verdict(tables["scaling_verdict"].iloc[0]))
    explained = model_explanation(tables, runs)
    if explained:
        r.text("Why: at small B a decode step is bound by streaming the weights from memory once for all B "
               "sequences, so a further sequence costs little; each sequence adds its own arithmetic and "
               "attention over its KV cache; where the arithmetic catches up with the weight streaming the step "
               "turns linear in B and S_TG saturates. The fitted decode model (next section) in this run's numbers:")
        r.items(explained)
        r.text(device_note(runs))
    r.table(scaling, ["model", "build", "machine", "config", "pp", "tg", "b", "t_tg", "t_tg_ratio", "ideal_ratio",
                            "s_tg_ratio", "efficiency", "regime", "valid"], {"t_tg": 3}, source="generation_scaling")


def seed_verdict(verdict: pd.Series) -> str:
    """The expected pattern of T_TG (sub-linear in B at first, linear once the machine saturates),
    against the counts of the scaling_verdict table."""
    if not verdict["series"]:
        return "No series has two values of B: the expected pattern (sub-linear, then linear) cannot be checked."
    text = ("Expected: T_TG grows sub-linearly in B at first, then linearly once the machine saturates. "
            f"T_TG grew sub-linearly at the first doubling of B in {verdict['starts_sub_linear']} of "
            f"{verdict['series']} series. ")
    if not verdict["doublings_beyond_saturation"]:
        text += ("S_TG saturated in none of them within the B measured, so the second half of the expected "
                 "pattern (linear growth once saturated) is not tested by this run.")
    else:
        text += (f"Beyond the saturation point of S_TG, T_TG grew linearly or faster in "
                 f"{verdict['linear_beyond_saturation']} of {verdict['doublings_beyond_saturation']} doublings.")
    return text + (" This agrees with the expected pattern." if verdict["agrees"] else
                   " Where the counts fall short, this run differs from the expected pattern.")


def q5(r: Report, tables: dict):
    table = tables["combinations"]
    effects = tables["context_effects"]
    if not section(r, "Q5. Whole-run time and speed: is T = T_PP + T_TG and S = N_KV / T, and how do they "
                   "move?", table):
        return
    left_out(r, tables)
    check = tables["whole_run_check"].iloc[0]
    r.text(f"Largest |T − T_PP − T_TG| over all rows: {check['max_t_gap_s']:.4f} s; largest relative difference "
           f"between N_KV / T and the printed S (without -pps): {fmt(check['max_s_gap_share'] * 100, 2)}%.")
    trends = tables["context_trends"]
    r.items([f"{t.metric.upper()} against {t.axis.upper()} at fixed {t.held}: falls from the smallest to the "
             f"largest {t.axis.upper()} in {t.falls} of {t.groups} groups, rises in {t.rises}."
             for t in trends.itertuples() if t.groups])
    s_pp = trends[(trends["metric"] == "s") & (trends["axis"] == "pp")].iloc[0]
    if s_pp["groups"]:
        agrees = s_pp["falls"] > s_pp["groups"] / 2
        r.text(f"S is expected to fall with PP. This run {'agrees' if agrees else 'disagrees'}: S fell "
               f"in {s_pp['falls']} of {s_pp['groups']} groups.")
    if effects["tg"].nunique() < 3:
        r.text("S is expected to first rise, then fall with TG: with fewer than three TG values this run "
               "cannot show a rise then a fall.")


def latency_section(r: Report, tables: dict):
    latency = tables["latency"]
    perf = tables["perf_reconciliation"]
    r.heading("Latency: time to first token, time per output token")
    r.text("Per combination: TTFT = T_PP + T_TG/TG (all B prompts, then one decode step; the mean step "
           "stands in for the first, which batched-bench does not time alone), TPOT = T_TG/TG, end-to-end "
           "latency T.")
    if len(perf):
        r.items([perf_counter_note(group) for _, group in perf.groupby("source_file", sort=True)])
        r.text("The perf counters of the imported logs, reconciled with their tables:")
        r.table(perf, ["source_file", "counter", "logged_ms", "logged_count", "table_ms", "table_count",
                       "difference_ms", "difference_share", "explained_by"], {"difference_share": 4},
                source="perf_reconciliation")
    if latency["ttft_s"].notna().any():
        valid = latency[latency["valid"].astype(bool)]
        shown_rows, which = (valid, "valid combinations") if valid["ttft_s"].notna().any() else (
            latency, "combinations, every one flagged")
        best = shown_rows.loc[shown_rows["ttft_s"].idxmin()]
        r.text(f"Over the {which}: TTFT from {shown_rows['ttft_s'].min():.3f} s (PP={best['pp']}, B={best['b']}) "
               f"to {shown_rows['ttft_s'].max():.3f} s; TPOT from {shown_rows['tpot_ms'].min():.2f} ms to "
               f"{shown_rows['tpot_ms'].max():.2f} ms. On the throughput–latency frontier (flagged points "
               "included, marked hollow in the figure): "
               + ", ".join(f"B={row.b} PP={row.pp} TG={row.tg} ({row.s_tg:.1f} t/s at {row.tpot_ms:.2f} ms)"
                           for row in latency[latency["pareto"]].sort_values("tpot_ms").itertuples()) + ".")
        r.table(latency, ["model", "build", "machine", "config", "pp", "tg", "b", "ttft_s", "tpot_ms", "e2e_s", "s_tg",
                          "pareto", "valid"], {"ttft_s": 3}, source="latency")


def perf_counter_note(perf: pd.DataFrame) -> str:
    """An imported log's llama_perf_context_print lines, read for what they are, with its numbers."""
    counters = perf.set_index("counter")
    source = perf["source_file"].iloc[0]
    if "prompt eval" not in counters.index:
        return f"{source}: its perf counters are reconciled with its table below."
    prompt = counters.loc["prompt eval"]
    text = (f"{source} logs a 'prompt eval time' of {prompt['logged_ms']:.0f} ms "
            f"({prompt['logged_ms'] / 60000:.1f} minutes) over {fmt(prompt['logged_count'], 0)} tokens. That is not "
            "a time to first token: llama_perf_context_print files every decode of more than one token under "
            "'prompt eval' and only single-token decodes under 'eval', so it sums the whole process: "
            f"{prompt['explained_by']} = {prompt['table_ms']:.0f} ms, {fmt(prompt['table_count'], 0)} tokens.")
    if "eval" in counters.index:
        single = counters.loc["eval"]
        text += (f" Its 'eval time' ({single['logged_ms']:.0f} ms over {fmt(single['logged_count'], 0)} runs) is "
                 f"{single['explained_by']}. No request waits that long; the per-combination TTFT is below.")
    return text


def hardware_section(r: Report, tables: dict, limits: dict | list[dict] | None):
    hardware = tables["hardware"]
    r.heading("How close to the hardware")
    if hardware.empty or hardware["bandwidth_gb_s"].isna().all():
        r.text("Not computed: the model's size and shape are unknown (an imported log carries only its "
               "table).")
        return
    r.text("Generation reads the weights once per decode step plus the KV cache filled so far: achieved "
           "bandwidth = bytes read per step × steps / T_TG. Prompt processing does about 2 × block "
           "parameters × prompt tokens of arithmetic (attention left out): achieved FLOP/s = that / T_PP.")
    if not limits:
        r.text("The machine's limits were not measured for this experiment, so no percentage is given.")
    r.text(f"Achieved bandwidth {hardware['bandwidth_gb_s'].min():.1f} to {hardware['bandwidth_gb_s'].max():.1f} "
           f"GB/s ({fmt(hardware['bandwidth_pct'].max(), 0)}% of the measured limit at most); prompt "
           f"arithmetic {hardware['flops_g'].min():.1f} to {hardware['flops_g'].max():.1f} GFLOP/s "
           f"({fmt(hardware['flops_pct'].max(), 0)}% of the measured float32 reference at most).")
    r.table(hardware, ["model", "build", "machine", "pp", "tg", "b", "bandwidth_gb_s", "bandwidth_pct", "flops_g",
                       "flops_pct", "valid", "note"], {"bandwidth_pct": 0, "flops_pct": 0}, source="hardware")
    roofline = tables.get("roofline")
    if roofline is not None and len(roofline):
        parts = []
        for phase, group in roofline.groupby("phase", sort=False):
            parts.append(f"{phase} at {group['intensity'].min():.1f} to {group['intensity'].max():.1f} FLOPs per byte "
                         f"reaches {group['gflops'].min():.1f} to {group['gflops'].max():.1f} GFLOP/s")
        # each machine's own ridge point (one without `machines`)
        ridge = (roofline.assign(ridge=roofline["flops_limit_g"] / roofline["bandwidth_limit_gb_s"])
                 .dropna(subset=["ridge"]).drop_duplicates("machine"))
        ridges = ", ".join(f"{x.ridge:.1f} FLOPs per byte" + (f" on {x.machine}" if x.machine else "")
                           for x in ridge.itertuples())
        r.text("On the roofline (figure roofline, table roofline): " + "; ".join(parts) + "."
               + (f" The machine's ridge point (compute roof / bandwidth roof) is {ridges}: below it a phase can "
                  "be no faster than memory allows." if len(ridge) else ""))


def flags_and_failures(r: Report, runs: pd.DataFrame, tables: dict):
    table = tables["combinations"]
    failures = tables["failures"]
    r.heading("Validity flags")
    flagged = table[~table["valid"]] if len(table) else table
    if flagged.empty:
        r.text("No combination was flagged.")
    else:
        r.text(f"{len(flagged)} of {len(table)} combinations are flagged (hollow in the figures):")
        r.table(flagged, ["model", "build", "machine", "config", "pp", "tg", "b", "n_reps", "t_pp", "t_tg", "flags"],
                {"t_pp": 4, "t_tg": 4}, source="combinations")
    r.heading("Rows without a result")
    counts = status_counts(runs)
    if failures.empty:
        r.text("Every row has a result.")
    else:
        r.text(f"{counts['skipped']} skipped, {counts['failed']} failed, {counts['timeout']} timed out; "
               "each with its reason:")
        r.table(failures, ["model", "build", "machine", "pp", "tg", "b", "rep", "status", "reason", "exit_code",
                           "signal"], {"exit_code": 0, "signal": 0}, source="failures")


def comparison_section(r: Report, tables: dict):
    summary = tables.get("compare_summary")
    r.heading("Comparison")
    if summary is None or summary.empty:
        r.text("One experiment, one build and one model: nothing to compare. Add builds or models to the "
               "config (they are compared within the run, jobs interleaved), or name other experiments "
               "in analysis.compare_with.")
        return
    unmatched = summary[summary["matched"] == 0]
    for (axis, baseline, note), group in unmatched.groupby(["axis", "baseline", "note"], sort=False):
        r.text(f"Not compared with {baseline} ({axis}), {note}: {', '.join(group['other'])}.")
    summary = summary[summary["matched"] > 0]
    if summary.empty:
        return
    r.text("Each metric divided by the baseline's, per matching combination: the geometric mean of those "
           "ratios, their range, and (with 3 or more repetitions on both sides) in how many combinations "
           "the two differ beyond the noise (their min–max ranges do not overlap).")
    apart = summary[~summary["same_run"].astype(bool)][["axis", "baseline", "other"]].drop_duplicates()
    for row in apart.itertuples():
        if row.axis == "machine":  # one experiment, but the scheduler decided when each machine's jobs ran
            r.text(f"{row.other} against {row.baseline} (machine): their jobs ran at different times (the "
                   "scheduler ran one machine's before the other's), so drift between those times is part of "
                   "the difference; repetitions and the noise test bound it.")
            continue
        r.text(f"{row.other} against {row.baseline} ({row.axis}): the rows come from different runs. Runs made "
               "at different times on a shared machine drift (±10% between runs minutes apart was measured "
               "here), so differences of that size are not evidence; compare them as an axis of one "
               "experiment instead.")
    r.table(summary, ["axis", "baseline", "other", "metric", "matched", "geomean_ratio", "min_ratio", "max_ratio",
                      "beyond_noise", "judged", "same_run", "drift", "beyond_drift", "note"],
            {"geomean_ratio": 3, "min_ratio": 3, "max_ratio": 3, "beyond_noise": 0, "judged": 0, "drift": 3,
             "beyond_drift": 0},
            source="compare_summary")


def machines_section(r: Report, tables: dict):
    """Which machine is ahead where, and how close each comes to its own limits."""
    machines = tables.get("compare_machines")
    if machines is None or machines.empty:
        return
    r.heading("Machines")
    ratios, summary = tables.get("compare"), tables.get("compare_summary")
    sentences = machine_verdict(ratios, summary) if ratios is not None and summary is not None else []
    r.text(" ".join(sentences) or "No combination was measured on more than one machine.")
    r.text("Each machine's achieved bandwidth and FLOP/s as a share of its own measured limits "
           "(empty where that machine's limits were not measured on the row's host):")
    r.table(machines, ["machine", "model", "build", "pp", "tg", "b", "s_pp", "s_tg", "bandwidth_gb_s", "bandwidth_pct",
                       "flops_g", "flops_pct", "valid"], {"bandwidth_pct": 0, "flops_pct": 0},
            source="compare_machines")


def build(runs: pd.DataFrame, tables: dict, figures: dict[str, tuple[str, str]], config: dict,
          limits: dict | list[dict] | None, thresholds: Thresholds) -> Report:
    r = Report()
    r.heading(f"llama-batched-bench study: {config.get('experiment', '')}", 1)
    summary_section(r, tables)
    figures = key_figures(r, figures)
    measurement_quality(r, runs, tables)
    provenance(r, runs, config, limits)
    machines_section(r, tables)
    caveats(r, runs, thresholds)
    q1(r, tables)
    q2_q3(r, tables)
    q4(r, tables, thresholds, runs)
    q5(r, tables)
    model_section(r, tables)
    latency_section(r, tables)
    hardware_section(r, tables, limits)
    flags_and_failures(r, runs, tables)
    comparison_section(r, tables)
    r.heading("Figures")
    for name, (png, caption) in figures.items():
        r.figure(name, png, caption)
    r.heading("Tables")
    r.text("Every derived table is in Parquet and CSV: " +
           ", ".join(f"{table_folder(name)}/{name}.csv" for name in tables) + ".")
    return r
