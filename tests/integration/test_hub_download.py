"""download_model against the local fake Hub: full, resumed, cancelled, retried, disk full, gated, refused."""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple

import pytest

from app.runtime.errors import (HubAuthError, HubDiskSpaceError, HubNotFoundError, HubOfflineError, HubServerError,
                                UnsupportedModelError)
from app.runtime.hub import RetryPolicy, download_model, local_snapshot
from app.runtime.hub import transfer
from app.runtime.paths import hf_hub_cache
from converter.core.progress import CancelToken, Cancelled
from tests.fixtures.fake_hub import fake_hub  # noqa: F401 - pytest fixture
from tests.fixtures.hub_repos import sha256, tiny_repo

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.02, connect_attempts=2)
WANTED = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


def _blobs(repo_id: str):
    return hf_hub_cache() / ("models--" + repo_id.replace("/", "--")) / "blobs"


def test_full_download_matches_source_and_is_shared_with_huggingface_hub(fake_hub, smollm2_hf):
    from huggingface_hub import hf_hub_download

    fake_hub.add_repo("acme/smol", smollm2_hf)
    reports = []
    snap = download_model("acme/smol", progress=reports.append, retry=FAST)
    assert {p.name for p in snap.iterdir()} == WANTED  # README.md and everything else left out
    for name in WANTED:
        assert sha256(snap / name) == sha256(smollm2_hf / name), name
    assert (snap / "model.safetensors").is_symlink()  # standard layout: snapshots/<commit>/f -> ../../blobs/<etag>
    last = reports[-1]
    assert last.unit == "bytes" and last.done == last.total == sum((smollm2_hf / n).stat().st_size for n in WANTED)
    assert any(r.speed for r in reports)
    assert not list(_blobs("acme/smol").glob("*.incomplete"))

    # huggingface_hub itself finds our files in its cache (no second download) ...
    served = fake_hub.bytes_served
    path = hf_hub_download("acme/smol", "model.safetensors", cache_dir=hf_hub_cache())
    assert path == str(snap / "model.safetensors") and fake_hub.bytes_served == served
    # ... and so do we: a second call transfers nothing
    assert download_model("acme/smol", retry=FAST) == snap
    assert fake_hub.bytes_served == served


def test_cut_connection_is_resumed_with_a_range_request(fake_hub):
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    fake_hub.cut("model.safetensors", after=100_000)
    snap = download_model("acme/tiny", retry=FAST)
    assert sha256(snap / "model.safetensors") == sha256(files["model.safetensors"])
    ranges = [r for (_, p, r, _) in fake_hub.requests if p.startswith("/cdn/") and r]
    assert ranges == ["bytes=100000-"]
    assert fake_hub.served("model.safetensors") == len(files["model.safetensors"])  # nothing fetched twice


def test_download_interrupted_for_good_resumes_in_a_later_call(fake_hub):
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    fake_hub.cut("model.safetensors", after=70_000)
    fake_hub.fail("model.safetensors", status=503, times=2)  # then the Hub stays down longer than we retry
    with pytest.raises(HubServerError, match="HTTP 503 .*run the download again to resume"):
        download_model("acme/tiny", retry=RetryPolicy(attempts=2, base=0.01))
    parts = list(_blobs("acme/tiny").glob("*.incomplete"))
    assert len(parts) == 1 and parts[0].stat().st_size == 70_000
    assert local_snapshot("acme/tiny") is None  # nothing claims to be complete
    from huggingface_hub import scan_cache_dir

    assert not scan_cache_dir(hf_hub_cache()).warnings  # other tools still read the cache happily
    snap = download_model("acme/tiny", retry=FAST)
    assert sha256(snap / "model.safetensors") == sha256(files["model.safetensors"])
    assert fake_hub.served("model.safetensors") == len(files["model.safetensors"])
    assert local_snapshot("acme/tiny") == snap


