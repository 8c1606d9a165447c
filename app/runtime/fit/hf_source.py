"""Build a :class:`ModelSpec` for a model that is not converted yet: a Hugging Face folder or Hub repo plus a
target quantization. Only ``config.json`` and the safetensors headers are read (a few KiB), never the weights.
"""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path
from typing import Any, Iterable, Sequence

from converter.errors import CheckpointError, UnsupportedArchitectureError

from .model import DEFAULT_SWA_PATTERN, ModelSpec, TensorInfo, per_layer, swa_layers_from_pattern
from .recipe import tensor_types

log = logging.getLogger(__name__)

#: Hugging Face ``architectures[0]`` -> GGUF architecture (the converter's alias table replaces this once merged).
HF_ARCHS = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3", "GemmaForCausalLM": "gemma", "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3", "Gemma3ForConditionalGeneration": "gemma3", "Phi3ForCausalLM": "phi3",
    "StableLmForCausalLM": "stablelm", "OlmoForCausalLM": "olmo", "Olmo2ForCausalLM": "olmo2",
    "GraniteForCausalLM": "granite", "Cohere2ForCausalLM": "cohere2", "SmolLM3ForCausalLM": "smollm3",
}
_MAX_HEADER = 100 << 20


def read_safetensors_header(path: Path) -> list[tuple[str, str, list[int]]]:
    """(name, dtype, shape) of every tensor in a safetensors file, from its JSON header only."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise CheckpointError("truncated safetensors header", path=path)
            (n,) = struct.unpack("<Q", raw)
            if n > _MAX_HEADER:
                raise CheckpointError(f"safetensors header claims {n} bytes", path=path)
            header = json.loads(fh.read(n))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"unreadable safetensors header: {exc}", path=path) from exc
    return [(k, v["dtype"], list(v["shape"])) for k, v in header.items() if k != "__metadata__"]


def _safetensors_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"bad index: {exc}", path=index) from exc
        return [folder / f for f in sorted(set(weight_map.values()))]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise CheckpointError("no .safetensors files (only safetensors checkpoints are supported)", path=folder)
    return files


def spec_from_hf_folder(folder: str | Path, quant: str) -> ModelSpec:
    """ModelSpec of a local Hugging Face checkpoint quantized to ``quant``."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    try:
        config = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise CheckpointError("no config.json", path=folder) from None
    except ValueError as exc:
        raise CheckpointError(f"invalid JSON: {exc}", path=cfg_path) from exc
    tensors = [t for f in _safetensors_files(folder) for t in read_safetensors_header(f)]
    return spec_from_checkpoint_meta(config, tensors, quant, source=str(folder))


def spec_from_hub(repo_id: str, quant: str, revision: str | None = None, token: str | None = None) -> ModelSpec:
    """ModelSpec of a Hub repository (config and safetensors headers fetched by ``app.runtime.hub``)."""
    from app.runtime.hub import remote_checkpoint_meta

    config, tensors = remote_checkpoint_meta(repo_id, revision=revision, token=token)
    return spec_from_checkpoint_meta(config, tensors, quant, source=repo_id)


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    text = config.get("text_config")
    return {**config, **text} if isinstance(text, dict) else config


def spec_from_checkpoint_meta(config: dict[str, Any], tensors: Iterable[tuple[str, str, Sequence[int]]],
                              quant: str, *, source: str = "") -> ModelSpec:
    """ModelSpec from a ``config.json`` dict and HF tensor headers, with ggml types from the quant recipe."""
    import gguf

    archs = config.get("architectures") or []
    arch = HF_ARCHS.get(archs[0]) if archs else None
    if arch is None:
        raise UnsupportedArchitectureError(archs[0] if archs else config.get("model_type", "?"),
                                           path=source or None, supported=list(HF_ARCHS))
    c = _text_config(config)
    n_layer = int(c["num_hidden_layers"])
    n_embd = int(c["hidden_size"])
    n_head = int(c["num_attention_heads"])
    n_head_kv = int(c.get("num_key_value_heads") or n_head)
    head_dim = int(c.get("head_dim") or n_embd // n_head)

    arch_enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    name_map = gguf.get_tensor_name_map(arch_enum, n_layer)
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for hf_name, _dtype, shape in tensors:
        name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            log.debug("%s: tensor %s has no GGUF name, skipped", source, hf_name)
            continue
        shapes.append((name, tuple(int(n) for n in reversed(shape))))
    if not shapes:
        raise CheckpointError("no tensors that map to GGUF names", path=source or None)
    if c.get("tie_word_embeddings", arch in ("gemma", "gemma2", "gemma3")):
        shapes = [s for s in shapes if s[0] != "output.weight"]
    types = tensor_types(quant, arch, n_layer, shapes)
    infos = [TensorInfo(n, types[n], s) for n, s in shapes]

    n_vocab = int(c.get("vocab_size") or next((s[1] for n, s in shapes if n == "token_embd.weight"), 0))
    n_swa = int(c.get("sliding_window") or 0) if arch in DEFAULT_SWA_PATTERN else 0
    swa_layers = [False] * n_layer
    if n_swa:
        if isinstance(c.get("layer_types"), list):
            swa_layers = [t == "sliding_attention" for t in c["layer_types"]][:n_layer]
        else:
            pattern = int(c.get("sliding_window_pattern") or DEFAULT_SWA_PATTERN[arch])
            swa_layers = swa_layers_from_pattern(pattern, n_layer)
    return ModelSpec(
        arch=arch, n_layer=n_layer, n_embd=n_embd, n_vocab=n_vocab, n_head=[n_head] * n_layer,
        n_head_kv=[n_head_kv] * n_layer, head_dim_k=[head_dim] * n_layer, head_dim_v=[head_dim] * n_layer,
        n_ff=per_layer(c.get("intermediate_size", 0), n_layer), tensors=infos,
        n_ctx_train=int(c.get("max_position_embeddings") or 0), n_swa=n_swa, swa_layers=swa_layers,
        n_expert=int(c.get("num_local_experts") or c.get("num_experts") or 0),
        n_expert_used=int(c.get("num_experts_per_tok") or 0), source=source,
    )
