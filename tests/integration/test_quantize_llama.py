"""Our quantizer against llama.cpp's ``llama_model_quantize`` on SmolLM2: same tensor types, same bytes, same file.

Types are compared on the full model (llama.cpp dry runs cost ~1 s). Bytes are compared on a 4-block cut of the
model (full vocabulary, so llama.cpp can still load it and generate), which keeps the 17 mixes affordable; set
KOMPAKT_FULL_QUANT_TESTS=1 to compare bytes on the whole 30-block model instead (about 10x longer).
"""

import os
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T

from converter.gguf_in import read_gguf
from converter.imatrix import ImportanceMatrix
from converter.quantize import quantize_gguf
from converter.core.quant_types import MIXES
from converter.mixes import MixModelParams, MixTensor, Override, plan_types
from tests.fixtures.llama import quantize_with_llama_cpp
from tests.fixtures.llama_types import llama_tensor_types
from tests.fixtures.tiny_gguf import truncate_layers

pytestmark = pytest.mark.integration
THREADS = 2
ALL_MIXES = list(MIXES)


@pytest.fixture(scope="module")
def small_f32(smollm2_f32_gguf, tmp_path_factory) -> Path:
    if os.environ.get("KOMPAKT_FULL_QUANT_TESTS") == "1":
        return smollm2_f32_gguf
    return truncate_layers(smollm2_f32_gguf, tmp_path_factory.mktemp("cut") / "smollm2-4blk-F32.gguf", 4)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Quantized files shared by the tests of this module: {(mix, tag): (ours, llama.cpp's)}."""
    return {"dir": tmp_path_factory.mktemp("q")}


def both(src, outputs, mix, *, imatrix=None, tag="") -> tuple[Path, Path]:
    key = (mix, tag)
    if key not in outputs:
        d = outputs["dir"]
        ours = quantize_gguf(src, d / f"ours-{mix}{tag}.gguf", mix, threads=THREADS, imatrix=imatrix)
        weights = imatrix.weights() if isinstance(imatrix, ImportanceMatrix) else imatrix
        quantize_with_llama_cpp(src, d / f"llama-{mix}{tag}.gguf", mix, threads=THREADS, imatrix=weights)
        outputs[key] = (ours, d / f"llama-{mix}{tag}.gguf")
    return outputs[key]


def assert_same_file(ours: Path, ref: Path) -> None:
    a, b = read_gguf(ours), read_gguf(ref)
    assert [(t.name, t.ne, t.qtype.name) for t in a.tensors] == [(t.name, t.ne, t.qtype.name) for t in b.tensors]
    assert [k.raw for k in a.kv] == [k.raw for k in b.kv], "metadata differs"
    da, db = ours.read_bytes(), ref.read_bytes()
    bad = [t.name for t, u in zip(a.tensors, b.tensors)
           if da[t.offset:t.offset + t.nbytes] != db[u.offset:u.offset + u.nbytes]]
    assert not bad, f"{len(bad)} tensors differ, e.g. {bad[:3]}"
    assert da == db  # header, padding and all


@pytest.mark.parametrize("mix", ALL_MIXES)
def test_types_match_llama_cpp_on_the_full_model(smollm2_f32_gguf, mix):
    layout = read_gguf(smollm2_f32_gguf)
    ours = plan_types([MixTensor(t.name, t.ne, t.qtype) for t in layout.tensors], mix,
                      MixModelParams.from_metadata(layout.metadata))
    assert ours == llama_tensor_types(smollm2_f32_gguf, mix)


@pytest.mark.parametrize("mix", ["Q4_0", "Q5_0", "Q4_K_M"])
def test_types_with_an_imatrix_match_llama_cpp(smollm2_f32_gguf, mix):
    layout = read_gguf(smollm2_f32_gguf)
    ours = plan_types([MixTensor(t.name, t.ne, t.qtype) for t in layout.tensors], mix,
                      MixModelParams.from_metadata(layout.metadata), has_imatrix=True)
    ref = llama_tensor_types(smollm2_f32_gguf, mix, with_imatrix=True)
    assert ours == ref
    if mix == "Q4_0":
        assert ref["blk.0.ffn_down.weight"] == T.Q4_1 and ref["blk.4.ffn_down.weight"] == T.Q4_0


def test_overrides_match_llama_cpp(smollm2_f32_gguf):
    overrides = {r"blk\.1[0-9]\.attn_v": "q8_0", "ffn_up": "q5_k", "output": "q4_0"}
    layout = read_gguf(smollm2_f32_gguf)
    ours = plan_types([MixTensor(t.name, t.ne, t.qtype) for t in layout.tensors], "Q4_K_M",
                      MixModelParams.from_metadata(layout.metadata),
                      overrides=[Override.parse(f"{k}={v}") for k, v in overrides.items()])
    assert ours == llama_tensor_types(smollm2_f32_gguf, "Q4_K_M", overrides=overrides)


@pytest.mark.parametrize("mix", ALL_MIXES)
def test_same_bytes_as_llama_cpp(small_f32, outputs, mix):
    assert_same_file(*both(small_f32, outputs, mix))


def test_llama_cpp_loads_our_file_and_generates(small_f32, outputs):
    import llama_cpp

    ours, _ = both(small_f32, outputs, "Q4_K_M")
    llm = llama_cpp.Llama(str(ours), n_ctx=64, n_threads=THREADS, verbose=False, seed=1)
    try:
        out = llm("The capital of France is", max_tokens=4, temperature=0.0)
    finally:
        llm.close()
    assert out["usage"]["completion_tokens"] > 0


@pytest.fixture(scope="module")
def computed_imatrix(small_f32) -> ImportanceMatrix:
    from app.runtime.imatrix import compute_imatrix, default_calibration_text

    return compute_imatrix(small_f32, default_calibration_text()[:2000], chunk_size=64, max_chunks=2,
                           threads=THREADS)


def n_blocks(path: Path) -> int:
    return read_gguf(path).metadata["llama.block_count"]


def test_computed_imatrix_has_the_model_shape(small_f32, computed_imatrix):
    im = computed_imatrix
    widths = {"attn_q": 576, "attn_k": 576, "attn_v": 576, "attn_output": 576, "ffn_gate": 576, "ffn_up": 576,
              "ffn_down": 1536}
    expected = {f"blk.{i}.{k}.weight": w for i in range(n_blocks(small_f32))
                for k, w in widths.items()}
    assert {n: e.sums.shape[1] for n, e in im.entries.items()} == expected
    for name, e in im.entries.items():
        assert e.counts.tolist() == [128], name  # 2 chunks of 64 tokens
        assert (e.sums > 0).all() and np.isfinite(e.sums).all(), name
    assert (im.chunk_count, im.chunk_size) == (2, 64)
    # q, k and v read the same normalized input
    np.testing.assert_array_equal(im.entries["blk.0.attn_q.weight"].sums, im.entries["blk.0.attn_v.weight"].sums)


@pytest.mark.parametrize("mix", ["Q4_K_M", "Q4_0"])
def test_same_bytes_with_an_imatrix(small_f32, outputs, computed_imatrix, mix):
    ours, ref = both(small_f32, outputs, mix, imatrix=computed_imatrix, tag="-imat")
    assert_same_file(ours, ref)
    plain, _ = both(small_f32, outputs, mix)
    assert ours.read_bytes() != plain.read_bytes()  # the importance matrix changed something
    if mix == "Q4_0":
        types = {t.name: t.qtype for t in read_gguf(ours).tensors}
        guarded = T.Q4_1 if n_blocks(small_f32) >= 8 else T.Q4_0  # the first n/8 ffn_down layers
        assert types["blk.0.ffn_down.weight"] == guarded


def test_cli_imatrix_then_quantize_with_calibration(small_f32, tmp_path, kompakt):
    from converter.imatrix import read_imatrix

    text = tmp_path / "text.txt"
    text.write_text("The quick brown fox jumps over the lazy dog near the river bank. " * 12)

    def run(*args):
        r = kompakt(*args)
        assert r.returncode == 0, r.stderr
        return r

    run("imatrix", small_f32, "-o", tmp_path / "m.imatrix.gguf", "--text", text, "--chunk-size", "32",
        "--chunks", "1", "--threads", THREADS)
    im = read_imatrix(tmp_path / "m.imatrix.gguf")
    assert len(im.entries) == 7 * n_blocks(small_f32) and im.datasets == ["text.txt"] and im.chunk_size == 32
    run("quantize", small_f32, tmp_path / "q.gguf", "--type", "Q4_0", "--calibration", text,
        "--save-imatrix", tmp_path / "again.imatrix.gguf", "--threads", THREADS)
    assert read_gguf(tmp_path / "q.gguf").metadata["general.file_type"] == 2
    assert set(read_imatrix(tmp_path / "again.imatrix.gguf").entries) == set(im.entries)


def test_one_pass_convert_equals_convert_then_llama_quantize(smollm2_hf, tmp_path):
    from converter.convert import convert
    from tests.fixtures.tiny_models import tiny_model

    src = tiny_model("llama-wide", tmp_path / "m", smollm2_dir=smollm2_hf)
    f32 = convert(src, tmp_path / "f32.gguf", "f32").path
    quantize_with_llama_cpp(f32, tmp_path / "ref.gguf", "Q4_K_M", threads=THREADS)
    ours = convert(src, tmp_path / "ours.gguf", "q4_k_m").path
    assert_same_file(ours, tmp_path / "ref.gguf")


def test_cancel_while_computing_an_imatrix(small_f32):
    from app.runtime.imatrix import compute_imatrix
    from converter.core.progress import CancelToken, Cancelled

    token = CancelToken()

    def progress(p):
        if p.done >= 1:
            token.cancel()

    with pytest.raises(Cancelled):
        compute_imatrix(small_f32, "word " * 400, chunk_size=32, threads=THREADS, progress=progress, cancel=token)


def test_llama_cpp_reads_our_imatrix_file(computed_imatrix, tmp_path):
    """ggml's own GGUF parser (what llama-quantize's imatrix loader uses) accepts the file we write."""
    import ctypes

    import llama_cpp
    from llama_cpp._ctypes_extensions import load_shared_library

    from converter.imatrix import write_imatrix

    path = tmp_path / "m.imatrix.gguf"
    write_imatrix(computed_imatrix, path)

    class InitParams(ctypes.Structure):
        _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]

    lib = load_shared_library("ggml-base", Path(llama_cpp.__file__).parent / "lib")
    lib.gguf_init_from_file.restype = ctypes.c_void_p
    lib.gguf_init_from_file.argtypes = [ctypes.c_char_p, InitParams]
    for fn, res in (("gguf_get_n_tensors", ctypes.c_int64), ("gguf_find_key", ctypes.c_int64),
                    ("gguf_get_tensor_name", ctypes.c_char_p), ("gguf_get_tensor_type", ctypes.c_int),
                    ("gguf_get_val_u32", ctypes.c_uint32), ("gguf_get_arr_str", ctypes.c_char_p)):
        getattr(lib, fn).restype = res
    lib.gguf_get_n_tensors.argtypes = [ctypes.c_void_p]
    lib.gguf_find_key.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.gguf_get_tensor_name.argtypes = lib.gguf_get_tensor_type.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    lib.gguf_get_val_u32.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    lib.gguf_get_arr_str.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t]
    lib.gguf_free.argtypes = [ctypes.c_void_p]
    ctx = lib.gguf_init_from_file(str(path).encode(), InitParams(True, None))
    assert ctx, "ggml rejected the file"
    try:
        n = lib.gguf_get_n_tensors(ctx)
        assert n == 2 * len(computed_imatrix.entries)
        names = [lib.gguf_get_tensor_name(ctx, i).decode() for i in range(n)]
        assert names[:2] == ["blk.0.attn_k.weight.in_sum2", "blk.0.attn_k.weight.counts"]
        assert {lib.gguf_get_tensor_type(ctx, i) for i in range(n)} == {0}  # F32
        assert lib.gguf_get_val_u32(ctx, lib.gguf_find_key(ctx, b"imatrix.chunk_size")) == 64
        assert lib.gguf_find_key(ctx, b"imatrix.datasets") >= 0
    finally:
        lib.gguf_free(ctx)
