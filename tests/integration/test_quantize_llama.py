"""Our quantizer against llama.cpp's ``llama_model_quantize``: same tensor types, same bytes, same file.

Whole files are compared for every mix on the full SmolLM2 (real weights; its 576-wide rows send most tensors to
the 32-weight fallback types) and on a synthetic heavy-tailed Llama whose rows are multiples of 256 (so every
K-type is used, Q2_K included), plain and with an importance matrix. llama.cpp's outputs are kept as digests in
tests/.cache (tests/fixtures/llama_reference.py): after the first run only our side is quantized again, and
for SmolLM2 in one ``quantize_ladder`` pass over all mixes (each type shared by several mixes quantized once).
Types alone (llama.cpp's dry run) are compared on the full model too.
"""

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T

from converter.gguf_in import read_gguf
from converter.imatrix import ImportanceMatrix
from converter.quantize import quantize_gguf, quantize_ladder
from converter.core.quant_types import FLOAT_TYPES, MIXES
from converter.mixes import Override
from tests.fixtures.dry_run import RULES_MODELS, planned_types, write_rules_model
from tests.fixtures.llama import quantize_with_llama_cpp
from tests.fixtures.llama_reference import FileDigest, file_digest, llama_cpp_digest, random_imatrix
from tests.fixtures.llama_types import llama_tensor_types
from tests.fixtures.tiny_gguf import truncate_layers
from tests.fixtures.tiny_models import tiny_model

pytestmark = pytest.mark.integration
THREADS = 2
ALL_MIXES = list(MIXES)
#: Mixes whose types read an importance matrix (llama.cpp's Q8_0 ignores it: ours must too).
QUANTIZED_MIXES = [m for m in MIXES if MIXES[m].default not in FLOAT_TYPES]
#: With an importance matrix, the synthetic Llama takes every mix; SmolLM2 only the most used one (an
#: importance matrix makes the legacy types' search 5-10x slower, in llama.cpp too: Q4_0 would add ~15 s; its
#: Q4_1 guard layers are checked by the dry run below, Q4_0/Q4_1 bytes with an imatrix on the synthetic models).
SMOLLM2_IMATRIX_MIXES = ["Q4_K_M"]


@pytest.fixture(scope="module")
def small_f32(smollm2_f32_gguf, tmp_path_factory) -> Path:
    """SmolLM2 cut to 4 blocks (full vocabulary): for computing importance matrices and generating text."""
    return truncate_layers(smollm2_f32_gguf, tmp_path_factory.mktemp("cut") / "smollm2-4blk-F32.gguf", 4)


def write_heavy_llama(path: Path, dtype: T = T.F32) -> Path:
    """2 blocks, 256 wide, 512-wide ffn_down rows, vocabulary 1024, GQA 4, untied output; Student-t weights."""
    return tiny_model("llama-heavy", path, layers=2, hidden=256, ff=512, heads=8, kv_heads=2, vocab=1024,
                      tied=False, weight_type=dtype.name)


@pytest.fixture(scope="module", params=[T.F32, T.F16, T.BF16], ids=lambda t: f"{t.name}-source")
def heavy_llama(request, tmp_path_factory) -> Path:
    return write_heavy_llama(tmp_path_factory.mktemp("heavy") / f"heavy-{request.param.name}.gguf", request.param)


@pytest.fixture(scope="module")
def heavy_f32(tmp_path_factory) -> Path:
    return write_heavy_llama(tmp_path_factory.mktemp("heavy") / "heavy-F32.gguf")


def assert_same_digest(ours: FileDigest, ref: FileDigest, what: str) -> None:
    problems = ref.differences(ours)
    assert not problems, f"{what}: {len(problems)} differences from llama.cpp, e.g. {problems[:5]}"
    assert ours.file == ref.file


def assert_same_as_llama_cpp(src: Path, ours: FileDigest, mix: str, *, imatrix=None) -> FileDigest:
    """Compare our file for ``src`` and ``mix`` with llama.cpp's; returns llama.cpp's digest."""
    ref = llama_cpp_digest(src, mix, imatrix=imatrix, threads=THREADS, cache=True)
    assert_same_digest(ours, ref, mix)
    if imatrix is not None and mix != "Q8_0":  # not vacuous: the importance matrix changed llama.cpp's output
        assert ref.file != llama_cpp_digest(src, mix, threads=THREADS, cache=True).file
    return ref


def quantize_and_digest(src: Path, dst: Path, mix: str, *, imatrix=None) -> FileDigest:
    """Our file for ``src`` and ``mix`` (made by ``quantize_gguf``), as a digest; the file is removed."""
    quantize_gguf(src, dst, mix, threads=THREADS, imatrix=imatrix)
    digest = file_digest(dst)
    dst.unlink()
    return digest


def ladder_digests(src: Path, mixes: list[str], out_dir: Path, *, imatrix=None) -> dict[str, FileDigest]:
    """Our files for every mix from one ``quantize_ladder`` pass (a type shared by several mixes is quantized
    once), as digests; the files are removed (the F32 mix of SmolLM2 is 540 MB)."""
    paths = quantize_ladder(src, {m: out_dir / f"{m}.gguf" for m in mixes}, threads=THREADS, imatrix=imatrix)
    digests = {m: file_digest(p) for m, p in zip(mixes, paths)}
    for p in paths:
        p.unlink()
    return digests


