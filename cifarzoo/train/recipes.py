"""Named training recipes: the configurations of the source documents (/work/shared/seeds, cited by
number) and of the papers they cite, plus short "fast" recipes for one GPU.

Each recipe is a function returning a fresh ``TrainConfig``; its docstring names the source.
``get_recipe(name)`` builds one (suggesting close names for a typo), ``list_recipes()`` lists them.
Where a document leaves a value open, the comment says what was chosen and why.
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Callable

from cifarzoo.data import AugConfig
from cifarzoo.train.config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str  # first docstring line: source and document number
    details: str      # the whole docstring
    build: Callable[[], TrainConfig]


RECIPES: dict[str, Recipe] = {}


def _register(name: str, fn: Callable[[], TrainConfig], doc: str | None = None) -> None:
    if name in RECIPES:
        raise RuntimeError(f"recipe {name!r} defined twice")
    doc = inspect.cleandoc(doc or fn.__doc__ or "")
    RECIPES[name] = Recipe(name, doc.split("\n")[0], doc, fn)


def recipe(fn: Callable[[], TrainConfig]) -> Callable[[], TrainConfig]:
    _register(fn.__name__, fn)
    return fn


def list_recipes() -> list[str]:
    return sorted(RECIPES)


def get_recipe(name: str) -> TrainConfig:
    """A fresh config for recipe ``name`` (its ``recipe`` and ``out_dir`` fields filled in)."""
    if name not in RECIPES:
        close = difflib.get_close_matches(name, list(RECIPES), n=5, cutoff=0.5)
        if not close:
            close = [r for r in RECIPES if r.startswith(name.split("_")[0])][:5]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(f"Unknown recipe {name!r}.{hint} (`cifarzoo recipes` lists all {len(RECIPES)}.)")
    cfg = RECIPES[name].build()
    cfg.recipe = name
    cfg.out_dir = f"runs/{name}"
    return cfg


# --------------------------------------------------------------------------------------------
# Document 000: Strong Baselines for CIFAR-100 (ResNet-50 ladder, torchvision reference scripts)
# --------------------------------------------------------------------------------------------

def _doc000_base(model: str) -> TrainConfig:
    # doc 000 "基础训练配置": lr 0.1, batch 128, 200 epochs, MultiStepLR /5 at 60/120/160, SGD m0.9,
    # wd 5e-4, 5 linear warm-up epochs (torchvision's --lr-warmup-decay 0.01 start), crop 4 + flip.
    # Milestones are absolute epochs, as the document states them.
    return TrainConfig(model=model, dataset="cifar100", epochs=200, batch_size=128, lr=0.1, momentum=0.9,
                       weight_decay=5e-4, schedule="multistep", milestones=[60, 120, 160], gamma=0.2,
                       warmup_epochs=5, warmup_method="linear", warmup_start_factor=0.01,
                       aug=AugConfig(crop_padding=4, flip=True))


for _suffix, _acc in (("t", "62.72"), ("e1", "73.72"), ("e2", "80.39"), ("e3", "80.53"), ("e5", "80.91")):
    _name = f"resnet50_{_suffix}_cifar100" if _suffix != "e5" else "resnet50_e5_multistep_cifar100"
    _register(_name, (lambda m=f"resnet50_{_suffix}": lambda: _doc000_base(m))(),
              doc=f"ResNet50-{_suffix.upper()} ladder baseline on CIFAR-100 (doc 000, {_acc} %): SGD 0.1, batch "
                  f"128, 200 epochs, MultiStepLR x0.2 at 60/120/160, 5 warm-up epochs, wd 5e-4, crop+flip.")


@recipe
def resnet50_e5_cifar100() -> TrainConfig:
    """ResNet50-E5 + stochastic depth 0.1 on CIFAR-100, doc 000's best single-GPU recipe (86.12 %).

    Doc 000's final script: SGD lr 0.1 (m 0.9, no nesterov), batch 128, 300 epochs, cosine to
    lr-min 1e-6 after 20 linear warm-up epochs, wd 5e-4, AutoAugment (the CIFAR-10 policy) +
    random erasing p 0.25 + mixup alpha 1 + CutMix alpha 1 (one of the two per batch, as the
    torchvision reference scripts do), plain cross-entropy; drop path 0.1 from the results table.
    """
    cfg = _doc000_base("resnet50_e5")
    cfg.model_kwargs = {"drop_path_rate": 0.1}
    cfg.epochs, cfg.schedule, cfg.min_lr, cfg.warmup_epochs = 300, "cosine", 1e-6, 20
    cfg.aug = AugConfig(crop_padding=4, flip=True, auto_augment="cifar10", random_erase=0.25,
                        mixup_alpha=1.0, cutmix_alpha=1.0)
    return cfg


@recipe
def resnet50_e3_cifar100_cosine() -> TrainConfig:
    """ResNet50-E3 on CIFAR-100, doc 000's best recipe without augmentation (82.23 %): SGD 0.1,
    batch 128, 300 epochs, cosine to 1e-6 after 20 warm-up epochs, wd 5e-4, crop+flip."""
    cfg = _doc000_base("resnet50_e3")
    cfg.epochs, cfg.schedule, cfg.min_lr, cfg.warmup_epochs = 300, "cosine", 1e-6, 20
    return cfg


# --------------------------------------------------------------------------------------------
# Document 003: ResNet-18 to 95.46 % on CIFAR-10
# --------------------------------------------------------------------------------------------

@recipe
def resnet18_cifar10_cutout() -> TrainConfig:
    """ResNet-18 (3x3 stem, no max-pool) on CIFAR-10 with Cutout, doc 003 (95.46 %).

    SGD lr 0.1, m 0.9, wd 5e-4, batch 128, 250 epochs; ReduceLROnPlateau x0.5 after 10 epochs
    without a lower "validation" loss; crop 4 + flip + Cutout 1 hole of 16 px.  Doc 003's
    "validation" loss is the test-set loss (its code has no held-out split), so that is the
    default here (plateau_monitor=test_loss); ``--set holdout=5000 plateau_monitor=val_loss``
    uses a proper held-out split instead.
    """
    return TrainConfig(model="resnet18", dataset="cifar10", epochs=250, batch_size=128, lr=0.1, momentum=0.9,
                       weight_decay=5e-4, schedule="plateau", plateau_factor=0.5, plateau_patience=10,
                       plateau_monitor="test_loss", aug=AugConfig(crop_padding=4, flip=True, cutout=16,
                                                                   cutout_holes=1))


# --------------------------------------------------------------------------------------------
# Document 001: A PyTorch implementation of CIFAR tricks (WRN + RICAP, Shake-Shake, PyramidNet)
# --------------------------------------------------------------------------------------------

def _wrn(ricap: float, schedule: str) -> TrainConfig:
    # pytorch-ricap / RICAP paper (Takahashi et al. 2018) WRN-28-10 setting: SGD lr 0.1 nesterov m 0.9,
    # wd 5e-4, batch 128, 200 epochs, lr x0.2 at 60/120/160; crop+flip; RICAP beta 0.3.
    return TrainConfig(model="wrn28_10", dataset="cifar10", epochs=200, batch_size=128, lr=0.1, momentum=0.9,
                       nesterov=True, weight_decay=5e-4, schedule=schedule, milestones=[60, 120, 160], gamma=0.2,
                       aug=AugConfig(crop_padding=4, flip=True, ricap_beta=ricap))


@recipe
def wrn28_10_cifar10() -> TrainConfig:
    """WRN-28-10 baseline on CIFAR-10, doc 001 table 3.2 (96.22 %): SGD 0.1 nesterov, wd 5e-4,
    batch 128, 200 epochs, x0.2 at 60/120/160, crop+flip."""
    return _wrn(0.0, "multistep")


@recipe
def wrn28_10_cifar10_ricap() -> TrainConfig:
    """WRN-28-10 + RICAP (beta 0.3) on CIFAR-10, doc 001 table 3.2 (97.19 %) / Takahashi et al. 2018
    (2.85 % error): SGD 0.1 nesterov, wd 5e-4, batch 128, 200 epochs, x0.2 at 60/120/160."""
    return _wrn(0.3, "multistep")


@recipe
def wrn28_10_cifar10_ricap_cosine() -> TrainConfig:
    """WRN-28-10 + RICAP on CIFAR-10 with a cosine schedule instead of steps (doc 001 lists cosine
    decay among its tricks): otherwise as wrn28_10_cifar10_ricap."""
    return _wrn(0.3, "cosine")


def _shake(epochs: int) -> TrainConfig:
    # doc 001 3.7 (cosine lr + shake, 300 epochs) and CIFAR-ZOO's 1800-epoch runs it quotes.  The
    # optimizer follows Gastaldi 2017 (SGD m 0.9, wd 1e-4, batch 128, cosine without restarts) with
    # lr 0.1 and nesterov as in CIFAR-ZOO's configs.  Augmentation: crop+flip, Cutout 16, mixup 1.0
    # (the combination doc 001 reports best: 97.71 % at 1800 epochs).
    return TrainConfig(model="shake_resnet26_2x64d", dataset="cifar10", epochs=epochs, batch_size=128, lr=0.1,
                       momentum=0.9, nesterov=True, weight_decay=1e-4, schedule="cosine",
                       aug=AugConfig(crop_padding=4, flip=True, cutout=16, mixup_alpha=1.0))


@recipe
def shake_resnet26_2x64d_cifar10() -> TrainConfig:
    """Shake-Shake-26 2x64d on CIFAR-10, doc 001 section 3.7 (cosine, 300 epochs, Cutout + mixup:
    97.21 % in its table)."""
    return _shake(300)


@recipe
def shake_resnet26_2x64d_cifar10_1800() -> TrainConfig:
    """Shake-Shake-26 2x64d on CIFAR-10 for 1800 epochs with Cutout + mixup, the CIFAR-ZOO run doc 001
    quotes (97.71 %)."""
    return _shake(1800)


@recipe
def pyramidnet272_cifar10_divide_cotrain() -> TrainConfig:
    """PyramidNet-272 (alpha 200, ShakeDrop) on CIFAR-10 with the Divide-and-Co-training recipe,
    doc 001 section 3.8 (97.59 %).

    lr 0.1 with 20 warm-up epochs then cosine, 300 epochs, batch 128, nesterov SGD, wd 5e-4 with
    no decay on BN weights and biases, Kaiming init; crop+flip, AutoAugment, random erasing,
    mixup.  The document gives no erasing probability or mixup alpha: Zhong et al.'s default
    p = 0.5 and Zhang et al.'s CIFAR alpha = 1.0 are used.
    """
    return TrainConfig(model="pyramidnet272_a200", dataset="cifar10", epochs=300, batch_size=128, lr=0.1,
                       momentum=0.9, nesterov=True, weight_decay=5e-4, no_wd_norm_bias=True, schedule="cosine",
                       warmup_epochs=20, init="kaiming",
                       aug=AugConfig(crop_padding=4, flip=True, auto_augment="cifar10", random_erase=0.5,
                                     mixup_alpha=1.0))


# --------------------------------------------------------------------------------------------
# Document 004: "Playing with CIFAR-10", one recipe for ~35 models
# --------------------------------------------------------------------------------------------

@recipe
def baseline200_cifar10() -> TrainConfig:
    """Doc 004's shared recipe (any model: --set model=NAME; default resnet18, 94.15 % there):
    SGD lr 0.01, m 0.9, wd 5e-4, batch 128, 200 epochs, CosineAnnealingLR T_max 200, crop+flip.
    Doc 004 reports the best test accuracy over epochs; this project reports the final epoch."""
    return TrainConfig(model="resnet18", dataset="cifar10", epochs=200, batch_size=128, lr=0.01, momentum=0.9,
                       weight_decay=5e-4, schedule="cosine", aug=AugConfig(crop_padding=4, flip=True))


# --------------------------------------------------------------------------------------------
# He et al. 2016, CIFAR ResNets (arXiv:1512.03385 section 4.2)
# --------------------------------------------------------------------------------------------

# Paper: SGD m 0.9, wd 1e-4, batch 128, lr 0.1 divided by 10 at 32k and 48k iterations, stop at 64k.
# On the full 50k training images an epoch is ceil(50000/128) = 391 iterations, so 64k iterations =
# 164 epochs with drops after epochs 82 and 123 (32,062 / 48,093 / 64,124 iterations, within 0.2 % of
# the paper).  The often-quoted "182 epochs, 91/136" counts 45k images per epoch (352 iterations):
# the paper's 45k/5k split used to choose the 64k stop.  ResNet-110 warms up at lr 0.01 for 400
# iterations, then returns to 0.1.
def _he(depth: int, dataset: str) -> Callable[[], TrainConfig]:
    def build() -> TrainConfig:
        cfg = TrainConfig(model=f"resnet{depth}", dataset=dataset, epochs=164, batch_size=128, lr=0.1,
                          momentum=0.9, weight_decay=1e-4, schedule="multistep", milestones=[82, 123], gamma=0.1,
                          aug=AugConfig(crop_padding=4, flip=True))
        if depth == 110:
            cfg.warmup_iters, cfg.warmup_method, cfg.warmup_start_factor = 400, "constant", 0.1
        return cfg
    return build


_HE_ERR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}  # paper Table 6, CIFAR-10 test error (%)
for _d in (20, 32, 44, 56, 110):
    for _ds in ("cifar10", "cifar100"):
        _ref = f" (paper: {_HE_ERR[_d]} % error on CIFAR-10)" if _ds == "cifar10" else " (paper: CIFAR-10 only)"
        _title = _ds.upper().replace("CIFAR", "CIFAR-")
        _register(f"resnet{_d}_{_ds}", _he(_d, _ds),
                  doc=f"ResNet-{_d} on {_title}, He et al. 2016 section 4.2{_ref}: SGD 0.1 m 0.9 wd 1e-4, "
                      f"batch 128, 64k iterations = 164 epochs, lr /10 at epochs 82 and 123"
                      + ("; 400 warm-up iterations at lr 0.01." if _d == 110 else "."))


# --------------------------------------------------------------------------------------------
# Fast recipes: one GPU, minutes per run (bf16, channels_last, GPU-resident data)
# --------------------------------------------------------------------------------------------
# Common choices, and why:
# * batch 512 keeps an H100/H200 busy on 32x32 images; lr scaled linearly from 0.1 per 128
#   (Goyal et al. 2017) with a short linear warm-up that makes the large lr safe;
# * nesterov SGD, wd 5e-4 on conv/linear weights only (no decay on BN/bias: with few epochs the
#   decay of BN scales mostly slows the fit);
# * the lr decays linearly to 0 after the warm-up: in short runs a schedule that spends more steps
#   at a high lr and ends at 0 beats step decay (as in the fast CIFAR training literature);
# * label smoothing 0.1 and Cutout 16 regularise without slowing convergence much;
# * EMA of the weights (decay chosen for a horizon of ~2-4 epochs), reported as the final model.
#   This is fixed in advance, not chosen by looking at test accuracy.

def _fast(model: str, dataset: str, epochs: int, lr: float = 0.4, batch: int = 512, cutout: int = 16,
          ema: float = 0.995, warmup: float = 2.0, ls: float = 0.1, **kw) -> TrainConfig:
    cfg = TrainConfig(model=model, dataset=dataset, epochs=epochs, batch_size=batch, lr=lr, momentum=0.9,
                      nesterov=True, weight_decay=5e-4, no_wd_norm_bias=True, schedule="linear",
                      warmup_epochs=warmup, warmup_start_factor=0.1, label_smoothing=ls,
                      aug=AugConfig(crop_padding=4, flip=True, cutout=cutout), ema_decay=ema,
                      amp="bf16", channels_last=True, compile=True, loader="device", log_every=100,
                      checkpoint_every=10)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@recipe
def resnet18_cifar10_fast() -> TrainConfig:
    """ResNet-18 on CIFAR-10 in a few minutes on one H100/H200 (target >= 95.5 % final-epoch top-1).

    Doc 003's model and augmentation (crop+flip+Cutout 16) with a short schedule: batch 512, lr 0.4
    (0.1 x 512/128; lr x wd per epoch equals the batch-128 recipe's), nesterov, 2 warm-up epochs
    then linear decay to 0, label smoothing 0.1, EMA 0.998 (~5 epochs of 98 steps), bf16 +
    channels_last + torch.compile, 60 epochs.  ResNet-18 reaches ~95 % in 30 such epochs and gains
    a few tenths per extra 10-20 epochs; 60 epochs are 3M images, which an H100 trains in about
    3-4 minutes with this setup (the queue shortens the run, seamlessly at the end of the warm-up,
    when its projection says it would not fit the budget).
    """
    return _fast("resnet18", "cifar10", epochs=60, ema=0.998)


@recipe
def resnet20_cifar10_fast() -> TrainConfig:
    """ResNet-20 (He et al.) on CIFAR-10, 30 epochs: batch 512, lr 0.4, linear decay, label smoothing
    0.1, crop+flip (no Cutout: a 0.27M-parameter model underfits, it needs no extra regulariser),
    EMA 0.99, bf16.  Expect ~91 % (the paper's 91.25 % takes 164 epochs)."""
    return _fast("resnet20", "cifar10", epochs=30, cutout=0, ema=0.99)


@recipe
def resnet56_cifar10_fast() -> TrainConfig:
    """ResNet-56 (He et al.) on CIFAR-10, 30 epochs: batch 512, lr 0.4, linear decay, label smoothing
    0.1, crop+flip, EMA 0.99, bf16.  Expect ~93 % (paper: 93.03 % in 164 epochs)."""
    return _fast("resnet56", "cifar10", epochs=30, cutout=0, ema=0.99)


@recipe
def resnet20_cifar100_fast() -> TrainConfig:
    """ResNet-20 on CIFAR-100, 30 epochs, as resnet20_cifar10_fast (label smoothing 0.1, no Cutout)."""
    return _fast("resnet20", "cifar100", epochs=30, cutout=0, ema=0.99)


@recipe
def resnet56_cifar100_fast() -> TrainConfig:
    """ResNet-56 on CIFAR-100, 30 epochs, as resnet56_cifar10_fast."""
    return _fast("resnet56", "cifar100", epochs=30, cutout=0, ema=0.99)


@recipe
def mobilenetv2_x0_5_cifar10_fast() -> TrainConfig:
    """MobileNetV2 x0.5 on CIFAR-10, 30 epochs: batch 512, lr 0.4, linear decay, label smoothing 0.1,
    crop+flip, wd 4e-5 as in Sandler et al. 2018 (depthwise weights overfit little), EMA 0.99, bf16."""
    return _fast("mobilenetv2_x0_5", "cifar10", epochs=30, cutout=0, ema=0.99, weight_decay=4e-5)


@recipe
def mobilenetv2_x0_5_cifar100_fast() -> TrainConfig:
    """MobileNetV2 x0.5 on CIFAR-100, 30 epochs, as mobilenetv2_x0_5_cifar10_fast."""
    return _fast("mobilenetv2_x0_5", "cifar100", epochs=30, cutout=0, ema=0.99, weight_decay=4e-5)


@recipe
def shufflenetv2_x1_0_cifar10_fast() -> TrainConfig:
    """ShuffleNetV2 1.0x on CIFAR-10, 30 epochs (doc 002 reports 92.74 % for this width): batch 512,
    lr 0.4, linear decay, label smoothing 0.1, crop+flip, wd 4e-5 (Ma et al. 2018), EMA 0.99, bf16."""
    return _fast("shufflenetv2_x1_0", "cifar10", epochs=30, cutout=0, ema=0.99, weight_decay=4e-5)


@recipe
def shufflenetv2_x1_0_cifar100_fast() -> TrainConfig:
    """ShuffleNetV2 1.0x on CIFAR-100, 30 epochs (doc 002: 73.20 %), as shufflenetv2_x1_0_cifar10_fast."""
    return _fast("shufflenetv2_x1_0", "cifar100", epochs=30, cutout=0, ema=0.99, weight_decay=4e-5)


@recipe
def resnet50_e5_cifar100_fast() -> TrainConfig:
    """Doc 000's ResNet50-E5 recipe (AutoAugment + random erasing 0.25 + mixup/CutMix 1, drop path 0.1,
    warm-up then cosine to 1e-6, wd 5e-4) compressed to 30 epochs: warm-up 2 epochs instead of 20
    (the same 1/15 of the run would be 2), batch 256 at lr 0.2 (0.1 x 256/128), bf16, channels_last.
    Heavy augmentation needs long training, so expect well below doc 000's 86 % at 300 epochs."""
    cfg = resnet50_e5_cifar100()
    cfg.epochs, cfg.warmup_epochs, cfg.batch_size, cfg.lr = 30, 2, 256, 0.2
    cfg.amp, cfg.channels_last, cfg.compile, cfg.log_every, cfg.checkpoint_every = "bf16", True, True, 100, 10
    return cfg