def test_cancel_mid_file_keeps_the_partial_file_for_later(fake_hub, monkeypatch):
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    token = CancelToken()
    real = transfer._write_chunk

    def write(f, chunk):  # the user presses Cancel while the first piece of the weights is being written
        real(f, chunk)
        token.cancel()

    monkeypatch.setattr(transfer, "_write_chunk", write)
    with pytest.raises(Cancelled):
        download_model("acme/tiny", cancel=token, retry=FAST)
    monkeypatch.setattr(transfer, "_write_chunk", real)
    size = len(files["model.safetensors"])
    blob = _blobs("acme/tiny") / sha256(files["model.safetensors"])
    part = blob.with_name(blob.name + ".incomplete")
    assert not blob.exists() and part.exists() and 0 < part.stat().st_size < size
    snap_file = next(hf_hub_cache().rglob("snapshots/*/model.safetensors"), None)
    assert snap_file is None  # no complete file claimed
    snap = download_model("acme/tiny", retry=FAST)
    assert sha256(snap / "model.safetensors") == sha256(files["model.safetensors"])
    assert fake_hub.served("model.safetensors") < 2 * size  # resumed, not restarted


def test_server_errors_are_retried(fake_hub):
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    fake_hub.fail("model.safetensors", status=503, times=2)
    fake_hub.fail("api", status=500, times=1)
    snap = download_model("acme/tiny", retry=FAST)
    assert sha256(snap / "model.safetensors") == sha256(files["model.safetensors"])


def test_persistent_server_error_gives_up_with_a_clear_message(fake_hub):
    fake_hub.add_repo("acme/tiny", tiny_repo())
    fake_hub.fail("api", status=502, times=10)
    with pytest.raises(HubServerError, match="HTTP 502 after 4 tries"):
        download_model("acme/tiny", retry=FAST)


def test_not_enough_disk_space_is_refused_before_downloading(fake_hub, monkeypatch):
    fake_hub.add_repo("acme/tiny", tiny_repo())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(HubDiskSpaceError, match=r"needs .* only 0\.0 MiB free") as info:
        download_model("acme/tiny", retry=FAST)
    assert info.value.needed > 200_000 and info.value.free == 1000 and info.value.errno == errno.ENOSPC
    assert fake_hub.served("model.safetensors") == 0


def test_disk_filling_up_midway_is_reported_and_resumable(fake_hub, monkeypatch):
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    written = {"n": 0}
    real = transfer._write_chunk

    def write(f, chunk):
        if written["n"] >= 64 * 1024:
            raise OSError(errno.ENOSPC, "No space left on device")
        written["n"] += len(chunk)
        real(f, chunk)

    monkeypatch.setattr(transfer, "_write_chunk", write)
    with pytest.raises(HubDiskSpaceError, match="disk full .* resumes"):
        download_model("acme/tiny", retry=FAST)
    monkeypatch.setattr(transfer, "_write_chunk", real)
    snap = download_model("acme/tiny", retry=FAST)
    assert sha256(snap / "model.safetensors") == sha256(files["model.safetensors"])


def test_gated_repo_needs_the_right_token(fake_hub):
    fake_hub.add_repo("meta/gated", tiny_repo(), gated="manual", token="hf_right")
    with pytest.raises(HubAuthError, match=r"gated.*kompakt login.*/meta/gated") as info:
        download_model("meta/gated", retry=FAST)
    assert info.value.status == 401 and info.value.gated and info.value.url.endswith("/meta/gated")
    with pytest.raises(HubAuthError, match=r"no access .* accept its licence at http://127\.0\.0\.1:\d+/meta/gated"):
        download_model("meta/gated", token="hf_wrong", retry=FAST)
    assert fake_hub.served("model.safetensors") == 0
    assert download_model("meta/gated", token="hf_right", retry=FAST).is_dir()


def test_stored_token_is_used(fake_hub):
    import os
    from pathlib import Path

    fake_hub.add_repo("meta/gated", tiny_repo(), gated="auto", token="hf_right")
    Path(os.environ["HF_HOME"]).mkdir(parents=True, exist_ok=True)
    (Path(os.environ["HF_HOME"]) / "token").write_text("hf_right")
    assert (download_model("meta/gated", retry=FAST) / "config.json").exists()
    assert all(auth for (_, p, _, auth) in fake_hub.requests if "/resolve/" in p)
    assert not any(auth for (_, p, _, auth) in fake_hub.requests if p.startswith("/cdn/"))  # token stays on the Hub




