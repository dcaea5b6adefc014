"""Training: config, recipes, optimizers, schedules, the loop, checkpoints and the run queue.

    from cifarzoo.train import get_recipe, train
    cfg = get_recipe("resnet56_cifar10")
    cfg.data_dir = "~/data"
    results = train(cfg)

Names are imported lazily, so ``import cifarzoo.train`` stays cheap for the CLI."""
from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "config", "apply_overrides": "config",
    "get_recipe": "recipes", "list_recipes": "recipes", "RECIPES": "recipes",
    "Trainer": "trainer", "train": "trainer",
    "build_optimizer": "optim", "AdaBound": "optim", "SAM": "optim",
    "lr_multiplier": "schedules", "lr_find": "lr_finder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
