"""The experiment's report: `document` (the blocks and how values are shown), `sections` (the
prose, every number read from a table) and `render` (report.md and a self-contained report.html)."""
