"""Figures and the report, from the seed's table and from names that try to break them."""

import html
import re

import pytest
from browser import first_screen_problems, open_page, outside_requests
from conftest import ROOT
from test_analysis import make_runs, seed_runs

from batchbench import figures
from batchbench.analysis.combinations import Thresholds
from batchbench.anonymise import anonymise
from batchbench.report import sections
from batchbench.report.render import write as write_report
from batchbench.tables import derive

CAPTIONS = {name: (ROOT / "report" / "figures" / f"{name}.rst").read_text().strip() for name in figures.FIGURES}
HOSTILE = "<script>alert(1)</script> $x$ & `rm -rf ~` $(id) ;"


def render(runs, folder, config=None, limits=None):
    tables = derive(runs, limits)
    drawn = {}
    for name in figures.FIGURES:
        png = folder / "figures" / f"{name}.png"
        figures.save(figures.make(name, tables), str(png), str(png.with_suffix(".svg")))
        drawn[name] = (str(png), CAPTIONS[name])
    content = sections.build(runs, tables, drawn, config or {"experiment": "x", "grid": {}}, limits, Thresholds())
    write_report(content, str(folder / "report.md"), str(folder / "report.html"))
    return (folder / "report.md").read_text(), (folder / "report.html").read_text()


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed")
    markdown, page = render(seed_runs(), folder, {"experiment": "seed", "grid": {"npp": [128, 256, 512]}})
    return folder, markdown, page


def test_figures_are_written_and_not_empty(seed_report):
    folder, _, _ = seed_report
    for name in figures.FIGURES:
        for suffix in (".png", ".svg"):
            path = folder / "figures" / f"{name}{suffix}"
            assert path.stat().st_size > 5000, path
    assert not list(folder.rglob("*.tmp*"))


def test_the_report_answers_with_the_seeds_numbers(seed_report):
    _, markdown, page = seed_report
    for text in (markdown, html.unescape(page)):
        assert "T_TG(B)/T_TG(1) = 1.26, 2.07, 4.25 for B = 2, 4, 8" in text
        assert ("saturation of S_TG at B = 4 (doubling B = 4 gains -3%, and no later doubling 10% or more), "
                "of S at B = 4") in text
        assert "As expected, T_PP is proportional to the prompt tokens" in text
        assert "equals the expected value in 17 of 17 combinations" in text
        assert "'prompt eval time' of 904505 ms (15.1 minutes) over 15888 tokens" in text and "1152 runs" in text
        # Q4 in the model's words, with this run's numbers
        assert "a decode step costs 127.4 ms at B = 1" in text and "the two meet at B* ≈ 2.2" in text
        assert "measured at B = 4" in text and "does not record its device" in text
        assert "lower bounds" in text
        assert "19 skipped, 0 failed, 0 timed out" in text
        assert "5.548" in text  # TTFT of PP=128 TG=128 B=1: 5.432 + 14.804/128 s
    assert "ΣT_TG of the 6 B = 1 rows (152.9 s)" in markdown


def test_the_summary_comes_first_and_its_numbers_are_the_tables(seed_report):
    folder, markdown, _ = seed_report
    tables = derive(seed_runs(), None)
    row = tables["summary"].iloc[0]
    combos, latency = tables["combinations"], tables["latency"]
    assert row["peak_s_tg"] == combos["s_tg"].max() == 16.69 and row["peak_b"] == 4
    b1 = latency[(latency["b"] == 1) & (latency["pp"] == 128) & (latency["tg"] == 128)].iloc[0]
    assert (row["b1_ttft_s"], row["b1_tpot_ms"]) == (b1["ttft_s"], b1["tpot_ms"])
    assert (row["skipped"], row["failed"], row["flagged"]) == (19, 0, 0) and row["saturation_b"] == 4
    assert row["model_crossover_b"] == tables["perf_model"]["crossover_b"].iloc[0]
    first = markdown.split("## ")[1]
    assert first.startswith("Summary")
    assert ("seed-table.md · imported: peak S_TG 16.7 tokens/s at B = 4 (PP 128, TG 128); S_TG saturates at "
            "B = 4 (in 1 of 6 PP × TG groups), the model's crossover B* = 2.2; one request alone (B = 1, PP 128, "
            "TG 128): TTFT 5.548 s, TPOT 115.7 ms; 17 rows measured, 19 skipped, 0 failed, 0 timed out, 0 of 17 "
            "combinations flagged.") in first
    # the key figures follow the summary, before the provenance
    assert markdown.index("figures/s_tg_vs_b.png") < markdown.index("## Provenance")


