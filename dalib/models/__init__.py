"""ViT and DiffViT (registry ``MODELS``, ``create_model``) and their attention maps.

See ``dalib.models.vit`` for the architecture and head convention, ``dalib.models.attention`` for
the maps ``A`` / ``A1``, ``A2``, ``lambda``, ``A_DA``.
"""

from .attention import (
    ATTENTION_KINDS,
    attention_layers,
    attention_maps,
    kind_of,
    lambda_of,
    layer_attention_maps,
    layer_inputs,
    layer_output_from_maps,
    model_kind,
)
from .modes import eval_mode
from .registry import (
    DEFAULT_CONFIG,
    MODEL_KINDS,
    MODELS,
    OPTIONAL_CONFIG,
    create_model,
    model_from_config,
    validated_config,
)
from .throughput import measure_throughput
from .vit import ViTClassifier, schedule_lambda_init

__all__ = [
    "MODELS",
    "DEFAULT_CONFIG",
    "OPTIONAL_CONFIG",
    "MODEL_KINDS",
    "create_model",
    "model_from_config",
    "validated_config",
    "ViTClassifier",
    "attention_layers",
    "attention_maps",
    "layer_inputs",
    "layer_attention_maps",
    "layer_output_from_maps",
    "lambda_of",
    "schedule_lambda_init",
    "ATTENTION_KINDS",
    "kind_of",
    "model_kind",
    "count_parameters",
    "measure_throughput",
    "eval_mode",
]


def count_parameters(model) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
