from batchbench.llama_options import OPTIONS, RESERVED_FLAGS, bench_argv


def test_one_combination_per_process():
    argv = bench_argv("/bin/llama-batched-bench", "/m/model one.gguf", 128, 256, 4, 1536,
                      {"ctx": "auto", "batch": 2048, "ubatch": 512, "threads": 2,
                       "flash_attn": "on", "pp_shared": True, "kv_unified": False},
                      ["--no-mmap"])
    assert argv == ["/bin/llama-batched-bench", "-m", "/m/model one.gguf", "-c", "1536",
                    "-npp", "128", "-ntg", "256", "-npl", "4", "-b", "2048", "-ub", "512",
                    "-t", "2", "-fa", "on", "-pps", "--no-mmap", "--output-format", "jsonl"]


def test_older_binary_gets_no_jsonl_flag():
    argv = bench_argv("bb", "m.gguf", 1, 2, 3, 256, {}, jsonl=False)
    assert "--output-format" not in argv


def test_every_option_flag_is_reserved():
    assert {flag for flag, _ in OPTIONS.values()} <= set(RESERVED_FLAGS)
