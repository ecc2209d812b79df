import pytest

from batchbench.kv_cache import cells_allocated, cells_needed, context_for, kv_cache_bytes, pad


def test_pad_to_256():
    assert [pad(n) for n in (1, 256, 257, 2048, 2049)] == [256, 256, 512, 2048, 2304]


@pytest.mark.parametrize(
    "pp,tg,b,shared,unified,expected",
    [
        (128, 128, 4, False, False, 1024),   # (PP+TG)*B
        (128, 128, 4, True, True, 128 + 4 * 128),   # PP + B*TG: shared prompt, unified cache
        (128, 128, 4, True, False, 4 * 128 + 4 * 128),  # B*PP + B*TG: shared prompt alone
        (0, 128, 2, False, False, 256),
    ],
)
def test_cells_needed_is_n_kv(pp, tg, b, shared, unified, expected):
    assert cells_needed(pp, tg, b, shared, unified) == expected


def test_allocation_pads_per_sequence():
    # -c 2048 with 16 sequences: 16 x pad256(128) = 4096 cells (PRODUCT.md)
    assert cells_allocated(2048, 16) == 4096
    assert cells_allocated(2048, 1) == 2048
    assert cells_allocated(2048, 3) == 3 * 768
    assert cells_allocated(2048, 16, kv_unified=True) == 2048


def test_auto_context_always_fits():
    for pp in (1, 100, 128, 512):
        for tg in (1, 77, 256):
            for b in (1, 3, 7, 32):
                c, allocated, needed = context_for(pp, tg, b, "auto")
                assert c == needed and allocated >= needed


def test_fixed_context_of_the_seed():
    # With one process per combination, -c 2048 still gives each of B sequences 256 cells, so
    # B=16 and B=32 fit PP=TG=128; PP=512, TG=256 needs 768 a sequence and does not.
    assert context_for(128, 128, 16, 2048)[1:] == (4096, 4096)
    assert context_for(128, 128, 32, 2048)[1:] == (8192, 8192)
    c, allocated, needed = context_for(512, 256, 32, 2048)
    assert (allocated, needed) == (8192, 24576)


def test_kv_cache_bytes():
    # Qwen3-8B: 36 layers, 8 KV heads of 128, f16: 144 KiB per cell
    assert kv_cache_bytes(36, 1, 8, 128) == 36 * 8 * 128 * 2 * 2
    assert kv_cache_bytes(36, 4096, 8, 128, "q8_0", "q8_0") == int(36 * 4096 * 1024 * 2 * 34 / 32)