@pytest.fixture(scope="module")
def smollm2_ours(smollm2_f32_gguf, tmp_path_factory) -> dict[str, FileDigest]:
    return ladder_digests(smollm2_f32_gguf, ALL_MIXES, tmp_path_factory.mktemp("ours"))


@pytest.mark.parametrize("mix", ALL_MIXES)
def test_same_file_as_llama_cpp_on_smollm2(smollm2_f32_gguf, smollm2_ours, mix):
    assert_same_as_llama_cpp(smollm2_f32_gguf, smollm2_ours[mix], mix)


@pytest.fixture(scope="module")
def smollm2_imatrix(smollm2_f32_gguf) -> dict:
    return random_imatrix(smollm2_f32_gguf)


@pytest.fixture(scope="module")
def smollm2_ours_with_imatrix(smollm2_f32_gguf, smollm2_imatrix, tmp_path_factory) -> dict[str, FileDigest]:
    return ladder_digests(smollm2_f32_gguf, SMOLLM2_IMATRIX_MIXES, tmp_path_factory.mktemp("ours-imatrix"),
                          imatrix=smollm2_imatrix)


@pytest.mark.parametrize("mix", SMOLLM2_IMATRIX_MIXES)
def test_same_file_as_llama_cpp_on_smollm2_with_an_imatrix(smollm2_f32_gguf, smollm2_imatrix,
                                                          smollm2_ours_with_imatrix, mix):
    assert_same_as_llama_cpp(smollm2_f32_gguf, smollm2_ours_with_imatrix[mix], mix, imatrix=smollm2_imatrix)


@pytest.mark.parametrize("mix", ALL_MIXES)
def test_same_file_as_llama_cpp_on_a_heavy_tailed_llama(heavy_llama, tmp_path, mix):
    ref = assert_same_as_llama_cpp(heavy_llama, quantize_and_digest(heavy_llama, tmp_path / "q.gguf", mix), mix)
    # every row fits a 256-weight block, so each mix's own type is really used (Q2_K's included)
    assert MIXES[mix].default.name in {qtype for qtype, _ in ref.tensors.values()}


@pytest.mark.parametrize("mix", QUANTIZED_MIXES)
def test_same_file_as_llama_cpp_on_a_heavy_tailed_llama_with_an_imatrix(heavy_f32, tmp_path, mix):
    imatrix = random_imatrix(heavy_f32)
    ours = quantize_and_digest(heavy_f32, tmp_path / "q.gguf", mix, imatrix=imatrix)
    assert_same_as_llama_cpp(heavy_f32, ours, mix, imatrix=imatrix)


@pytest.mark.parametrize("mix", ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_S", "Q6_K", "Q4_0", "Q5_1"])
@pytest.mark.parametrize("model", [m for m in RULES_MODELS if m.n_expert], ids=lambda m: m.name)
def test_same_file_as_llama_cpp_on_moe_models_with_an_imatrix(model, tmp_path, mix):
    """3-D expert tensors: every expert's rows take its own slice of the importance matrix."""
    src = write_rules_model(tmp_path / f"{model.name}.gguf", model)
    imatrix = random_imatrix(src)
    assert_same_as_llama_cpp(src, quantize_and_digest(src, tmp_path / "q.gguf", mix, imatrix=imatrix), mix,
                             imatrix=imatrix)


@pytest.mark.parametrize("mix", ALL_MIXES)
def test_types_match_llama_cpp_on_the_full_model(smollm2_f32_gguf, mix):
    assert planned_types(smollm2_f32_gguf, mix) == llama_tensor_types(smollm2_f32_gguf, mix)


@pytest.mark.parametrize("mix", ["Q4_0", "Q5_0", "Q4_K_M"])
def test_types_with_an_imatrix_match_llama_cpp(smollm2_f32_gguf, mix):
    ours = planned_types(smollm2_f32_gguf, mix, has_imatrix=True)
    ref = llama_tensor_types(smollm2_f32_gguf, mix, with_imatrix=True)
    assert ours == ref
    if mix == "Q4_0":
        assert ref["blk.0.ffn_down.weight"] == T.Q4_1 and ref["blk.4.ffn_down.weight"] == T.Q4_0


def test_overrides_match_llama_cpp(smollm2_f32_gguf):
    overrides = {r"blk\.1[0-9]\.attn_v": "q8_0", "ffn_up": "q5_k", "output": "q4_0"}
    ours = planned_types(smollm2_f32_gguf, "Q4_K_M",
                         overrides=[Override.parse(f"{k}={v}") for k, v in overrides.items()])
    assert ours == llama_tensor_types(smollm2_f32_gguf, "Q4_K_M", overrides=overrides)


def test_llama_cpp_loads_our_file_and_generates(small_f32, tmp_path):
    import llama_cpp

    ours = quantize_gguf(small_f32, tmp_path / "q4_k_m.gguf", "Q4_K_M", threads=THREADS)
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


def test_same_file_with_a_computed_imatrix(small_f32, computed_imatrix, tmp_path):
    imatrix = computed_imatrix.weights()
    ours = quantize_and_digest(small_f32, tmp_path / "q.gguf", "Q4_K_M", imatrix=imatrix)
    assert_same_as_llama_cpp(small_f32, ours, "Q4_K_M", imatrix=imatrix)


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
    assert_same_digest(file_digest(ours), file_digest(tmp_path / "ref.gguf"), "Q4_K_M in one pass")


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