def test_a_report_without_perf_counters_speaks_of_none(tmp_path):
    runs = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 0.2 * b, "t_tg": 0.3 * b} for b in (1, 2, 4)])
    markdown, _ = render(runs, tmp_path)
    assert "904505" not in markdown and "seed" not in markdown.lower() and "prompt eval" not in markdown


def test_the_report_counts_and_lists_failed_rows(tmp_path):
    runs = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 0.2 * b, "t_tg": 0.3 * b} for b in (1, 2)])
    runs.loc[1, ["status", "reason", "exit_code"]] = ["failed", "llama.cpp: failed to find a memory slot", 1]
    markdown, page = render(runs, tmp_path)
    assert "0 skipped, 1 failed, 0 timed out" in markdown
    assert "failed to find a memory slot" in markdown and "failed to find a memory slot" in page


def test_hostile_names_stay_inert_in_html_and_figures(tmp_path):
    runs = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 0.2 * b, "t_tg": 0.3 * b, "model": HOSTILE}
                      for b in (1, 2, 4)])
    _, page = render(runs, tmp_path)
    assert "<script>" not in page and html.escape(HOSTILE) in page
    # names are drawn literally: a title with `$` is not read as mathtext
    tables = derive(runs, None)
    figure = figures.make("s_vs_b", tables)
    assert HOSTILE in figure._suptitle.get_text()
    assert all(not t.get_parse_math() for t in [figure._suptitle])


def test_the_report_opens_in_a_real_browser(seed_report):
    folder, _, page = seed_report
    result = open_page(folder / "report.html", ROOT / "tests" / "artifacts" / "report-seed.png")
    assert outside_requests(result, folder / "report.html") == []
    assert len(result["images"]) == len(figures.FIGURES)
    assert all(complete and width > 100 and height > 100 for complete, width, height in result["images"])
    assert (ROOT / "tests" / "artifacts" / "report-seed.png").stat().st_size > 10000
    # the answer in the first screen of a 1366 × 768 window, and nothing wider than the page
    assert first_screen_problems(result) == [], result["layout"]
    # the check can fail: an outside image is seen, and it does not render
    bad = folder / "bad.html"
    bad.write_text(re.sub("<body>", '<body><img src="https://example.invalid/x.png">', page, count=1))
    result = open_page(bad, folder / "bad.png")
    assert outside_requests(result, bad) == ["https://example.invalid/x.png"]
    assert result["images"][0][1] == 0


def test_the_layout_check_can_fail(seed_report, tmp_path):
    """A page wider than the window, with its summary pushed below the first screen, is caught."""
    _, _, page = seed_report
    wide = tmp_path / "wide.html"
    block = '<div style="height:900px;width:2000px"></div>'
    wide.write_text(page.replace("<h2>Summary</h2>", block + "<h2>Summary</h2>", 1))
    problems = first_screen_problems(open_page(wide, tmp_path / "wide.png"))
    assert any("scrolls sideways" in p for p in problems), problems
    assert any(p.startswith("the summary ends at") for p in problems)
    assert any(p.startswith("the figure ends at") for p in problems)


def test_repetitions_are_drawn_as_medians_with_their_spread():
    rows = [{"pp": 64, "tg": 16, "b": b, "t_pp": 0.5 * b, "t_tg": t * b, "rep": i}
            for b in (1, 2, 4) for i, t in enumerate((1.0, 1.2, 0.8), 1)]
    tables = derive(make_runs(rows), None)
    axes = figures.make("s_vs_b", tables).axes[0]
    line = axes.get_lines()[0]
    assert list(line.get_ydata()) == pytest.approx(list(tables["combinations"]["s"]))
    bars = [c for c in axes.collections if type(c).__name__ == "LineCollection"]
    assert bars and len(bars[0].get_segments()) == 3  # one min–max bar per B


