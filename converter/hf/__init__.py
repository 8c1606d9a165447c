"""Reading Hugging Face checkpoints: ``config.json`` and safetensors weights (single file or sharded)."""

from .checkpoint import Checkpoint, open_checkpoint
from .config import load_config
from .safetensors import SafetensorsFile, SafetensorsTensor

__all__ = ["Checkpoint", "SafetensorsFile", "SafetensorsTensor", "load_config", "open_checkpoint"]
