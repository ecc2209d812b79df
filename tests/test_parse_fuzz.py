"""Parsers never crash on garbage: random text and mutated real logs either parse or give nothing."""

from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from batchbench.metrics import METRICS
from batchbench.parse import parse_header, result_rows

JSONL = (FIXTURES / "jsonl-phate334.txt").read_text()
MARKDOWN = """llama_batched_bench: n_kv_max = 2048, n_batch = 2048, n_ubatch = 512, flash_attn = -1

|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|
|   128 |    128 |    1 |    256 |    5.432 |    23.56 |   14.804 |     8.65 |   20.237 |    12.65 |
|   128 |    128 |    2 |    512 |   11.509 |    22.24 |   18.623 |    13.75 |   30.132 |    16.99 |
"""


def mutated(text: str):
    """The text with random spans deleted, duplicated or replaced."""
    @st.composite
    def build(draw):
        out = text
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, len(out)))
            j = draw(st.integers(i, min(len(out), i + 40)))
            kind = draw(st.sampled_from(["delete", "duplicate", "replace"]))
            if kind == "delete":
                out = out[:i] + out[j:]
            elif kind == "duplicate":
                out = out[:j] + out[i:j] + out[j:]
            else:
                out = out[:i] + draw(st.text(max_size=20)) + out[j:]
        return out
    return build()


def check_rows(rows):
    assert isinstance(rows, list)
    for row in rows:
        assert set(METRICS) <= set(row)
        assert all(isinstance(row[k], int) for k in ("pp", "tg", "b", "n_kv"))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text(text):
    check_rows(result_rows(text, text))
    assert isinstance(parse_header(text), dict)


@settings(max_examples=300, deadline=None)
@given(mutated(JSONL))
def test_mutated_jsonl(text):
    check_rows(result_rows(text))


@settings(max_examples=300, deadline=None)
@given(mutated(MARKDOWN))
def test_mutated_markdown(text):
    check_rows(result_rows("", text))


LOGS = sorted((FIXTURES / "logs").glob("0*.txt")) + [FIXTURES / "logs" / "seed-table.md"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LOGS).flatmap(lambda p: mutated(p.read_text(errors="replace"))))
def test_mutated_published_logs_import_or_fail_with_file_and_line(tmp_path_factory, text):
    from batchbench.importer import LogFormatError, import_records

    path = tmp_path_factory.mktemp("fuzz") / "log.txt"
    path.write_text(text)
    try:
        records = import_records(str(path), "e")
    except LogFormatError as err:
        assert str(err).startswith(str(path))
        return
    for record in records:
        assert record["status"] in ("ok", "skipped", "failed")
        if record["status"] == "ok":
            check_rows([record["metrics"]])
