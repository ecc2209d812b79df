"""The report rendered: report.md and a self-contained report.html from the same blocks, every
string from the data escaped in HTML."""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

import pandas as pd

from ..files import atomic_path
from .document import Report

FOLD_ROWS = 12  # longer tables are folded in the HTML (<details>)


def markdown_text(value: str) -> str:
    """Inline HTML in a name stays text in any Markdown viewer."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", value)


def markdown_cell(value: str) -> str:
    return markdown_text(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(markdown_cell(c) for c in frame.columns) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def markdown_blocks(base: Path) -> dict:
    """Block kind -> its Markdown; figures are linked relative to the report."""
    return {
        "heading": lambda p: f"{'#' * p[0]} {markdown_text(p[1])}\n",
        "text": lambda p: f"{markdown_text(p)}\n",
        "list": lambda p: "\n".join(f"- {markdown_text(item)}" for item in p) + "\n",
        "table": markdown_table,
        "figure": lambda p: f"![{p[2]}]({os.path.relpath(p[1], base)})\n\n*{p[2]}*\n",
        "figure_row": lambda p: "\n".join(f"![{c}]({os.path.relpath(png, base)})\n\n*{c}*\n" for _, png, c in p),
    }


def html_table(frame: pd.DataFrame) -> str:
    """In its own scrolling box (never wider than the page); a long one folded."""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    table = f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    if len(frame) > FOLD_ROWS:
        return f"<details><summary>Show the table ({len(frame)} rows)</summary>{table}</details>"
    return table


def html_figure(name: str, png: str, caption: str, css: str = "") -> str:
    e = html.escape
    data = base64.b64encode(Path(png).read_bytes()).decode()
    return (f'<figure id="{e(name)}"{css}><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(caption)}</figcaption></figure>")


def png_aspect(png: str) -> float:
    """Width / height of a PNG, from its header: figures in a row get widths in this proportion,
    so they share one height."""
    header = Path(png).read_bytes()[16:24]
    return int.from_bytes(header[:4], "big") / max(int.from_bytes(header[4:], "big"), 1)


# Block kind -> its HTML, every string from the data escaped.
HTML_BLOCKS = {
    "heading": lambda p: f"<h{p[0]}>{html.escape(p[1])}</h{p[0]}>",
    "text": lambda p: f"<p>{html.escape(p)}</p>",
    "list": lambda p: "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in p) + "</ul>",
    "table": html_table,
    "figure": lambda p: html_figure(*p),
    "figure_row": lambda p: '<div class="row">' + "".join(
        html_figure(*f, css=f' class="key" style="flex:{png_aspect(f[1]):.3f} 1 0"') for f in p) + "</div>",
}

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222;
overflow-wrap:anywhere}*{box-sizing:border-box}
table{border-collapse:collapse;font-size:12px;margin:0}td,th{border:1px solid #ccc;padding:2px 6px;
overflow-wrap:normal}th{background:#f3f3f3}.scroll{max-width:100%;overflow-x:auto;margin:.5em 0 1.5em}
details{margin:.5em 0 1.5em}summary{cursor:pointer;color:#235}figure{margin:1em 0}
img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:13px;color:#555}
.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}.row figure.key{min-width:420px;margin:.3em 0}
.row figure.key img{max-height:280px;object-fit:contain}.row figcaption{font-size:11px}
h1{font-size:1.4em;margin:.3em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
ul{padding-left:1.2em}li{margin:.2em 0}"""


def to_markdown(report: Report, base: Path) -> str:
    blocks = markdown_blocks(base)
    return "\n".join(blocks[kind](payload) for kind, payload in report.blocks)


def to_html(report: Report) -> str:
    """One file: styles inline, figures as data: URIs, nothing fetched from outside."""
    title = next((p[1] for k, p in report.blocks if k == "heading"), "report")
    head = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
            'style-src \'unsafe-inline\'">',
            f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head><body>"]
    body = [HTML_BLOCKS[kind](payload) for kind, payload in report.blocks]
    return "\n".join(head + body + ["</body></html>"])


def write(report: Report, md_path: str, html_path: str) -> None:
    for path, text in ((md_path, to_markdown(report, Path(md_path).parent)), (html_path, to_html(report))):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