def test_unsupported_architecture_is_refused_before_any_download(fake_hub):
    cfg = {"architectures": ["FancyNewForCausalLM"], "model_type": "fancy"}
    fake_hub.add_repo("acme/fancy", tiny_repo(config=cfg))
    with pytest.raises(UnsupportedModelError,
                       match="does not support the FancyNewForCausalLM architecture .nothing was downloaded"):
        download_model("acme/fancy", retry=FAST)
    assert set(fake_hub.bytes_by_file) == {"config.json"}
    assert [p for (_, p, _, _) in fake_hub.requests if "/resolve/" in p or "/cdn/" in p] == [
        "/acme/fancy/resolve/" + fake_hub.repos["acme/fancy"].commit + "/config.json"]
    assert not hf_hub_cache().exists() or not list(hf_hub_cache().rglob("snapshots/*/*"))


def test_sharded_checkpoint_downloads_exactly_the_index_shards(fake_hub):
    files = tiny_repo(sharded=True)
    files["consolidated.safetensors"] = files["model-00001-of-00002.safetensors"]  # another runtime's copy
    fake_hub.add_repo("acme/sharded", files)
    snap = download_model("acme/sharded", retry=FAST)
    names = {p.name for p in snap.iterdir()}
    assert {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "model.safetensors.index.json"} <= names
    assert "consolidated.safetensors" not in names and "pytorch_model.bin" not in names
    assert local_snapshot("acme/sharded") == snap


def test_pickle_only_repo_needs_allow_pickle(fake_hub):
    files = {k: v for k, v in tiny_repo().items() if k != "model.safetensors"}
    fake_hub.add_repo("acme/pickled", files)
    with pytest.raises(UnsupportedModelError, match="only has PyTorch pickle weights"):
        download_model("acme/pickled", retry=FAST)
    snap = download_model("acme/pickled", allow_pickle=True, retry=FAST)
    assert (snap / "pytorch_model.bin").read_bytes() == files["pytorch_model.bin"]


def test_unknown_repo_and_revision(fake_hub):
    fake_hub.add_repo("acme/tiny", tiny_repo())
    with pytest.raises(HubNotFoundError, match="no model acme/nope"):
        download_model("acme/nope", retry=FAST)
    with pytest.raises(HubNotFoundError, match="no such revision"):
        download_model("acme/tiny", revision="v9", retry=FAST)


def test_offline_uses_local_snapshot_or_says_so(fake_hub, monkeypatch):
    fake_hub.add_repo("acme/tiny", tiny_repo())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError, match="offline mode is on"):
        download_model("acme/tiny", retry=FAST)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    snap = download_model("acme/tiny", retry=FAST)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_model("acme/tiny", retry=FAST) == snap
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    fake_hub.stop()  # connection refused from now on
    assert download_model("acme/tiny", retry=FAST) == snap
    with pytest.raises(HubOfflineError, match="cannot reach .*connection refused"):
        download_model("acme/other", retry=FAST)


def test_include_picks_a_ready_made_gguf(fake_hub):
    fake_hub.add_repo("acme/tiny-GGUF", {"tiny-Q4_K_M.gguf": b"GGUF" + bytes(1000),
                                         "tiny-Q8_0.gguf": b"GGUF" + bytes(2000)},
                      library_name="gguf", tags=["gguf"])
    snap = download_model("acme/tiny-GGUF", include="*Q4_K_M.gguf", retry=FAST)
    assert [p.name for p in snap.iterdir()] == ["tiny-Q4_K_M.gguf"]
    with pytest.raises(UnsupportedModelError, match="only ready-made GGUF files"):
        download_model("acme/tiny-GGUF", retry=FAST)


def test_without_symlinks_files_are_moved_into_the_snapshot(fake_hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_SYMLINKS", True)
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    snap = download_model("acme/tiny", retry=FAST)
    weights = snap / "model.safetensors"
    assert not weights.is_symlink() and sha256(weights) == sha256(files["model.safetensors"])
    served = fake_hub.bytes_served
    assert download_model("acme/tiny", retry=FAST) == snap and fake_hub.bytes_served == served


def test_corrupt_download_is_detected_and_discarded(fake_hub):
    from app.runtime.errors import HubIntegrityError

    repo = fake_hub.add_repo("acme/tiny", tiny_repo())
    repo.files["model.safetensors"].sha256 = "0" * 64  # the Hub announces a checksum the bytes do not have
    with pytest.raises(HubIntegrityError, match="sha256 mismatch"):
        download_model("acme/tiny", retry=FAST)
    assert not list(_blobs("acme/tiny").glob("0000*"))
    assert local_snapshot("acme/tiny") is None
