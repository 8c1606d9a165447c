"""What the estimator needs to know about a model: its hyper-parameters and the exact list of its tensors.

Shapes are in ggml order (``ne0`` first: ``[n_embd, n_vocab]`` for ``token_embd.weight``), names are GGUF names.
Per-layer values (head counts, head sizes, sliding window) are lists with one entry per layer, because models such
as Gemma 3 mix sliding-window and global layers and others vary head counts by layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from app.runtime.errors import FitError
from converter.core.quant_types import QType

_LAYER = re.compile(r"^blk\.(\d+)\.")

#: Tensors of the input layer: llama.cpp always keeps them on the CPU (``dev_input`` in llama-model.cpp).
INPUT_TENSORS = ("token_embd.", "pos_embd.", "token_types.", "per_layer_token_embd.")
#: Tensors of the output layer: they go where layer ``n_layer`` goes (GPU only when all layers are offloaded).
OUTPUT_TENSORS = ("output.", "output_norm.", "cls.", "cls_out.", "cls_norm.", "dense_2.", "dense_3.")


@dataclass(frozen=True)
class WeightTensor:
    """One weight tensor: GGUF name, ggml type, ggml shape, and its byte offset in the GGUF file if known."""

    name: str
    type: QType
    shape: tuple[int, ...]
    offset: int | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor data (``ggml_nbytes``)."""
        return QType(self.type).nbytes(self.shape)

    @property
    def layer(self) -> int | None:
        """Block index for ``blk.N.*`` tensors, else None."""
        m = _LAYER.match(self.name)
        return int(m.group(1)) if m else None

    @property
    def role(self) -> str:
        """``"input"``, ``"output"`` or ``"layer"``: which llama.cpp layer group places this tensor."""
        if self.layer is not None:
            return "layer"
        if self.name.startswith(INPUT_TENSORS):
            return "input"
        if self.name.startswith(OUTPUT_TENSORS):
            return "output"
        return "layer"  # rope_freqs and friends: created with layer 0


@dataclass
class ModelSpec:
    """Architecture hyper-parameters plus the tensor list, from a GGUF file or a Hugging Face checkpoint."""

    arch: str
    n_layer: int
    n_embd: int
    n_vocab: int
    n_head: list[int]
    n_head_kv: list[int]
    head_dim_k: list[int]
    head_dim_v: list[int]
    n_ff: list[int]
    tensors: list[WeightTensor]
    n_ctx_train: int = 0
    n_swa: int = 0
    swa_layers: list[bool] = field(default_factory=list)
    n_expert: int = 0
    n_expert_used: int = 0
    source: str = ""
    #: Size of the GGUF file (None for a model not written yet).
    file_size: int | None = None
    #: Memo of derived tables (per-layer weight summaries), keyed by what they depend on.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.swa_layers:
            self.swa_layers = [False] * self.n_layer
        for name in ("n_head", "n_head_kv", "head_dim_k", "head_dim_v", "n_ff", "swa_layers"):
            if len(getattr(self, name)) != self.n_layer:
                raise FitError(f"{name} has {len(getattr(self, name))} entries for {self.n_layer} layers")

    @property
    def is_swa(self) -> bool:
        """True when some layers use a sliding window (llama.cpp then builds an iSWA KV cache)."""
        return self.n_swa > 0 and any(self.swa_layers)

    @property
    def max_v_width(self) -> int:
        """Widest V row (head_dim_v * n_head_kv) of any layer: the transposed V cache uses it for all layers."""
        return max((d * h for d, h in zip(self.head_dim_v, self.n_head_kv)), default=0)

    @property
    def weights_bytes(self) -> int:
        """Sum of all tensor sizes."""
        return sum(t.nbytes for t in self.tensors)

    def expert_widths(self) -> list[tuple[int, int]]:
        """Per layer ``(n_ff_exp, n_ff_shexp)``: the FFN width of one routed expert and of the shared expert(s),
        read from the shapes of ``ffn_down_exps`` (ggml ``[n_ff_exp, n_embd, n_expert]``) and ``ffn_down_shexp``;
        ``(0, 0)`` for a dense layer (e.g. the leading dense layers of DeepSeek-style models).

        The shapes rather than the ``expert_feed_forward_length`` keys: they hold for every architecture and
        for layers that differ, and ``feed_forward_length`` of a MoE model is often the width of a dense FFN.
        """
        key = ("expert-widths", id(self.tensors), len(self.tensors))
        if key not in self.cache:
            widths = [[0, 0] for _ in range(self.n_layer)]
            for t in self.tensors:
                il = t.layer
                if il is None or il >= self.n_layer or len(t.shape) < 2:
                    continue
                if t.name.endswith(".ffn_down_exps.weight"):
                    widths[il][0] = t.shape[0]
                elif t.name.endswith(".ffn_down_shexp.weight"):
                    widths[il][1] = t.shape[0]
            self.cache[key] = [(e, s) for e, s in widths]
        return self.cache[key]

    def tied_output(self) -> bool:
        """True when there is no ``output.weight`` and llama.cpp reuses ``token_embd`` as the output matrix."""
        names = {t.name for t in self.tensors}
        return "output.weight" not in names and "token_embd.weight" in names


def per_layer(value: int | Sequence[int], n_layer: int) -> list[int]:
    """Expand a scalar hyper-parameter to one value per layer (arrays are taken as they are)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_layer:
            raise FitError(f"per-layer value has {len(value)} entries for {n_layer} layers")
        return [int(v) for v in value]
    return [int(value)] * n_layer


#: Sliding-window layer pattern llama.cpp uses when the file does not say (``load_swa_pattern(ml, N)``):
#: layer ``il`` slides when ``il % N < N - 1``.
DEFAULT_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gemma3n": 5}


def swa_layers_from_pattern(n_pattern: int, n_layer: int, dense_first: bool = False) -> list[bool]:
    """llama_hparams::set_swa_pattern: which layers use the sliding window."""
    if dense_first:
        return [n_pattern == 0 or il % n_pattern != 0 for il in range(n_layer)]
    return [n_pattern == 0 or il % n_pattern < n_pattern - 1 for il in range(n_layer)]
