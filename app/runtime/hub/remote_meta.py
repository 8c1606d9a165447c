"""A checkpoint's config and tensor list, read from the Hub without downloading any weights.

A safetensors file starts with an 8-byte little-endian header length N, then N bytes of JSON describing every tensor
(dtype, shape, byte offsets). Two HTTP Range requests per shard -- the first 8 bytes, then the header -- tell us
everything the memory-fit estimator needs. Sharded checkpoints list their shards in
``model.safetensors.index.json``.
"""

from __future__ import annotations

import json
import struct
from typing import Optional

from app.runtime.errors import HubError, HubNotFoundError
from converter.core.progress import CancelToken, check

from ._client import DEFAULT_RETRY, RetryPolicy
from .remote_files import fetch_json, read_range

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
#: Same bound as huggingface_hub's safetensors parser: a larger header is corrupt or hostile.
MAX_HEADER_BYTES = 25_000_000

TensorMeta = tuple[str, str, tuple[int, ...]]


def parse_header(raw: bytes, *, where: str) -> list[TensorMeta]:
    """Turn a safetensors JSON header into ``[(name, dtype, shape)]`` in file order (``__metadata__`` skipped)."""
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"{where}: safetensors header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise HubError(f"{where}: safetensors header is not a JSON object")
    tensors: list[TensorMeta] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = str(entry["dtype"])
            shape = tuple(int(d) for d in entry["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HubError(f"{where}: tensor {name!r} has no valid dtype/shape") from exc
        tensors.append((name, dtype, shape))
    return tensors


def _shard_names(repo_id: str, revision: str | None, token, cancel, retry) -> list[str]:
    try:
        index = fetch_json(repo_id, INDEX_FILE, revision=revision, token=token, cancel=cancel, retry=retry)
    except HubNotFoundError:
        return [SINGLE_FILE]
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise HubError(f"{repo_id}: {INDEX_FILE} has no weight_map", repo_id=repo_id)
    return list(dict.fromkeys(str(v) for v in weight_map.values()))  # unique, in first-seen order


def read_safetensors_header(repo_id: str, filename: str, *, revision: str | None = None,
                            token: str | bool | None = None, cancel: Optional[CancelToken] = None,
                            retry: RetryPolicy = DEFAULT_RETRY) -> list[TensorMeta]:
    """Read only the header of one remote safetensors file (8 bytes, then the JSON header)."""
    where = f"{repo_id}/{filename}"
    prefix = read_range(repo_id, filename, 0, 8, revision=revision, token=token, cancel=cancel, retry=retry)
    if len(prefix) < 8:
        raise HubError(f"{where}: file is shorter than a safetensors header", repo_id=repo_id)
    (size,) = struct.unpack("<Q", prefix)
    if size == 0 or size > MAX_HEADER_BYTES:
        raise HubError(f"{where}: implausible safetensors header length {size}", repo_id=repo_id)
    raw = read_range(repo_id, filename, 8, size, revision=revision, token=token, cancel=cancel, retry=retry)
    if len(raw) < size:
        raise HubError(f"{where}: truncated safetensors header ({len(raw)} of {size} bytes)", repo_id=repo_id)
    return parse_header(raw, where=where)


def remote_checkpoint_meta(repo_id: str, revision: str | None = None, token: str | bool | None = None, *,
                           cancel: Optional[CancelToken] = None,
                           retry: RetryPolicy = DEFAULT_RETRY) -> tuple[dict, list[TensorMeta]]:
    """Return ``(config, tensors)`` for a Hub checkpoint, reading config.json and only the safetensors headers.

    ``tensors`` is ``[(name, dtype, shape)]`` across all shards, e.g. ``("model.embed_tokens.weight", "BF16",
    (49152, 576))``; dtypes are safetensors' names (``BF16``, ``F16``, ``F32``, ``I64``, ...). Raises
    :class:`~app.runtime.errors.HubNotFoundError` when the repo has no config.json or no safetensors weights, and
    the other :class:`~app.runtime.errors.HubError` subclasses for auth, offline and server trouble.
    """
    config = fetch_json(repo_id, "config.json", revision=revision, token=token, cancel=cancel, retry=retry)
    tensors: list[TensorMeta] = []
    for shard in _shard_names(repo_id, revision, token, cancel, retry):
        check(cancel)
        try:
            tensors += read_safetensors_header(repo_id, shard, revision=revision, token=token, cancel=cancel,
                                               retry=retry)
        except HubNotFoundError as exc:
            raise HubNotFoundError(f"{repo_id} has no safetensors weights ({shard} not found)", repo_id=repo_id,
                                   url=exc.url) from exc
    return config, tensors
