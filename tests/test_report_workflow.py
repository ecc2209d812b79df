"""The analysis rules run by Snakemake: an experiment of the seed's imported log, its report in a
real browser, `snakemake --report`, and a comparison with another experiment."""

import html
import zipfile

import pandas as pd
import pytest
from browser import open_page, outside_requests
from conftest import FIXTURES, ROOT
from workflow import snakemake

from batchbench.outputs import FIGURES, TABLES

SEED = str(FIXTURES / "logs" / "seed-table.md")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    snakemake(folder, {"experiment": "seed-a", "models": [], "imports": [SEED]})
    return folder


def test_the_default_target_writes_tables_figures_and_report(workdir):
    results = workdir / "results" / "seed-a"
    for table in ("combinations", "generation_scaling", "saturation", "latency", "perf_reconciliation"):
        assert (results / "analysis" / f"{table}.parquet").is_file()
        assert (results / "analysis" / f"{table}.csv").stat().st_size > 0
    scaling = pd.read_parquet(results / "analysis" / "generation_scaling.parquet")
    series = scaling[(scaling["pp"] == 128) & (scaling["tg"] == 128)].set_index("b")
    assert [round(series.loc[b, "t_tg_ratio"], 2) for b in (2, 4, 8)] == [1.26, 2.07, 4.25]
    assert not (results / "machine").exists()  # imported rows were measured elsewhere
    markdown = (results / "report.md").read_text()
    assert "1.26, 2.07, 4.25" in markdown and "nothing to compare" in markdown
    page = results / "report.html"
    assert "1.26, 2.07, 4.25" in html.unescape(page.read_text())
    shown = open_page(page, ROOT / "tests" / "artifacts" / "report-workflow.png")
    assert outside_requests(shown, page) == []
    assert len(shown["images"]) == len(FIGURES) and all(c and w > 100 for c, w, _ in shown["images"])


def test_snakemake_report_collects_the_captioned_figures(workdir):
    snakemake(workdir, {"experiment": "seed-a", "models": [], "imports": [SEED]}, "--report", "snakemake-report.zip")
    names = zipfile.ZipFile(workdir / "snakemake-report.zip").namelist()
    figures = {n.rsplit("/", 1)[-1] for n in names if n.endswith(".png")}
    assert figures == {f"{name}.png" for name in [*FIGURES, "compare"]}, names
    tables = {n.rsplit("/", 1)[-1] for n in names if n.endswith(".csv")}
    assert tables == {f"{name}.csv" for name in [*TABLES, "compare_summary"]}, names


def twice_as_slow(line: str) -> str:
    """A row of the seed's table as a machine half as fast would print it."""
    cells = line.strip().strip("|").split("|")
    if len(cells) != 10 or not cells[0].strip().isdigit():
        return line
    values = [float(c) for c in cells]
    times = {4, 6, 8}  # T_PP, T_TG, T; the speeds are at 5, 7, 9
    out = [f"{int(v)}" if i < 4 else f"{v * 2:.3f}" if i in times else f"{v / 2:.2f}" for i, v in enumerate(values)]
    return "| " + " | ".join(out) + " |"


def test_an_experiment_compared_with_another(workdir):
    slower = workdir / "slower-machine.md"
    slower.write_text("\n".join(twice_as_slow(line) for line in open(SEED).read().splitlines()))
    config = {"experiment": "seed-b", "models": [], "imports": [str(slower)],
              "analysis": {"compare_with": ["seed-a"]}}
    snakemake(workdir, config)
    summary = pd.read_parquet(workdir / "results" / "seed-b" / "comparison" / "compare_summary.parquet")
    assert set(summary["axis"]) == {"experiment"} and set(summary["other"]) == {"seed-a"}
    # the baseline is this experiment (twice as slow): seed-a's times are half, its speeds double
    ratio = summary.set_index("metric")["geomean_ratio"]
    assert [ratio[m] for m in ("t_pp", "t_tg", "t")] == pytest.approx([0.5] * 3, rel=1e-3)
    assert [ratio[m] for m in ("s_pp", "s_tg", "s")] == pytest.approx([2.0] * 3, rel=2e-3)
    assert (summary["matched"] == 17).all() and not summary["same_run"].any()
    assert "come from different runs" in (workdir / "results" / "seed-b" / "report.md").read_text()


def test_comparing_with_an_experiment_never_collected_is_a_config_error(workdir):
    config = {"experiment": "seed-c", "models": [], "imports": [SEED],
              "analysis": {"compare_with": ["nope"]}}
    result = snakemake(workdir, config, "-n", check=False)
    assert result.returncode != 0
    assert "analysis.compare_with[0]: 'nope' has no results/nope/runs.parquet" in result.stderr
    assert "seed-a" in result.stderr and "Traceback" not in result.stderr
