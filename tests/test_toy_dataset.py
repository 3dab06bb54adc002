"""A dataset is one file (CONTRIBUTING): a spec and its loader, registered at import. Here a toy
dataset registered from this test file alone is loaded by name, trained on by name (its spec gives
the model's input size, classes and normalisation) and its bad names are refused with the fix."""

import pytest
import torch

from dalib.data import DATASETS, DatasetSpec, TensorImageDataset, as_tensors, get_spec, register


def _toy_loader(split, root, download=None, image_size=None, transform=None, cache=None, **_):
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 48 if split == "train" else 16
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.rand(n, 3, 8, 8, generator=g) * 0.2 + y.view(-1, 1, 1, 1) * 0.3  # separable classes
    images = (x * 255).round().to(torch.uint8)  # (N, C, H, W) uint8, as every loader stores them
    return TensorImageDataset(
        images, name="toy-squares", split=split, labels=y, classes=["a", "b", "c"], source="memory"
    )


@pytest.fixture
def toy():
    spec = register(
        DatasetSpec(
            name="toy-squares",
            loader=_toy_loader,
            splits=("train", "test"),
            eval_split="test",
            train_split="train",
            image_size=8,
            num_classes=3,
            mean=(0.5, 0.5, 0.5),
            std=(0.25, 0.25, 0.25),
            sizes={"train": 48, "test": 16},
        )
    )
    yield spec
    del DATASETS[spec.name]


def test_a_dataset_registered_in_one_place_is_loaded_and_trained_on_by_name(toy, tmp_path):
    from dalib.train import train, train_config

    assert get_spec("toy-squares") is toy
    x, y = as_tensors("toy-squares", "train")
    assert x.shape == (48, 3, 8, 8) and y.shape == (48,)
    cfg = train_config("vit", {"depth": 1, "patch_size": 4, "embed_dim": 16, "num_heads": 4}, dataset="toy-squares")
    assert (cfg["img_size"], cfg["num_classes"], cfg["mean"]) == (8, 3, [0.5, 0.5, 0.5])  # from the spec
    res = train(
        "vit",
        {"depth": 1, "patch_size": 4, "embed_dim": 16, "num_heads": 4},
        dataset="toy-squares",
        epochs=2,
        batch_size=16,
        precision="fp32",
        checkpoints=tmp_path,
        zoo=tmp_path / "zoo",
        progress=False,
    )
    assert res.config["dataset"] == "toy-squares" and 0 <= res.test_accuracy <= 1
    with pytest.raises(ValueError, match="toy-squares has 3 classes|num_classes=5"):
        train_config("vit", {"depth": 1, "num_classes": 5}, dataset="toy-squares")
    with pytest.raises(ValueError, match="n_train=49 exceeds the 48 images"):
        train_config("vit", {"depth": 1}, dataset="toy-squares", n_train=49)
