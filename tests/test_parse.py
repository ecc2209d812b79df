import pytest
from conftest import FIXTURES

from batchbench.parse import parse_header, parse_jsonl_line, parse_markdown_row, result_rows


def test_jsonl_of_a_published_run():
    rows = result_rows((FIXTURES / "jsonl-phate334.txt").read_text())
    assert len(rows) == 4
    first = rows[0]
    assert (first["pp"], first["tg"], first["b"], first["n_kv"]) == (128, 128, 1, 256)
    assert first["t_pp"] == pytest.approx(1.386) and first["s"] == pytest.approx(36.229633)
    assert first["n_kv_max"] == 2048 and first["n_gpu_layers"] == 999


def test_jsonl_rejects_other_objects():
    assert parse_jsonl_line('{"pp": 1}') is None
    assert parse_jsonl_line("{not json") is None
    assert parse_jsonl_line("plain text") is None


def test_markdown_row_and_headers_of_both_eras():
    row = parse_markdown_row("|   128 |    128 |    1 |    256 |    5.432 |    23.56 |   14.804 |"
                             "     8.65 |   20.237 |    12.65 |")
    assert row == {"pp": 128, "tg": 128, "b": 1, "n_kv": 256, "t_pp": 5.432, "s_pp": 23.56,
                   "t_tg": 14.804, "s_tg": 8.65, "t": 20.237, "s": 12.65}
    assert parse_markdown_row("|    PP |     TG |    B |") is None
    new = parse_header("llama_batched_bench: n_kv_max = 2048, n_batch = 2048, n_ubatch = 512, "
                       "flash_attn = -1, is_pp_shared = 0, is_tg_separate = 0, n_gpu_layers = -1, "
                       "n_threads = 2, n_threads_batch = 2")
    assert new["n_kv_max"] == 2048 and new["flash_attn"] == -1 and new["is_tg_separate"] == 0
    old = parse_header("main: n_kv_max = 4096, is_pp_shared = 0, n_gpu_layers = 99, mmq = 1, "
                       "n_threads = 4, n_threads_batch = 4")
    assert old == {"n_kv_max": 4096, "is_pp_shared": 0, "n_gpu_layers": 99, "mmq": 1,
                   "n_threads": 4, "n_threads_batch": 4}


def test_markdown_table_when_there_is_no_jsonl():
    log = ("llama_batched_bench: n_kv_max = 512, n_batch = 2048, n_ubatch = 512\n\n"
           "|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |\n"
           "|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|\n"
           "|    64 |     32 |    2 |    192 |    0.100 |  1280.00 |    0.200 |   320.00 |    0.300 |   640.00 |\n")
    rows = result_rows("", log)
    assert len(rows) == 1 and rows[0]["n_kv_max"] == 512 and rows[0]["b"] == 2
