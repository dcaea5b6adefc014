"""``TrainConfig``: every knob of a training run in one dataclass, plus ``--set key=value`` parsing.

Units: learning rates are per optimizer step, applied as given to the *global* batch
(``batch_size`` x world size x ``grad_accum``) -- nothing is rescaled automatically, because the
documents quote the lr of the global batch they used (doc 000's 4-GPU run: 4 x 64 = 256 at lr 0.1).
Durations are in epochs unless a name says ``_iters`` or ``_s`` (seconds).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from cifarzoo.data import AugConfig

OPTIMIZERS = ("sgd", "adamw", "adabound", "sam", "asam")
SCHEDULES = ("cosine", "multistep", "step", "exponential", "plateau", "onecycle", "linear", "constant")
AMP_MODES = ("none", "bf16", "fp16")
LOADER_KINDS = ("device", "torch")
INITS = (None, "kaiming", "xavier")


@dataclass
class TrainConfig:
    # --- what to train -------------------------------------------------------------------
    model: str = "resnet20"                 # registry name (cifarzoo.list_models())
    model_kwargs: dict = field(default_factory=dict)  # architecture knobs, e.g. {"drop_path_rate": 0.1}
    dataset: str = "cifar10"                # cifar10 | cifar100
    data_dir: str = "data"                  # folder holding cifar-10-batches-py / cifar-100-python
    download: bool = False                  # let torchvision download when absent
    holdout: int = 0                        # train images held out as a validation split (0: none)
    recipe: str = ""                        # name of the recipe this config came from (for the records)

    # --- length and batch ----------------------------------------------------------------
    epochs: int = 200
    batch_size: int = 128                   # per process, per micro-batch
    grad_accum: int = 1                     # micro-batches per optimizer step
    max_steps_per_epoch: int = 0            # cap optimizer steps per epoch (0: whole epoch); smoke tests

    # --- optimizer -------------------------------------------------------------------------
    optimizer: str = "sgd"                  # sgd | adamw | adabound | sam | asam (SAM/ASAM wrap SGD)
    lr: float = 0.1                         # peak lr per step for the global batch (see module doc)
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4              # L2 (SGD, AdaBound) or decoupled (AdamW)
    no_wd_norm_bias: bool = False           # no weight decay on norm weights and biases
    betas: tuple = (0.9, 0.999)             # AdamW / AdaBound
    eps: float = 1e-8
    rho: float = 0.05                       # SAM neighbourhood radius (ASAM papers use ~0.5-2.0)
    asam_eta: float = 0.01                  # ASAM: keeps the adaptive scale away from 0
    adabound_final_lr: float = 0.1          # AdaBound: SGD lr the bounds converge to
    adabound_gamma: float = 1e-3            # AdaBound: convergence speed of the bounds
    grad_clip: float = 0.0                  # max global grad norm (0: off)

    # --- schedule (per iteration) -------------------------------------------------------
    schedule: str = "cosine"                # cosine|multistep|step|exponential|plateau|onecycle|linear|constant
    warmup_epochs: float = 0.0              # warm-up length in epochs
    warmup_iters: int = 0                   # warm-up length in iterations (overrides warmup_epochs if > 0)
    warmup_method: str = "linear"           # linear: ramp from lr*warmup_start_factor; constant: hold it
    warmup_start_factor: float = 0.01       # torchvision reference scripts' --lr-warmup-decay default
    min_lr: float = 0.0                     # cosine / linear end value (eta_min)
    milestones: list = field(default_factory=lambda: [60, 120, 160])  # multistep, in epochs
    gamma: float = 0.2                      # multistep/step factor; exponential: factor per epoch
    step_size: int = 30                     # step schedule period, epochs
    onecycle_pct: float = 0.3               # onecycle: fraction of training spent rising
    onecycle_div: float = 25.0              # onecycle: start lr = lr / onecycle_div
    onecycle_final_div: float = 1e4         # onecycle: final lr = start lr / onecycle_final_div
    plateau_factor: float = 0.5             # ReduceLROnPlateau: lr *= factor after patience epochs
    plateau_patience: int = 10              # epochs without improvement (torch semantics)
    plateau_threshold: float = 1e-4         # relative improvement that counts (torch default)
    plateau_monitor: str = "test_loss"      # test_loss (what doc 003 did) | val_loss (needs holdout > 0)

    # --- loss and regularisation -------------------------------------------------------
    label_smoothing: float = 0.0
    aug: AugConfig = field(default_factory=AugConfig)
    kd_teacher: Optional[str] = None        # zoo name or name.tag of a pretrained teacher
    kd_alpha: float = 0.5                   # weight of the distillation term
    kd_temperature: float = 4.0
    init: Optional[str] = None              # None (the model's own) | kaiming | xavier
    ema_decay: float = 0.0                  # EMA of weights per optimizer step (0: off)
    ema_warmup: bool = True                 # decay ramps as min(decay, (1+t)/(10+t)) early on
    final_weights: str = "auto"             # which model's final-epoch accuracy is reported: raw|ema|auto

    # --- execution -------------------------------------------------------------------------
    device: str = "auto"                    # auto | cpu | cuda | cuda:N
    loader: str = "device"                  # device (GPU-resident tensors) | torch (DataLoader workers)
    num_workers: int = 4                    # torch loader only
    amp: str = "none"                       # none | bf16 | fp16 (fp16 uses a GradScaler)
    channels_last: bool = False
    compile: bool = False                   # torch.compile the model
    sync_bn: bool = False                   # SyncBatchNorm under DDP
    deterministic: bool = False             # torch.use_deterministic_algorithms + cudnn.deterministic
    seed: int = 0

    # --- outputs ---------------------------------------------------------------------------
    out_dir: str = "runs/default"
    checkpoint_every: int = 1               # epochs between checkpoints (0: only at the end/interrupt)
    eval_every: int = 1                     # epochs between test evaluations (the last is always run)
    time_limit_s: float = 0.0               # stop cleanly, with a checkpoint, before this many seconds
    log_every: int = 50                     # optimizer steps between log lines / NaN checks
    tensorboard: bool = True                # write TensorBoard events when tensorboard is installed
    plot: bool = True                       # write curves.png when matplotlib is installed
    progress: bool = True                   # tqdm bars on rank 0

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the bad field; returns self so calls can chain."""
        def bad(name, why):
            raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")

        choices = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "amp": AMP_MODES, "loader": LOADER_KINDS,
                   "init": INITS, "final_weights": ("raw", "ema", "auto"),
                   "warmup_method": ("linear", "constant"), "plateau_monitor": ("test_loss", "val_loss"),
                   "dataset": ("cifar10", "cifar100")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                bad(name, f"must be one of {', '.join(map(str, allowed))}")
        for name in ("epochs", "batch_size", "grad_accum", "log_every"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        for name in ("max_steps_per_epoch", "checkpoint_every", "holdout", "num_workers", "warmup_iters"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        if self.eval_every < 1:
            bad("eval_every", "must be >= 1")
        if self.lr <= 0:
            bad("lr", "must be > 0")
        if not 0.0 <= self.ema_decay < 1.0:
            bad("ema_decay", "must be in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            bad("label_smoothing", "must be in [0, 1)")
        if self.final_weights == "ema" and self.ema_decay == 0:
            bad("final_weights", "'ema' needs ema_decay > 0")
        if self.schedule == "plateau" and self.eval_every != 1:
            bad("eval_every", "the plateau schedule needs a loss every epoch: use eval_every=1")
        if self.plateau_monitor == "val_loss" and self.schedule == "plateau" and self.holdout == 0:
            bad("plateau_monitor", "val_loss needs a validation split: set holdout > 0 (e.g. 5000)")
        if self.optimizer in ("sam", "asam") and self.amp == "fp16":
            bad("amp", "SAM/ASAM run their two passes without loss scaling: use amp=bf16 or none")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            bad("warmup_epochs", f"must be in [0, epochs={self.epochs}]")
        if not 0.0 < self.onecycle_pct < 1.0:
            bad("onecycle_pct", "must be in (0, 1)")
        if self.kd_teacher is not None and not 0.0 <= self.kd_alpha <= 1.0:
            bad("kd_alpha", "must be in [0, 1]")
        if sorted(self.milestones) != list(self.milestones):
            bad("milestones", "must be increasing")
        return self

    @property
    def final_is_ema(self) -> bool:
        return self.final_weights == "ema" or (self.final_weights == "auto" and self.ema_decay > 0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        aug = d.pop("aug", None)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        if aug is not None:
            cfg.aug = AugConfig(**aug) if isinstance(aug, dict) else aug
        if isinstance(cfg.betas, list):
            cfg.betas = tuple(cfg.betas)
        return cfg


# ---------------------------------------------------------------------------------------------
# --set key=value
# ---------------------------------------------------------------------------------------------

def _field_types(obj) -> dict[str, Any]:
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints.get(f.name, type(getattr(obj, f.name))) for f in dataclasses.fields(obj)}


def _parse_value(raw: str, typ: Any, key: str) -> Any:
    """Parse ``raw`` as ``typ`` (int, float, bool, str, Optional[...], list, tuple, dict)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin is typing.Union or (origin is not None and type(None) in args):  # Optional[X]
        if raw.lower() in ("none", "null", ""):
            return None
        inner = [a for a in args if a is not type(None)]
        return _parse_value(raw, inner[0], key)
    if typ is bool:
        low = raw.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={raw}: expected a boolean (true/false)")
    if typ is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"--set {key}={raw}: expected an integer") from None
    if typ is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"--set {key}={raw}: expected a number") from None
    if typ is str:
        return raw
    if typ in (list, tuple, dict) or origin in (list, tuple, dict):
        container = origin or typ
        if container in (list, tuple) and not raw.lstrip().startswith("["):
            raw = "[" + raw + "]"  # allow milestones=60,120,160
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"--set {key}={raw}: expected JSON for a {container.__name__} ({e.msg})") from None
        if not isinstance(value, list if container in (list, tuple) else dict):
            raise ValueError(f"--set {key}={raw}: expected a {container.__name__}")
        return tuple(value) if container is tuple else value
    return raw


def apply_overrides(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings in place.  Nested keys: ``aug.cutout=16``,
    ``model_kwargs.drop_path_rate=0.1``.  Unknown keys fail naming the closest valid key."""
    for item in assignments or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        target, name = cfg, key
        if "." in key:
            head, name = key.split(".", 1)
            if head == "model_kwargs":
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError:
                    value = raw  # a plain string knob
                cfg.model_kwargs = {**cfg.model_kwargs, name: value}
                continue
            if head != "aug":
                raise ValueError(f"--set {key}: only aug.* and model_kwargs.* take a dotted key")
            target = cfg.aug
        types = _field_types(target)
        if name not in types:
            prefix = "aug." if target is not cfg else ""
            valid = [prefix + n for n in types]
            if target is cfg:
                valid += ["aug." + n for n in _field_types(cfg.aug)]
            close = difflib.get_close_matches(prefix + name, valid, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"--set: unknown key {key!r}.{hint} (`cifarzoo train --list-keys` lists all)")
        setattr(target, name, _parse_value(raw, types[name], key))
    return cfg


def describe_keys(cfg: TrainConfig | None = None) -> list[str]:
    """``key = default`` lines for every settable key (for ``--list-keys``)."""
    cfg = cfg or TrainConfig()
    lines = [f"{k} = {getattr(cfg, k)!r}" for k in _field_types(cfg) if k != "aug"]
    lines += [f"aug.{k} = {getattr(cfg.aug, k)!r}" for k in _field_types(cfg.aug)]
    return lines