def test_a_run_where_every_job_failed_still_gets_its_report(tmp_path):
    runs = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 1.0, "t_tg": 1.0} for b in (1, 2)])
    runs["status"], runs["reason"] = "timeout", "no result within run.timeout_s = 5 s"
    markdown, _ = render(runs, tmp_path)
    assert "0 ok, 0 skipped, 0 failed, 2 timed out" in markdown
    assert "no result within run.timeout_s" in markdown and "nothing to report here" in markdown
    assert (tmp_path / "figures" / "s_vs_b.png").stat().st_size > 1000


def test_an_anonymised_report_names_no_host_path_or_job(tmp_path):
    runs = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 0.2 * b, "t_tg": 0.3 * b} for b in (1, 2)],
                     host_name="secret-node-7", job_id="998877", job_node="secret-node-7",
                     model_info={"path": "/home/alice/models/m.gguf"},
                     measurements=[{"attempt": 1, "status": "failed", "stderr_tail": "user alice: lost"},
                                   {"attempt": 2, "status": "ok", "disturbed": False}])
    limits = {"host_name": "secret-node-7", "bandwidth_gb_s": 10.0, "flops_g": 10.0,
              "bandwidth_method": "triad", "flops_method": "gemm"}
    shared, limits = anonymise(runs, limits)
    assert "alice" not in shared["measurements"].iloc[0] and '"attempt": 2' in shared["measurements"].iloc[0]
    markdown, page = render(shared, tmp_path, limits=limits)
    for secret in ("secret-node", "998877", "alice"):
        assert secret not in markdown and secret not in page
    assert "host-1" in markdown
    assert "host-1" in figures.make("s_vs_b", derive(shared, limits))._suptitle.get_text()


@pytest.mark.parametrize("name", figures.FIGURES)
def test_no_figure_prints_raw_mathtext(seed_report, name):
    tables = derive(seed_runs(), None)
    figure = figures.make(name, tables)
    figure.canvas.draw()
    texts = [t.get_text() for ax in figure.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]]
    texts += [t.get_text() for t in figure.findobj(lambda o: hasattr(o, "get_text"))]
    assert not [t for t in texts if "$" in t or "\\mathdefault" in t]


@pytest.mark.parametrize("rows", [
    [{"pp": 64, "tg": 16, "b": 4, "t_pp": 0.01, "t_tg": 0.01}],                       # one row, no B = 1
    [{"pp": 0, "tg": 128, "b": b, "t_pp": 0.9, "t_tg": 10.0 * b} for b in (2, 4)],    # PP = 0
    [{"pp": pp, "tg": 16, "b": 1, "t_pp": 0.5, "t_tg": 1.0} for pp in (64, 128)],     # only B = 1
], ids=["one-row", "pp0", "b1-only"])
def test_thin_data_gets_figures_and_a_report(tmp_path, rows):
    markdown, page = render(make_runs(rows), tmp_path)
    assert "## Q4" in markdown and "</html>" in page
    assert all((tmp_path / "figures" / f"{name}.png").stat().st_size > 1000 for name in figures.FIGURES)


