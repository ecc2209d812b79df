"""The report as a document: an ordered list of blocks (heading, text, list, table, figure) that
the renderers turn into Markdown and HTML, and how a value or a table is shown in it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..paths import table_folder

MAX_TABLE_ROWS = 60


@dataclass
class Report:
    """An ordered list of blocks: (kind, payload) with kind heading, text, list, table, figure."""
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2):
        self.blocks.append(("heading", (level, text)))

    def text(self, text: str):
        self.blocks.append(("text", text))

    def items(self, items: list[str]):
        if items:
            self.blocks.append(("list", items))

    def table(self, frame: pd.DataFrame, columns: list[str], digits: dict | None = None, source: str = ""):
        """The columns people read, formatted; a long table is cut, saying where the rest is."""
        self.blocks.append(("table", shown(frame, columns, digits)))
        if len(frame) > MAX_TABLE_ROWS:
            where = f"{table_folder(source)}/{source}.csv" if source else "runs.parquet"
            self.text(f"The first {MAX_TABLE_ROWS} of {len(frame)} rows; all of them are in {where}.")

    def figure(self, name: str, png: str, caption: str):
        self.blocks.append(("figure", (name, png, caption)))

    def figure_row(self, figures: list[tuple[str, str, str]]):
        """Figures side by side (HTML), each linking to its full size; one after another in Markdown."""
        if figures:
            self.blocks.append(("figure_row", figures))


def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def bool_name(value) -> bool:
    """A name is given (not "", None or NaN)."""
    return isinstance(value, str) and value != ""


def shown(frame: pd.DataFrame, columns: list[str], digits: dict | None = None) -> pd.DataFrame:
    """The columns people read, as formatted strings, at most MAX_TABLE_ROWS rows."""
    digits = digits or {}
    # the machine column only where machines are configured (it is "" or empty otherwise)
    present = [c for c in columns if c in frame and (c != "machine" or frame[c].map(bool_name).any())]
    out = frame[present].head(MAX_TABLE_ROWS).copy()
    for column in present:
        out[column] = [fmt(v, digits.get(column, 2)) for v in out[column]]
    return out.astype(str)


def series_name(row) -> str:
    return " · ".join(str(row[k]) for k in ("model", "build", "machine", "config")
                      if isinstance(row.get(k), str) and row.get(k))
