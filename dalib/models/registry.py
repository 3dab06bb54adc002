"""Model registry: ``MODELS`` maps a name to a factory; ``create_model(name, **config)``.

ViT and DiffViT (the paper's controlled pair) differ by the one string ``name``.
"""

import numbers

from ..data import get_spec
from .attention import get_kind
from .stem import DEFAULT_STEM, check_stem
from .vit import ViTClassifier

_CIFAR10 = get_spec("cifar10")  # the default normalisation inside the model: the dataset spec's

# Every config key with its default (a lightweight CIFAR ViT: 32x32 images, 4x4 patches).
DEFAULT_CONFIG = {
    "depth": 12,  # number of transformer blocks
    "lambda_init": 0.8,  # DiffViT: constant lambda_init (float, or its text) or "schedule" (Diff Transformer); ignored by vit
    "num_classes": 10,  # classifier outputs
    "img_size": 32,  # input height = width (pixels)
    "patch_size": 4,  # patch side (pixels)
    "embed_dim": 192,  # token width C
    "num_heads": 6,  # heads of the standard model; DiffViT uses num_heads // 2 differential heads
    "mlp_ratio": 4.0,  # MLP hidden width / C
    "qkv_bias": True,  # bias in the q/k/v projection
    "global_pool": "token",  # classifier input: "token" (class token, standard ViT) or "avg" (mean of patch tokens)
    "mean": list(_CIFAR10.mean),  # per-channel normalisation mean (inside the model)
    "std": list(_CIFAR10.std),  # per-channel normalisation std (inside the model)
}

# Keys added after the zoo's first models: a config holds one only where it differs from its default
# here, so that every configuration from before the key existed keeps its hash, name and zoo entry.
OPTIONAL_CONFIG = {
    "stem": DEFAULT_STEM,  # token stem (dalib.models.stem.STEMS): "patch" (the paper's) or "conv" (Compact Transformers)
}


def _check_config(name, config):
    c = config
    for key in ("depth", "num_classes", "img_size", "patch_size", "embed_dim", "num_heads"):
        v = c[key]
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: config {key!r} must be a positive int, got {v!r}")
        c[key] = int(v)
    lam = c["lambda_init"]
    if isinstance(lam, str) and lam != "schedule":  # a number given as text (notebook parameters)
        try:
            lam = c["lambda_init"] = float(lam)
        except ValueError:
            raise ValueError(f"{name}: lambda_init must be a float or 'schedule', got {lam!r}") from None
    if isinstance(lam, str):
        pass
    elif isinstance(lam, numbers.Real) and not isinstance(lam, bool):
        c["lambda_init"] = float(lam)
        # A1 - lambda A2 with output scale (1 - lambda_init): lambda_init = 1 zeroes the output, a
        # negative one adds the second map; the paper and Diff Transformer use (0, 1) (0.2 to 0.95)
        if not 0.0 <= c["lambda_init"] < 1.0:
            raise ValueError(
                f"{name}: lambda_init must lie in [0, 1) (the paper uses 0.5 to 0.95; "
                f"'schedule' gives 0.2 to 0.8), got {lam!r}"
            )
    else:
        raise ValueError(f"{name}: lambda_init must be a float or 'schedule', got {lam!r}")
    if not isinstance(c["mlp_ratio"], numbers.Real) or c["mlp_ratio"] <= 0:
        raise ValueError(f"{name}: mlp_ratio must be a positive number, got {c['mlp_ratio']!r}")
    c["mlp_ratio"] = float(c["mlp_ratio"])
    if c["img_size"] % c["patch_size"]:
        raise ValueError(f"{name}: img_size {c['img_size']} is not divisible by patch_size {c['patch_size']}")
    if c["embed_dim"] % c["num_heads"]:
        raise ValueError(f"{name}: embed_dim {c['embed_dim']} is not divisible by num_heads {c['num_heads']}")
    c["mean"] = [float(v) for v in c["mean"]]
    c["std"] = [float(v) for v in c["std"]]
    if len(c["mean"]) != len(c["std"]) or any(s <= 0 for s in c["std"]):
        raise ValueError(
            f"{name}: mean and std must have one entry per channel and std > 0, got mean={c['mean']}, std={c['std']}"
        )
    c["qkv_bias"] = bool(c["qkv_bias"])
    if c["global_pool"] not in ("token", "avg"):
        raise ValueError(f"{name}: global_pool must be 'token' or 'avg', got {c['global_pool']!r}")
    return c


def _validated(name, config):
    """The full, validated config of model ``name`` (defaults filled in), without building it."""
    kind = get_kind(MODEL_KINDS[name])
    valid = {**DEFAULT_CONFIG, **OPTIONAL_CONFIG}
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} for model {name!r}; valid keys: {sorted(valid)}")
    c = _check_config(name, {**DEFAULT_CONFIG, **config})
    if "stem" in c:
        check_stem(name, c["stem"])
    for key, default in OPTIONAL_CONFIG.items():  # a default optional key stays out of the config (and its hash)
        if key in c and c[key] == default:
            del c[key]
    if c["num_heads"] % kind.head_divisor:
        raise ValueError(
            f"{name}: num_heads={c['num_heads']} is not a multiple of {kind.head_divisor}; num_heads counts the "
            f"heads of the standard model and {name} uses num_heads // {kind.head_divisor} {kind.name} heads, so "
            f"pass a multiple of {kind.head_divisor} (e.g. {c['num_heads'] + kind.head_divisor - c['num_heads'] % kind.head_divisor})"
        )
    return c


def _factory(name):
    def factory(**config):
        c = _validated(name, config)
        return ViTClassifier(attn=MODEL_KINDS[name], **c, config={"model": name, **c})

    factory.__name__ = name
    factory.__doc__ = (
        f"Build a {name} classifier ({MODEL_KINDS[name]} attention); config keys and defaults: DEFAULT_CONFIG."
    )
    return factory


# model name -> its attention kind (dalib.models.attention.ATTENTION_KINDS): the one place a name meets a kind
MODEL_KINDS = {"vit": "standard", "diffvit": "diff", "diffv2": "diffv2"}
MODELS = {name: _factory(name) for name in MODEL_KINDS}


def create_model(name, **config):
    """Build the registered model ``name`` (``"vit"`` or ``"diffvit"``) with config overrides.

    Unknown names or config keys raise ``ValueError`` listing the valid ones. The model takes
    images ``(B, 3, H, W)`` in [0, 1] and returns logits ``(B, num_classes)``; ``model.config``
    holds ``{"model": name, **full_config}``.
    """
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {sorted(MODELS)}")
    return MODELS[name](**config)


def validated_config(name, **config):
    """What ``create_model(name, **config).config`` would be (``{"model": name, **full_config}``),
    validated the same way, without building the model."""
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {sorted(MODELS)}")
    return {"model": name, **_validated(name, config)}


def model_from_config(config):
    """Rebuild a model from its ``model.config`` dict (``{"model": name, ...}``)."""
    config = dict(config)
    if "model" not in config:
        raise ValueError(f"config has no 'model' key (one of {sorted(MODELS)}): {config}")
    return create_model(config.pop("model"), **config)
