"""The figures of an experiment (PNG and SVG), from the derived tables.

Each figure has a panel per TG (or per series), a line per PP and series, B on a log2 axis,
medians drawn filled when valid and hollow when flagged. Names are printed literally: text is
never read as mathtext, so a `$` in a model name stays a `$`.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, ScalarFormatter  # noqa: E402

from .analysis.combinations import SERIES, prompt_tokens  # noqa: E402
from .files import atomic_path  # noqa: E402
from .outputs import FIGURES  # noqa: E402, F401  (the names, for the scripts)

plt.rcParams.update({"text.parse_math": False, "figure.dpi": 100, "savefig.dpi": 110,
                     "axes.grid": True, "grid.alpha": 0.3, "svg.hashsalt": "batchbench",
                     "font.size": 9})
LINESTYLES = ["-", "--", ":", "-."]



def series_label(key: tuple) -> str:
    """A series' model, build, machine and options (the experiment is in the title)."""
    parts = dict(zip(SERIES, key, strict=True))
    return " · ".join(str(parts[k]) for k in ("model", "build", "machine", "config")
                      if isinstance(parts[k], str) and parts[k])


def title(name: str, table: pd.DataFrame) -> str:
    """The figure's subject, then what it shows it for: models, builds, hosts."""
    parts = []
    for column in ("model", "build", "host_name"):
        if column in table:
            values = sorted({str(v) for v in table[column].dropna()})
            if values:
                parts.append(", ".join(values[:4]) + (" …" if len(values) > 4 else ""))
    return f"{name}\n{' | '.join(parts)}"


def log2_b_axis(ax, values) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted({int(v) for v in values if v > 0})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.set_xlabel("B (parallel sequences)")


def draw(ax, x, y, valid, label, color, style, low=None, high=None) -> None:
    """A line through the medians; markers filled where valid, hollow where flagged; the
    repetitions' min–max as error bars where there are some."""
    order = np.argsort(np.asarray(x))
    x, y, valid = np.asarray(x)[order], np.asarray(y, float)[order], np.asarray(valid, bool)[order]
    ax.plot(x, y, linestyle=style, color=color, label=label)
    scatter_valid(ax, x, y, valid, color)
    if low is not None and np.isfinite(np.asarray(low, float)).any():
        low, high = np.asarray(low, float)[order], np.asarray(high, float)[order]
        spread = np.nan_to_num(np.vstack([y - low, high - y]))
        ax.errorbar(x, y, yerr=spread, fmt="none", ecolor=color, alpha=0.6, capsize=2)


def scatter_valid(ax, x, y, valid, color, label=None, size=22) -> None:
    """Points filled where valid, hollow where flagged."""
    valid = np.asarray(valid, bool)
    x, y = np.asarray(x), np.asarray(y)
    ax.scatter(x[valid], y[valid], color=color, label=label, s=size, zorder=3)
    ax.scatter(x[~valid], y[~valid], facecolors="none", edgecolors=color, s=size, zorder=3)


def panels(table: pd.DataFrame, by: str, ncols_max: int = 3):
    values = sorted(table[by].dropna().unique()) or [None]
    ncols = min(len(values), ncols_max)
    nrows = -(-len(values) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 0.6), squeeze=False)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    return fig, list(zip(values, axes.flat, strict=False))


def lines_over_b(table: pd.DataFrame, metric: str, ylabel: str, name: str, ideal=None) -> plt.Figure:
    """metric against B, a panel per TG, a line per series and PP; `ideal(group)` adds a dashed
    reference for each line."""
    fig, cells = panels(table, "tg")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for tg, ax in cells:
        data = table[table["tg"] == tg]
        for s, (key, series) in enumerate(data.groupby(SERIES, dropna=False, sort=True)):
            for i, (pp, group) in enumerate(series.groupby("pp", sort=True)):
                color = colors[i % len(colors)]
                label = f"PP={pp}" + (f" {series_label(key)}" if data[SERIES].drop_duplicates().shape[0] > 1 else "")
                spread = [group.get(f"{metric}_{end}") for end in ("min", "max")]
                draw(ax, group["b"], group[metric], group["valid"], label, color, LINESTYLES[s % 4], *spread)
                if ideal is not None:
                    reference = ideal(group.sort_values("b"))
                    if reference is not None:
                        ax.plot(group.sort_values("b")["b"], reference, color=color, alpha=0.4,
                                linestyle=(0, (2, 3)), linewidth=1)
        log2_b_axis(ax, data["b"])
        if ideal is not None:  # the ideal grows with B: a log axis keeps the measured lines readable
            ax.set_yscale("log", base=2)
            # plain numbers: the default log labels are mathtext, which is switched off here
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
        ax.set_title(f"TG = {tg}")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(title(name, table))
    fig.tight_layout()
    return fig


def ideal_s_tg(group: pd.DataFrame):
    base = group[group["b"] == 1]
    return None if base.empty else base["s_tg"].iloc[0] * group["b"]