def test_measurement_quality_section(tmp_path):
    import json

    from test_analysis import disturbed_series

    runs = disturbed_series(9.8, 4, disturbed=False, disturbed_reason="")
    runs["cpu_share"], runs["cpu_pressure_some"], runs["remeasured"] = 0.97, 0.02, 0
    runs["measurements"] = json.dumps([{"attempt": 1, "disturbed": False}])
    again = runs.index[runs["b"] == 2]  # disturbed once, then measured clean
    runs.loc[again, "remeasured"] = 1
    runs.loc[again, "measurements"] = json.dumps([{"attempt": 1, "disturbed": True},
                                                  {"attempt": 2, "disturbed": False}])
    still = runs.index[runs["b"] == 16]  # disturbed at every attempt
    runs.loc[still, ["disturbed", "remeasured", "attempts", "cpu_share"]] = [True, 2, 3, 0.55]
    runs.loc[still, "disturbed_reason"] = "the benchmark got 1.1 of its 2 threads' CPU time (55%)"
    runs.loc[still, "measurements"] = json.dumps([{"attempt": i, "disturbed": True} for i in (1, 2, 3)])
    runs["memory_pressure_some"] = None
    markdown, _ = render(runs, tmp_path)
    section = markdown.split("## Measurement quality")[1].split("\n## ")[0]
    assert markdown.index("## Measurement quality") < markdown.index("## Q1")
    assert "Of 6 jobs with a result, 2 were disturbed at their first measurement, 2 were measured again, and 1 " \
           "were still disturbed" in section
    assert "got 1.1 of its 2 threads" in section and "min 0.55" in section and "median 0.97" in section
    assert "Not available on this machine (left null): " in section and "memory pressure (PSI)" in section
    assert "Outliers across B" in section and "1 of 6 combinations" in section and "at B=4 is" in section
    assert "computed from the 4 combinations neither disturbed nor outliers; they leave out 2" in section
    for question in ("## Q2, Q3", "## Q4", "## Q5"):
        part = markdown.split(question)[1].split("\n## ")[0]
        assert "Computed without the 2 disturbed or outlier combination(s)" in part and "B=16" in part
    # its numbers are the measurement_quality table's
    q = derive(runs, None)["measurement_quality"].iloc[0]
    assert (q["watched"], q["disturbed_first"], q["remeasured"], q["still_disturbed"]) == (6, 2, 2, 1)
    assert (q["outliers"], q["combinations"], q["left_out"], q["trusted"]) == (1, 6, 2, 4)
    assert f"min {q['cpu_share_min']:.2f}" in section and q["counters_missing"] in section


def test_imported_rows_have_no_counters_only_the_check_across_b(seed_report):
    _, markdown, _ = seed_report
    section = markdown.split("## Measurement quality")[1].split("\n## ")[0]
    assert "Every row was imported" in section and "0 of 17 combinations" in section


def test_the_drift_sentinel_in_the_report(tmp_path):
    from test_analysis import make_runs

    rows = [{"pp": 128, "tg": 128, "b": b, "t_pp": 0.1 * b, "t_tg": 1.0 + 0.2 * b} for b in (1, 2, 4)]
    rows += [{"pp": 128, "tg": 128, "b": 2, "t_pp": 0.2, "t_tg": t, "rep": 1 + k}
             for k, t in enumerate((1.4, 1.47, 1.33), start=1)]
    runs = make_runs(rows)
    runs.loc[runs["rep"] > 1, "sentinel"] = runs.loc[runs["rep"] > 1, "rep"] - 1
    markdown, _ = render(runs, tmp_path)
    section = markdown.split("## Measurement quality")[1].split("\n## ")[0]
    assert "Drift sentinel PP=128 TG=128 B=2, measured 3 times" in section and "S_TG 10.0%" in section


def test_q4_explains_with_the_fitted_model_in_bytes_and_seconds(tmp_path):
    from test_perf_model import generated

    shape = {"model_info": {"decode_bytes": 200_000_000, "block_params": 80_000_000, "output_params": 20_000_000,
                            "n_layer": 4, "n_head_kv": 4, "head_dim": 64}, "host_name": "h"}
    limits = {"host_name": "h", "bandwidth_gb_s": 20.0, "flops_g": 100.0, "bandwidth_method": "triad",
              "flops_method": "gemm"}
    markdown, _ = render(generated(**shape), tmp_path, limits=limits)
    q4 = markdown[markdown.index("## Q4"):markdown.index("## Q5")]
    model = derive(generated(**shape), limits)["perf_model"].iloc[0]
    assert (f"a decode step costs {model['step_ms_b1']:.1f} ms at B = 1, {model['memory_ms']:.1f} ms of it streaming "
            f"200 MB of weights at {model['bandwidth_gb_s']:.1f} GB/s") in q4
    assert f"the two meet at B* ≈ {model['crossover_b']:.1f}" in q4 and 5 < model["crossover_b"] < 7
    assert "used the CPU only: explanations in terms of GPU warps or L2 cache misses do not apply" in q4
    assert "49% of the measured 20.0 GB/s memory bandwidth" in markdown  # B = 1 in the summary
    assert "The machine's ridge point (compute roof / bandwidth roof) is 5.0 FLOPs per byte" in markdown
