"""The quantize pipeline on small synthetic GGUFs: parallel == serial, ladder == single runs, metadata, cancel,
bad input (no llama.cpp needed; the integration tests compare with llama.cpp's bytes)."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

from converter.errors import QuantizationError
from converter.gguf_in import read_gguf
from converter.core.progress import CancelToken, Cancelled
from converter.core.quant_types import UnknownTypeError
from converter.quantize import InputTensor, plan_gguf, quantize_gguf, quantize_ladder, quantize_tensors
from tests.fixtures.ggml_oracle import ggml_quantize
from tests.fixtures.tiny_models import tiny_model


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return tiny_model("llama-heavy", tmp_path_factory.mktemp("src") / "tiny-F32.gguf", vocab=256,
                      kv=(("split.count", 1, V.UINT16),))


@pytest.fixture
def small_jobs(monkeypatch):
    """Use worker processes even for tiny models, and many small jobs per tensor."""
    import converter.quantize as q

    monkeypatch.setattr(q, "SERIAL_BELOW_WEIGHTS", 0)
    monkeypatch.setattr(q, "CHUNK_WEIGHTS", 1 << 14)


def _workers_up_before_the_first_piece(monkeypatch):
    """Make the pool wait for its workers, so that every piece goes to them."""
    import converter.worker_pool as wp

    started = wp.WarmingPool.__init__

    def start_and_wait(self, n_workers):
        started(self, n_workers)
        self._ready.wait()

    monkeypatch.setattr(wp.WarmingPool, "__init__", start_and_wait)


def tensors_of(path):
    layout = read_gguf(path)
    data = path.read_bytes()
    return layout, {t.name: (t.qtype, data[t.offset:t.offset + t.nbytes]) for t in layout.tensors}


def test_serial_parallel_and_ladder_agree(src, tmp_path, small_jobs):
    one = quantize_gguf(src, tmp_path / "q8-1.gguf", "Q8_0", threads=1)
    two = quantize_gguf(src, tmp_path / "q8-2.gguf", "Q8_0", threads=2)
    assert one.read_bytes() == two.read_bytes()
    ladder = quantize_ladder(src, {"Q8_0": tmp_path / "l-q8.gguf", "Q4_0": tmp_path / "l-q4.gguf"}, threads=2)
    assert ladder[0].read_bytes() == one.read_bytes()
    assert ladder[1].read_bytes() == quantize_gguf(src, tmp_path / "q4.gguf", "Q4_0", threads=1).read_bytes()


def test_work_is_shared_between_this_process_and_the_workers(src, tmp_path, small_jobs, monkeypatch):
    """While the workers start, this process quantizes the first pieces itself; the rest goes to the workers.
    Which pieces run where depends on timing, the bytes never do."""
    serial = quantize_gguf(src, tmp_path / "q4km-1.gguf", "Q4_K_M", threads=1).read_bytes()
    stats: dict = {}
    assert quantize_gguf(src, tmp_path / "q4km-2.gguf", "Q4_K_M", threads=2, stats=stats).read_bytes() == serial
    assert stats["worker_cpu_s"] <= stats["quantize_cpu_s"]

    _workers_up_before_the_first_piece(monkeypatch)
    stats = {}
    assert quantize_gguf(src, tmp_path / "q4km-3.gguf", "Q4_K_M", threads=2, stats=stats).read_bytes() == serial
    assert stats["worker_cpu_s"] == pytest.approx(stats["quantize_cpu_s"]) and stats["worker_cpu_s"] > 0
    # workers write their results into each output themselves; with a ladder, pieces that one output copies
    # (the F32 norms) are written here between them
    ladder = quantize_ladder(src, {"Q4_K_M": tmp_path / "l1.gguf", "F32": tmp_path / "l2.gguf"}, threads=2)
    assert ladder[0].read_bytes() == serial
    assert tensors_of(ladder[1])[1] == tensors_of(src)[1]


def test_results_come_back_where_workers_cannot_write_in_place(src, tmp_path, small_jobs, monkeypatch):
    """Without positioned writes (Windows) the workers return their bytes and this process writes them."""
    import converter.quantize as q

    serial = quantize_gguf(src, tmp_path / "s.gguf", "Q4_K_M", threads=1).read_bytes()
    monkeypatch.setattr(q, "CAN_WRITE_IN_PLACE", False)
    _workers_up_before_the_first_piece(monkeypatch)
    stats: dict = {}
    assert quantize_gguf(src, tmp_path / "p.gguf", "Q4_K_M", threads=2, stats=stats).read_bytes() == serial
    assert stats["worker_cpu_s"] > 0


def test_worker_writes_in_place(tmp_path):
    from converter.quant_worker import FileSlot, write_at

    path = tmp_path / "out.bin"
    path.write_bytes(bytes(16))
    write_at(FileSlot(str(path), 4), np.arange(1, 9, dtype=np.uint8))
    assert path.read_bytes() == bytes(4) + bytes(range(1, 9)) + bytes(4)


def test_workers_that_cannot_start_leave_the_work_here(src, tmp_path, small_jobs, monkeypatch, caplog):
    import concurrent.futures

    def refuse(*args, **kwargs):
        raise OSError("no processes for you")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    stats: dict = {}
    out = quantize_gguf(src, tmp_path / "q8.gguf", "Q8_0", threads=2, stats=stats)
    assert out.read_bytes() == quantize_gguf(src, tmp_path / "q8-1.gguf", "Q8_0", threads=1).read_bytes()
    assert stats["worker_cpu_s"] == 0 and stats["quantize_cpu_s"] > 0
    assert "could not start worker processes" in caplog.text


def test_output_layout_and_metadata(src, tmp_path):
    out = quantize_gguf(src, tmp_path / "q4km.gguf", "Q4_K_M", threads=1)
    layout, tensors = tensors_of(out)
    keys = [k.key for k in layout.kv]
    assert keys[-2:] == ["general.quantization_version", "general.file_type"]
    assert "split.count" not in keys and keys.count("general.file_type") == 1
    assert layout.metadata["general.file_type"] == 15 and layout.metadata["general.quantization_version"] == 2
    assert [t.name for t in layout.tensors][:2] == ["output_norm.weight", "token_embd.weight"]
    assert tensors["token_embd.weight"][0] == T.Q6_K and tensors["blk.1.attn_v.weight"][0] == T.Q6_K
    assert tensors["blk.0.attn_v.weight"][0] == T.Q4_K  # of 2 layers only the last gets more bits
    assert tensors["blk.0.attn_q.weight"][0] == T.Q4_K and tensors["blk.1.attn_norm.weight"][0] == T.F32
    # the bytes are llama.cpp's (ggml_quantize_chunk), tensor by tensor
    _, src_tensors = tensors_of(src)
    rows = np.frombuffer(src_tensors["blk.0.attn_q.weight"][1], dtype=np.float32).reshape(-1, 256)
    assert tensors["blk.0.attn_q.weight"][1] == ggml_quantize(rows, T.Q4_K).tobytes()
    assert tensors["output_norm.weight"][1] == src_tensors["output_norm.weight"][1]
    assert out.stat().st_size % 32 == 0


@pytest.mark.parametrize("dtype", [T.F16, T.BF16])
def test_half_precision_sources(dtype, tmp_path):
    path = tiny_model("llama-heavy", tmp_path / "half.gguf", layers=1, hidden=64, ff=128, vocab=64,
                      weight_type=dtype.name)
    _, tensors = tensors_of(quantize_gguf(path, tmp_path / "f32.gguf", "F32", threads=1))
    _, src_tensors = tensors_of(path)
    raw = np.frombuffer(src_tensors["blk.0.ffn_up.weight"][1], dtype=np.uint16)
    expect = raw.view(np.float16).astype(np.float32) if dtype == T.F16 else (raw.astype(np.uint32) << 16).view(
        np.float32)
    assert tensors["blk.0.ffn_up.weight"] == (T.F32, expect.tobytes())


def test_in_memory_tensors_match_the_file_path(src, tmp_path):
    layout = read_gguf(src)
    data = src.read_bytes()
    inputs = [InputTensor(t.name, t.ne, t.qtype,
                          load=lambda t=t: np.frombuffer(data[t.offset:t.offset + t.nbytes], dtype=np.float32))
              for t in layout.tensors]
    mem = quantize_tensors(layout.kv, layout.metadata, inputs, {"Q4_0": tmp_path / "mem.gguf"}, threads=1)[0]
    assert mem.read_bytes() == quantize_gguf(src, tmp_path / "file.gguf", "Q4_0", threads=1).read_bytes()


def test_imatrix_is_used_and_checked(tmp_path):
    src = tiny_model("llama-heavy", tmp_path / "eight.gguf", layers=8, hidden=64, ff=128, vocab=64)
    layout = read_gguf(src)
    rng = np.random.default_rng(1)
    weights = {t.name: rng.random(t.ne[0]).astype(np.float32) + 0.1 for t in layout.tensors
               if len(t.ne) == 2}
    plain = quantize_gguf(src, tmp_path / "plain.gguf", "Q4_0", threads=1).read_bytes()
    weighted = quantize_gguf(src, tmp_path / "w.gguf", "Q4_0", imatrix=weights, threads=1)
    _, t = tensors_of(weighted)
    assert t["blk.0.ffn_down.weight"][0] == T.Q4_1  # the imatrix-only guard of the first ffn_down layers
    assert weighted.read_bytes() != plain
    bad = dict(weights, **{"blk.0.attn_q.weight": np.ones(7, np.float32)})
    with pytest.raises(QuantizationError, match="different model"):
        quantize_gguf(src, tmp_path / "bad.gguf", "Q4_0", imatrix=bad, threads=1)
    nan = dict(weights, **{"blk.0.attn_q.weight": np.full(64, np.nan, np.float32)})
    with pytest.raises(QuantizationError, match="non-finite"):
        quantize_gguf(src, tmp_path / "nan.gguf", "Q4_0", imatrix=nan, threads=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eight.gguf", "plain.gguf", "w.gguf"]


@pytest.mark.parametrize("threads", [1, 2])
def test_cancel_leaves_nothing(src, tmp_path, threads, small_jobs):
    token = CancelToken()

    def progress(p):
        if p.done >= 3:
            token.cancel()

    with pytest.raises(Cancelled):
        quantize_ladder(src, {"Q8_0": tmp_path / "a.gguf", "Q4_0": tmp_path / "b.gguf"}, threads=threads,
                        progress=progress, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_requantizing_needs_permission(src, tmp_path):
    q8 = quantize_gguf(src, tmp_path / "q8.gguf", "Q8_0", threads=1)
    with pytest.raises(QuantizationError, match="requantiz"):
        quantize_gguf(q8, tmp_path / "q4.gguf", "Q4_0", threads=1)
    assert not (tmp_path / "q4.gguf").exists()
    out = quantize_gguf(q8, tmp_path / "q4.gguf", "Q4_0", threads=1, allow_requantize=True)
    assert read_gguf(out).metadata["general.file_type"] == 2


def test_bad_inputs(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 16)
    with pytest.raises(OSError, match="junk.gguf"):
        quantize_gguf(junk, tmp_path / "out.gguf", "Q4_K_M")
    with pytest.raises(OSError, match="not found"):
        quantize_gguf(tmp_path / "missing.gguf", tmp_path / "out.gguf", "Q4_K_M")
    with pytest.raises(UnknownTypeError, match="unknown quantization type"):
        quantize_gguf(junk, tmp_path / "out.gguf", "Q9_K")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.gguf"]


def test_refuses_to_overwrite_the_input_or_write_twice(src, tmp_path):
    with pytest.raises(OSError, match="overwrite the input"):
        quantize_gguf(src, src, "Q8_0")
    with pytest.raises(OSError, match="same file"):
        quantize_ladder(src, {"Q8_0": tmp_path / "x.gguf", "Q4_0": tmp_path / "x.gguf"})


def test_progress_counts_source_bytes(src, tmp_path):
    reports = []
    quantize_gguf(src, tmp_path / "p.gguf", "Q8_0", threads=1, progress=reports.append)
    assert reports[0].done == 0 and reports[-1].done == reports[-1].total == sum(
        t.nbytes for t in read_gguf(src).tensors)
    assert all(a.done <= b.done for a, b in zip(reports, reports[1:]))
    assert {r.item for r in reports[1:]} == {t.name for t in read_gguf(src).tensors}


def test_plan_predicts_types_and_size(src, tmp_path):
    q4, q8 = plan_gguf(src, ["Q4_K_M", "Q8_0"])
    out = quantize_gguf(src, tmp_path / "q4.gguf", "Q4_K_M", threads=1)
    layout = read_gguf(out)
    assert q4.types == {t.name: t.qtype for t in layout.tensors}
    assert q4.nbytes == sum(t.nbytes for t in layout.tensors) and q4.nbytes < q8.nbytes
    q8_file = quantize_gguf(src, tmp_path / "q8.gguf", "Q8_0", threads=1)
    with pytest.raises(QuantizationError, match="requantiz"):
        plan_gguf(q8_file, ["Q4_K_M"])
