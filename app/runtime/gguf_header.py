"""Read and validate a GGUF file's header in pure Python before llama.cpp sees the file.

llama.cpp checks much of this itself, but a few malformed inputs reach ``GGML_ASSERT``/``GGML_ABORT`` and end the
whole process. So the chat loader validates here first and turns every problem into a one-line
:class:`~app.runtime.errors.ModelFileError`: the magic, the version, the key/value and tensor counts, each
key/value entry, each tensor's name, shape, type and offset, and the file size against the declared tensor data.

Layout (little-endian): ``"GGUF"``, u32 version, i64 n_tensors, i64 n_kv, then n_kv entries
``(string key, u32 type, value)``, then n_tensors entries ``(string name, u32 n_dims, i64 dims[n_dims], u32 ggml
type, u64 offset)``, padding to ``general.alignment`` (default 32), then the tensor data. A string is a u64 length
plus UTF-8 bytes; an array is ``u32 element type, u64 count, elements``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.runtime.errors import ModelFileError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
MAX_TENSOR_NAME = 63  # GGML_MAX_NAME is 64 including the terminating NUL

# GGUF value types -> struct format of one element (8 = string, 9 = array are handled apart).
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
                   12: "<d"}
_STRING, _ARRAY = 8, 9
_FIRST_READ = 4 << 20


@dataclass
class TensorInfo:
    """One tensor entry of the header."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    nbytes: int


@dataclass
class GGUFHeader:
    """What a valid GGUF header declares. ``metadata`` holds every key/value (arrays as Python lists)."""

    path: Path
    version: int
    alignment: int
    data_offset: int
    data_size: int
    file_size: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """The metadata value of ``key``, or ``default``."""
        return self.metadata.get(key, default)

    def token_text(self, token_id: Any) -> str:
        """The text of vocabulary entry ``token_id`` (``""`` when absent or out of range)."""
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        if isinstance(token_id, int) and isinstance(tokens, list) and 0 <= token_id < len(tokens):
            return str(tokens[token_id])
        return ""


class _NeedMore(Exception):
    """The header continues past the bytes read so far."""


class _Cursor:
    """Bounds-checked little-endian reads over a byte buffer; every overrun becomes a clear error."""

    def __init__(self, buf: bytes, path: Path, file_size: int) -> None:
        self.buf = buf
        self.pos = 0
        self.size = len(buf)
        self.path = path
        self.complete = len(buf) >= file_size

    def short(self, message: str) -> Exception:
        """The error for a read past the buffer: more of the file is needed, or the file is truncated."""
        return ModelFileError(message, path=self.path) if self.complete else _NeedMore()

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(message, path=self.path)

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > self.size:
            raise self.short(f"file is truncated while reading {what} (offset {self.pos}, file has {self.size} bytes)")
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str):
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.buf, start)[0]

    def string(self, what: str) -> str:
        n = self.unpack("<Q", what)
        if n > self.size - self.pos:
            raise self.short(f"{what} claims {n} bytes but only {self.size - self.pos} remain: file truncated or corrupt")
        start = self.take(n, what)
        return bytes(self.buf[start:start + n]).decode("utf-8", "replace")

    def strings(self, count: int, what: str) -> list[str]:
        """``count`` consecutive strings (a tight loop: vocabularies hold 100k+ of them)."""
        buf, pos, size, unpack_from = self.buf, self.pos, self.size, struct.unpack_from
        out = []
        append = out.append
        for _ in range(count):
            if pos + 8 > size:
                break
            (n,) = unpack_from("<Q", buf, pos)
            pos += 8
            if n > size - pos:
                break
            append(buf[pos:pos + n].decode("utf-8", "replace"))
            pos += n
        else:
            self.pos = pos
            return out
        self.pos = pos
        raise self.short(f"file is truncated or corrupt inside {what} (string #{len(out)} runs past the end)")

    def value(self, vtype: int, what: str) -> Any:
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            etype = self.unpack("<I", what)
            count = self.unpack("<Q", what)
            if etype == _ARRAY:
                raise self.fail(f"{what} is an array of arrays, which GGUF does not allow")
            if etype != _STRING and etype not in _SCALAR_FORMATS:
                raise self.fail(f"{what} has invalid array element type {etype}")
            if etype != _STRING:
                width = struct.calcsize(_SCALAR_FORMATS[etype])
                if count > (self.size - self.pos) // width:
                    raise self.short(f"{what} claims {count} elements, more than the file holds")
                start = self.take(count * width, what)
                fmt = "<" + _SCALAR_FORMATS[etype][1] * count
                return list(struct.unpack_from(fmt, self.buf, start))
            if count > (self.size - self.pos) // 8:
                raise self.short(f"{what} claims {count} strings, more than the file holds")
            return self.strings(count, what)
        fmt = _SCALAR_FORMATS.get(vtype)
        if fmt is None:
            raise self.fail(f"{what} has invalid GGUF value type {vtype}")
        return self.unpack(fmt, what)


def _type_sizes() -> dict[int, tuple[int, int]]:
    from gguf import GGML_QUANT_SIZES

    return {int(k): (int(v[0]), int(v[1])) for k, v in GGML_QUANT_SIZES.items()}


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Parse and validate the header of the GGUF file at ``path``.

    Raises :class:`ModelFileError` (one line, naming the file) when the file is missing, empty, not GGUF, of an
    unsupported version, malformed, or shorter than the tensor data it declares.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            file_size = path.stat().st_size
            if file_size < 24:
                raise ModelFileError(f"file is too small to be a GGUF model ({file_size} bytes)", path=path)
            chunk = _FIRST_READ
            while True:  # read just the header: start small, grow while the parser runs past the buffer
                fh.seek(0)
                buf = fh.read(min(chunk, file_size))
                try:
                    return _parse(buf, path, file_size)
                except _NeedMore:
                    chunk *= 4
    except ModelFileError:
        raise
    except IsADirectoryError:
        raise ModelFileError("is a directory, not a GGUF file", path=path) from None
    except FileNotFoundError:
        raise ModelFileError("file not found", path=path) from None
    except OSError as exc:
        raise ModelFileError(f"cannot read file: {exc.strerror or exc}", path=path) from None


