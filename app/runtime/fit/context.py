"""Context settings as llama.cpp resolves them: padded context, batch and micro-batch sizes, KV types."""

from __future__ import annotations

from dataclasses import dataclass

from converter.core.quant_types import KV_CACHE_DEFAULT, QType, pad

from app.runtime.errors import FitError

#: llama_context pads the context to a multiple of 256 (``GGML_PAD(n_ctx, 256)``).
CTX_PAD = 256


@dataclass(frozen=True)
class ContextParams:
    """The knobs of ``llama_cpp.Llama(...)`` that change memory use, with llama-cpp-python's defaults."""

    n_ctx: int = 4096
    n_batch: int = 512
    n_ubatch: int = 512
    type_k: str = KV_CACHE_DEFAULT
    type_v: str = KV_CACHE_DEFAULT
    flash_attn: bool = False
    #: llama.cpp's default (true): sliding-window layers get a full-size cache; false gives them n_swa + n_ubatch.
    swa_full: bool = True
    n_seq_max: int = 1
    use_mmap: bool = True

    def __post_init__(self) -> None:
        if self.n_ctx <= 0:
            raise FitError(f"context size must be positive, got {self.n_ctx}")
        for name in (self.type_k, self.type_v):
            QType.parse(name)
        if self.v_type.is_quantized and not self.flash_attn:
            raise FitError("a quantized V cache needs flash attention (llama.cpp refuses it otherwise)")

    @property
    def k_type(self) -> QType:
        """ggml type of the K cache."""
        return QType.parse(self.type_k)

    @property
    def v_type(self) -> QType:
        """ggml type of the V cache."""
        return QType.parse(self.type_v)

    @property
    def kv_size(self) -> int:
        """Cells per sequence of the KV cache: the context padded to 256 (``n_ctx_seq``)."""
        return pad(self.n_ctx, CTX_PAD)

    @property
    def batch(self) -> int:
        """Effective ``n_batch``: llama-cpp-python caps it at the requested context, llama.cpp at the padded one."""
        return min(self.kv_size, min(self.n_ctx, self.n_batch))

    @property
    def ubatch(self) -> int:
        """Effective ``n_ubatch`` (the token count of the worst-case graph llama.cpp reserves)."""
        return min(self.batch, self.n_ubatch)