def finish(fig: plt.Figure, ax, xlabel: str, ylabel: str, heading: str) -> plt.Figure:
    """Labels, legend and title of a one-panel figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_title(heading, fontsize=9)
    fig.tight_layout()
    return fig


def fig_t_pp_fit(table: pd.DataFrame, prompt: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    data = table[table["pp"] > 0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (b, group) in enumerate(data.assign(tokens=prompt_tokens).groupby("b", sort=True)):
        color = colors[i % len(colors)]
        scatter_valid(ax, group["tokens"], group["t_pp"], group["valid"], color, f"B={b}")
        fit = prompt[(prompt["b"] == b) & prompt["slope_ms_per_token"].notna()]
        for row in fit.itertuples():
            x = np.array([0, group["tokens"].max()])
            ax.plot(x, (row.slope_ms_per_token * x + row.intercept_ms) / 1000, color=color, alpha=0.6,
                    linewidth=1)
    return finish(fig, ax, "prompt tokens B·PP", "T_PP (s)", title("T_PP against prompt tokens", table))


def fig_latency(latency: pd.DataFrame) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = list(latency.groupby(SERIES + ["pp", "tg"], dropna=False, sort=True))
    for i, (key, group) in enumerate(groups):
        label = f"PP={key[-2]} TG={key[-1]}" + (f" {series_label(key[:-2])}" if len(groups) > 1 and
                                              latency[SERIES].drop_duplicates().shape[0] > 1 else "")
        color = colors[i % len(colors)]
        draw(left, group["b"], group["ttft_s"], group["valid"], label, color, "-")
        draw(right, group["b"], group["tpot_ms"], group["valid"], label, color, "-")
    for ax, ylabel in ((left, "time to first token (s)"), (right, "time per output token (ms)")):
        log2_b_axis(ax, latency["b"])
        ax.set_ylabel(ylabel)
    right.legend(fontsize=7)
    fig.suptitle(title("Latency: TTFT = T_PP + T_TG/TG, TPOT = T_TG/TG", latency))
    fig.tight_layout()
    return fig


def fig_frontier(latency: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (key, group) in enumerate(latency.groupby(SERIES, dropna=False, sort=True)):
        color = colors[i % len(colors)]
        scatter_valid(ax, group["tpot_ms"], group["s_tg"], group["valid"], color,
                      series_label(key) or "combinations", size=18)
        front = group[group["pareto"]].sort_values("tpot_ms")
        ax.plot(front["tpot_ms"], front["s_tg"], color=color, linewidth=1.2)
        for row in front.itertuples():
            ax.annotate(f"B={row.b} PP={row.pp} TG={row.tg}", (row.tpot_ms, row.s_tg), fontsize=6,
                        xytext=(3, -8), textcoords="offset points")
    return finish(fig, ax, "time per output token (ms)", "S_TG (tokens/s)",
                  title("Throughput–latency frontier", latency))


def fig_heatmap(table: pd.DataFrame) -> plt.Figure:
    keys = table.groupby(SERIES + ["tg"], dropna=False, sort=True)
    fig, cells = plt.subplots(1, max(keys.ngroups, 1), figsize=(4.4 * max(keys.ngroups, 1), 3.8), squeeze=False)
    for ax, (key, group) in zip(cells.flat, keys, strict=False):
        grid = group.pivot_table(index="pp", columns="b", values="s", aggfunc="median")
        image = ax.imshow(grid.to_numpy(float), aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(len(grid.columns)), [str(b) for b in grid.columns])
        ax.set_yticks(range(len(grid.index)), [str(p) for p in grid.index])
        ax.grid(False)
        flagged = group.pivot_table(index="pp", columns="b", values="valid", aggfunc="all")
        for (r, c), value in np.ndenumerate(grid.to_numpy(float)):
            if np.isfinite(value):  # a flagged cell is starred (a heatmap has no hollow points)
                star = "" if bool(flagged.iloc[r, c]) else "*"
                ax.text(c, r, f"{value:.0f}{star}", ha="center", va="center", fontsize=7, color="white")
        ax.set_xlabel("B")
        ax.set_ylabel("PP")
        ax.set_title(f"TG = {key[-1]} {series_label(key[:-1])}", fontsize=8)
        fig.colorbar(image, ax=ax, label="S (tokens/s)")
    fig.suptitle(title("S over PP × B", table))
    fig.tight_layout()
    return fig


def fig_bandwidth(hardware: pd.DataFrame) -> plt.Figure:
    fig = lines_over_b(hardware, "bandwidth_gb_s", "achieved bandwidth (GB/s)",
                       "Memory bandwidth achieved in generation")
    limits = hardware["bandwidth_limit_gb_s"].dropna()
    for ax in fig.axes:
        if ax.get_visible() and len(limits):
            ax.axhline(limits.iloc[0], color="black", linestyle="--", linewidth=1,
                       label=f"measured limit {limits.iloc[0]:.0f} GB/s")
            ax.legend(fontsize=7)
        elif ax.get_visible():
            ax.text(0.02, 0.95, "limit not measured for this host", transform=ax.transAxes, fontsize=7,
                    va="top")
    return fig


def fig_compare(ratios: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """Per compared axis: the geometric mean ratio of each metric to the baseline (bars) and every
    matched combination's ratio (points)."""
    if summary.empty:
        return empty_figure("comparison", "one experiment, build and model: nothing to compare")
    summary = summary[summary["matched"] > 0]
    if summary.empty:
        return empty_figure("comparison", "no combination matched between the compared runs")
    axes_compared = list(dict.fromkeys(summary["axis"]))
    fig, cells = plt.subplots(1, len(axes_compared), figsize=(6.4 * len(axes_compared), 4.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, axis in zip(cells.flat, axes_compared, strict=True):
        part = summary[summary["axis"] == axis]
        metrics = list(dict.fromkeys(part["metric"]))
        others = list(dict.fromkeys(part["other"]))
        width = 0.8 / len(others)
        for i, other in enumerate(others):
            rows = part[part["other"] == other].set_index("metric").reindex(metrics)
            x = np.arange(len(metrics)) + (i - (len(others) - 1) / 2) * width
            ax.bar(x, rows["geomean_ratio"], width=width * 0.9, color=colors[i % len(colors)], alpha=0.6,
                   label=f"{other} (geometric mean)")
            points = ratios[(ratios["axis"] == axis) & (ratios["other"] == other)]
            for j, metric in enumerate(metrics):
                values = points.loc[points["metric"] == metric, "ratio"]
                ax.scatter(np.full(len(values), x[j]), values, s=8, color=colors[i % len(colors)], zorder=3)
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_xticks(range(len(metrics)), [m.upper() for m in metrics])
        ax.set_ylabel(f"ratio to {part['baseline'].iloc[0]}")
        ax.set_title(f"{axis}: against {part['baseline'].iloc[0]}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("Comparison: each metric divided by the baseline's, per matching combination")
    fig.tight_layout()
    return fig


def empty_figure(name: str, why: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{name}: {why}", ha="center", va="center", wrap=True)
    return fig


def make(name: str, tables: dict[str, pd.DataFrame]) -> plt.Figure:
    table = tables["combinations"]
    if table.empty:
        return empty_figure(name, "no measured combination")
    if name in ("perf_model", "roofline", "predictions"):
        from . import model_figures

        drawn = {"perf_model": lambda: model_figures.fig_perf_model(tables),
                 "roofline": lambda: model_figures.fig_roofline(tables["roofline"]),
                 "predictions": lambda: model_figures.fig_predictions(tables["perf_predictions"])}
        return drawn[name]()
    if name == "s_vs_b":
        return lines_over_b(table, "s", "S (tokens/s)", "Total throughput S")
    if name == "s_tg_vs_b":
        return lines_over_b(table, "s_tg", "S_TG (tokens/s)", "Generation throughput S_TG", ideal_s_tg)
    if name == "t_tg_ratio":
        scaling = tables["generation_scaling"].merge(table[SERIES + ["pp", "tg", "b", "host_name"]],
                                                     on=SERIES + ["pp", "tg", "b"])
        if scaling["t_tg_ratio"].isna().all():
            return empty_figure(name, "no B = 1 row: no baseline")
        return lines_over_b(scaling, "t_tg_ratio", "T_TG(B) / T_TG(1)", "Generation time ratio",
                            lambda group: group["b"].astype(float))
    if name == "t_pp_fit":
        if not (table["pp"] > 0).any():
            return empty_figure(name, "no row with PP > 0")
        return fig_t_pp_fit(table, tables["prompt_phase"])
    latency = tables["latency"].merge(table[SERIES + ["pp", "tg", "b", "host_name"]], on=SERIES + ["pp", "tg", "b"])
    if name == "latency":
        return fig_latency(latency)
    if name == "frontier":
        return fig_frontier(latency)
    if name == "s_heatmap":
        return fig_heatmap(table)
    if name == "bandwidth":
        if tables["hardware"]["bandwidth_gb_s"].isna().all():
            return empty_figure(name, "model size and shape unknown (imported rows)")
        return fig_bandwidth(tables["hardware"])
    raise ValueError(f"unknown figure {name!r}")


def save(fig: plt.Figure, png: str, svg: str) -> None:
    """Both formats, neither ever half-written."""
    for path in (png, svg):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, metadata={"Date": None} if tmp.suffix == ".svg" else None)
    plt.close(fig)


def fig_machines(machines: pd.DataFrame) -> plt.Figure:
    """S_TG against B, a line per machine (and per PP, TG, model, build and options where they vary)."""
    if machines.empty:
        return empty_figure("machines", "no machines configured")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    others = [c for c in ("model", "build", "config", "pp", "tg") if machines[c].nunique() > 1]
    names = list(dict.fromkeys(machines["machine"]))
    for key, group in machines.groupby(["machine", *others], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        label = " · ".join([str(key[0]), *(f"{c.upper()}={v}" if c in ("pp", "tg") else str(v)
                                           for c, v in zip(others, key[1:], strict=True))])
        draw(ax, group["b"], group["s_tg"], group["valid"], label, colors[names.index(key[0]) % len(colors)],
             LINESTYLES[0], group["s_tg_min"], group["s_tg_max"])
    log2_b_axis(ax, machines["b"])
    return finish(fig, ax, "B (parallel sequences)", "S_TG (tokens/s)", "Generation speed by machine")
