"""The derived tables that answer the seed's questions, from runs.parquet, one module per concern:
`combinations` (the per-combination table and its validity), `quality` (drift, the surroundings,
the trusted combinations), `questions` (the seed's Q1-Q5), `latency`, `hardware` (against the
machine's limits), `comparison` (experiments, builds, models, machines against each other) and
`verdicts` (the counts the report's verdicts state).

Every function takes a DataFrame and returns one, so each step is tested on fixed input. Thin data
never raises: what cannot be computed is NaN with a `note` saying why.
"""