def _parse(buf: bytes, path: Path, file_size: int) -> GGUFHeader:
    cur = _Cursor(buf, path, file_size)
    magic = bytes(buf[:4])
    if magic != MAGIC:
        raise cur.fail(f"not a GGUF file (starts with {magic!r}, expected b'GGUF')")
    cur.pos = 4
    version = cur.unpack("<I", "version")
    if version not in SUPPORTED_VERSIONS:
        hint = " (byte order mismatch?)" if version & 0xFFFF == 0 else ""
        raise cur.fail(f"unsupported GGUF version {version}{hint}; supported: 2, 3")
    n_tensors = cur.unpack("<q", "tensor count")
    n_kv = cur.unpack("<q", "key/value count")
    # Every KV entry takes at least 8+1+4 bytes and every tensor entry at least 8+1+4+4+8: bound the counts by size.
    if n_tensors < 0 or n_tensors > file_size // 25:
        raise cur.fail(f"file is truncated or corrupt: the header declares {n_tensors} tensors but the file has "
                       f"only {file_size} bytes")
    if n_kv < 0 or n_kv > file_size // 13:
        raise cur.fail(f"file is truncated or corrupt: the header declares {n_kv} metadata entries but the file "
                       f"has only {file_size} bytes")

    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        key = cur.string(f"key #{i}")
        if not key:
            raise cur.fail(f"key/value entry #{i} has an empty key")
        if key in metadata:
            raise cur.fail(f"duplicate metadata key {key!r}")
        vtype = cur.unpack("<I", f"type of {key!r}")
        metadata[key] = cur.value(vtype, f"metadata {key!r}")

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 \
            or alignment & (alignment - 1):
        raise cur.fail(f"general.alignment must be a power of two, got {alignment!r}")

    sizes = _type_sizes()
    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    expected_offset = 0
    for i in range(n_tensors):
        name = cur.string(f"name of tensor #{i}")
        if len(name.encode()) > MAX_TENSOR_NAME:
            raise cur.fail(f"tensor #{i} name is longer than {MAX_TENSOR_NAME} bytes")
        if name in seen:
            raise cur.fail(f"duplicate tensor name {name!r}")
        seen.add(name)
        n_dims = cur.unpack("<I", f"dimensions of {name!r}")
        if n_dims == 0 or n_dims > MAX_DIMS:
            raise cur.fail(f"tensor {name!r} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
        shape = tuple(cur.unpack("<q", f"shape of {name!r}") for _ in range(n_dims))
        if any(d <= 0 for d in shape):
            raise cur.fail(f"tensor {name!r} has an invalid shape {list(shape)}")
        ggml_type = cur.unpack("<I", f"type of {name!r}")
        if ggml_type not in sizes:
            raise cur.fail(f"tensor {name!r} has unknown or unsupported ggml type {ggml_type}")
        block, type_size = sizes[ggml_type]
        if shape[0] % block:
            raise cur.fail(f"tensor {name!r} rows of {shape[0]} are not a multiple of its block size {block}")
        n_elements = 1
        for d in shape:
            n_elements *= d
        nbytes = n_elements // block * type_size
        if nbytes >= 1 << 62:
            raise cur.fail(f"tensor {name!r} shape {list(shape)} is impossibly large")
        offset = cur.unpack("<Q", f"offset of {name!r}")
        if offset != expected_offset:
            raise cur.fail(f"tensor {name!r} has data offset {offset}, expected {expected_offset}")
        expected_offset += -(-nbytes // alignment) * alignment
        tensors.append(TensorInfo(name, shape, ggml_type, offset, nbytes))

    data_offset = -(-cur.pos // alignment) * alignment if n_tensors else cur.pos
    data_size = tensors[-1].offset + tensors[-1].nbytes if tensors else 0
    if data_offset + data_size > file_size:
        raise cur.fail(f"file is truncated: the header declares {data_offset + data_size} bytes of model data but "
                       f"the file has {file_size}")
    header = GGUFHeader(path, version, alignment, data_offset, data_size, file_size, metadata, tensors)
    _check_model_metadata(header, cur)
    return header


def _check_model_metadata(header: GGUFHeader, cur: _Cursor) -> None:
    """Check the few metadata facts whose absence or inconsistency can make llama.cpp abort instead of fail."""
    arch = header.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise cur.fail("no general.architecture in the metadata: not a model GGUF")
    if not header.tensors:
        raise cur.fail("the file holds no tensors: not a model GGUF")
    tokens = header.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise cur.fail("no tokenizer (tokenizer.ggml.tokens) in the metadata; cannot chat with this model")
    n_vocab = len(tokens)
    if n_vocab == 0:
        raise cur.fail("the tokenizer vocabulary is empty")
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        arr = header.get(key)
        if arr is not None and (not isinstance(arr, list) or len(arr) != n_vocab):
            raise cur.fail(f"{key} has {len(arr) if isinstance(arr, list) else 'no'} entries but the vocabulary "
                           f"has {n_vocab}")
    for key, value in header.metadata.items():
        if key.startswith("tokenizer.ggml.") and key.endswith("_token_id"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise cur.fail(f"{key} is not an integer")
            if not -1 <= value < n_vocab and value != 0xFFFFFFFF:
                raise cur.fail(f"{key} = {value} is outside the vocabulary of {n_vocab} tokens")
