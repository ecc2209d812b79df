"""The figures of the decode performance model and the roofline (see perf_model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from .analysis.combinations import SERIES
from .figures import LINESTYLES, empty_figure, log2_b_axis, plt, scatter_valid, series_label, title
from .perf_model import KEYS


def fig_perf_model(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    """Per series (three at most): measured S_TG against B per PP and TG, the model over the
    measured B (solid) and where it predicts (dashed), and the crossover B*."""
    model, fit_rows, predicted = tables["perf_model"], tables["perf_model_fit"], tables["perf_predictions"]
    fitted = model[model["memory_ms"].notna()].head(3)
    if fitted.empty:
        why = "; ".join(model["note"].dropna().unique()) or "no valid rows"
        return empty_figure("performance model", f"not fitted: {why}")
    fig, axes = plt.subplots(1, len(fitted), figsize=(5.6 * len(fitted), 4.0), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, entry in zip(axes.flat, fitted.itertuples(index=False), strict=False):
        keys = {k: getattr(entry, k) for k in KEYS}

        def mine(frame, keys=keys):
            return frame[np.logical_and.reduce([(frame[k] == v) if pd.notna(v) else frame[k].isna()
                                                for k, v in keys.items()])]

        rows, ahead = mine(fit_rows), mine(predicted)
        ahead = ahead[ahead["shape"] == str(entry.model)]
        for i, ((pp, tg), group) in enumerate(rows.groupby(["pp", "tg"], sort=True)):
            color = colors[i % len(colors)]
            group = group.sort_values("b")
            scatter_valid(ax, group["b"], group["s_tg"], np.ones(len(group), bool), color, f"PP={pp} TG={tg}")
            ax.plot(group["b"], group["model_s_tg"], color=color, linewidth=1)
            more = ahead[(ahead["pp"] == pp) & (ahead["tg"] == tg) & (ahead["b"] > group["b"].max())]
            if len(more):
                line = pd.concat([group[["b", "model_s_tg"]].tail(1).rename(columns={"model_s_tg": "s_tg"}),
                                  more[["b", "s_tg"]]]).sort_values("b")
                ax.plot(line["b"], line["s_tg"], color=color, linewidth=1, linestyle="--")
        ax.axvline(entry.crossover_b, color="black", linestyle=":", linewidth=1,
                   label=f"B* = {entry.crossover_b:.1f} (model)")
        log2_b_axis(ax, sorted(set(rows["b"]) | set(ahead["b"])))
        ax.set_ylabel("S_TG (tokens/s)")
        state = "fits" if entry.fits else "does not fit: not used for predictions"
        ax.set_title(f"{series_label(tuple(keys[k] for k in SERIES)) or 'series'}\n"
                     f"t_mem {entry.memory_ms:.1f} ms, t_seq {entry.compute_ms_per_seq:.2f} ms, "
                     f"R² {entry.r2:.2f} ({state})", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(title("Decode model: measured (points), fitted (solid), predicted (dashed)", fit_rows))
    fig.tight_layout()
    return fig


def fig_roofline(roofline: pd.DataFrame) -> plt.Figure:
    """FLOP/s achieved against FLOPs per byte, prompt and decode points apart, under the roofs."""
    if roofline.empty:
        return empty_figure("roofline", "model size and shape unknown (imported rows)")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for phase, color, marker in (("prompt", "tab:orange", "^"), ("decode", "tab:blue", "o")):
        part = roofline[roofline["phase"] == phase]
        valid = part["valid"].astype(bool).to_numpy()
        ax.scatter(part["intensity"][valid], part["gflops"][valid], color=color, marker=marker, s=18,
                   label=f"{phase} ({len(part)})", zorder=3)
        ax.scatter(part["intensity"][~valid], part["gflops"][~valid], facecolors="none", edgecolors=color,
                   marker=marker, s=18, zorder=3)
    # each machine's own roofs (one pair without `machines`)
    roofs = roofline[["machine", "bandwidth_limit_gb_s", "flops_limit_g"]].dropna().drop_duplicates("machine")
    x = np.geomspace(roofline["intensity"].min() / 2, roofline["intensity"].max() * 2, 200)
    for i, roof in enumerate(roofs.itertuples(index=False)):
        ax.plot(x, np.minimum(roof.bandwidth_limit_gb_s * x, roof.flops_limit_g), color="black", linewidth=1.2,
                linestyle=LINESTYLES[i % len(LINESTYLES)],
                label=(f"{roof.machine} " if roof.machine else "") + f"roofs: {roof.bandwidth_limit_gb_s:.1f} GB/s, "
                f"{roof.flops_limit_g:.0f} GFLOP/s (float32)")
    if roofs.empty:
        ax.text(0.02, 0.95, "limits not measured for this host", transform=ax.transAxes, fontsize=7, va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers: the default log labels are mathtext, switched off here
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.legend(fontsize=7)
    ax.set_title(title("Roofline: prompt and decode phases", roofline), fontsize=9)
    fig.tight_layout()
    return fig


def fig_predictions(predicted: pd.DataFrame) -> plt.Figure:
    """Predicted S_TG and TPOT against B, a row per predicted shape (three at most), a line per PP
    at the smallest TG; all dashed: nothing here was measured."""
    if predicted.empty:
        return empty_figure("predictions", "no series' model fits: nothing predicted")
    # a row per shape and machine: each machine's predictions from its own fit
    shapes = list(dict.fromkeys(zip(predicted["shape"], predicted["machine"], strict=True)))[:3]
    fig, axes = plt.subplots(len(shapes), 2, figsize=(10, 3.4 * len(shapes) + 0.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (left, right), (shape, machine) in zip(axes, shapes, strict=True):
        part = predicted[(predicted["shape"] == shape) & (predicted["machine"] == machine)]
        where = f" on {machine}" if isinstance(machine, str) and machine else ""
        part = part[part["tg"] == part["tg"].min()]
        for i, (pp, group) in enumerate(part.groupby("pp", sort=True)):
            group = group.sort_values("b")
            for ax, column in ((left, "s_tg"), (right, "tpot_ms")):
                ax.plot(group["b"], group[column], color=colors[i % len(colors)], linestyle="--", marker=".",
                        label=f"PP={pp} TG={group['tg'].iloc[0]}")
        for ax, label in ((left, "predicted S_TG (tokens/s)"), (right, "predicted TPOT (ms)")):
            log2_b_axis(ax, part["b"])
            ax.set_ylabel(label)
            source = part["model"].iloc[0]
            ax.set_title(f"{shape}{where}: B and prompts not measured" if shape == str(source) else
                         f"{shape}: {source}'s rates on {machine or 'this machine'}", fontsize=8)
        right.legend(fontsize=7)
    fig.suptitle(title("Predicted, not measured: S_TG and TPOT from the fitted decode model", predicted))
    fig.tight_layout()
    return fig
