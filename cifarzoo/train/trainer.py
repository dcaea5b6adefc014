"""The training loop: one readable file, from config to ``results.json``.

    results = Trainer(cfg, resume="auto").run()

Runs single-process or under ``torchrun`` (DDP: gloo on CPU, nccl on CUDA, rank 0 logs and
writes).  Each optimizer step takes ``grad_accum`` micro-batches; SAM/ASAM run their two passes
over the same micro-batches.  The reported accuracy is always the final epoch's test accuracy
(raw or EMA weights as ``cfg.final_weights`` says, decided before training): nothing here selects
an epoch by its test score.

Stopping:
* a non-finite loss stops the run with a message naming epoch and step; the last checkpoint,
  written before the divergence, is left as it is;
* SIGTERM / SIGINT finish the current step, write a checkpoint and return (status "interrupted");
* ``time_limit_s`` stops the same way when the next step might not fit (status "time_limit").
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.pretrained import load_state
from cifarzoo.train import checkpoint as ckpt
from cifarzoo.train import distributed as D
from cifarzoo.train import records
from cifarzoo.train.config import TrainConfig
from cifarzoo.train.ema import EMA
from cifarzoo.train.losses import TrainLoss, load_teacher
from cifarzoo.train.optim import SAM, build_optimizer
from cifarzoo.train.schedules import build_lr_controller

log = logging.getLogger("cifarzoo.train")

# config fields that may differ between a checkpoint and the run that resumes it
RESUMABLE_CHANGES = {"epochs", "time_limit_s", "out_dir", "progress", "log_every", "tensorboard", "plot",
                     "checkpoint_every", "num_workers", "data_dir", "download", "device"}


class NonFiniteLoss(RuntimeError):
    pass


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: str | None = None, callbacks=(), epoch_callbacks=()):
        self.cfg = cfg.validate()
        self.resume = resume
        self.callbacks = list(callbacks)  # callables(trainer) run after every optimizer step
        self.epoch_callbacks = list(epoch_callbacks)  # callables(trainer, row) after each epoch's records
        self.notes: list[str] = []  # recorded in results.json (e.g. a run shortened by the queue)
        self.stop_reason: str | None = None
        self.epoch = 0          # epochs completed
        self.step_in_epoch = 0  # optimizer steps done in the current epoch
        self.global_step = 0
        self.history: list[dict] = []

    # ------------------------------------------------------------------ setup
    def request_stop(self, reason: str = "requested") -> None:
        """Stop after the current optimizer step, with a checkpoint (signals and tests use this)."""
        self.stop_reason = self.stop_reason or reason

    def shorten(self, epochs: int, note: str = "") -> None:
        """Train for ``epochs`` instead of ``cfg.epochs`` from now on.  The schedule is recomputed for
        the new length (milestones scaled); done at the end of the warm-up it is seamless for the
        cosine/linear/onecycle schedules, later the lr steps down once."""
        from cifarzoo.train.schedules import lr_multiplier
        cfg = self.cfg
        if not self.epoch < epochs <= cfg.epochs:
            raise ValueError(f"shorten: epochs must be in ({self.epoch}, {cfg.epochs}], got {epochs}")
        if epochs == cfg.epochs:
            return
        old = cfg.epochs
        cfg.milestones = [max(1, round(m * epochs / old)) for m in cfg.milestones]
        cfg.epochs = epochs
        self.lr_ctl.multiplier = lr_multiplier(cfg, self.steps_per_epoch)
        self.lr_ctl._apply()
        self.notes.append(note or f"shortened from {old} to {epochs} epochs after epoch {self.epoch}")
        log.warning("%s", self.notes[-1])

    def _setup(self) -> None:
        cfg = self.cfg
        from cifarzoo.data import DATASETS, build_loader
        from cifarzoo.models.layers import init_weights
        from cifarzoo.registry import create_model

        self.dist = D.setup(cfg.device)
        self.device = dev = self.dist.device
        self.out_dir = Path(cfg.out_dir)
        if cfg.amp == "fp16" and dev.type != "cuda":
            raise ValueError("amp=fp16 needs CUDA (its GradScaler); on CPU use amp=bf16 or none")
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        elif dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        # same init on every rank (DDP broadcasts rank 0's weights anyway); per-rank streams after
        torch.manual_seed(cfg.seed)

        spec = DATASETS[cfg.dataset]
        self.num_classes = spec.num_classes
        common = dict(kind=cfg.loader, device=dev, num_workers=cfg.num_workers, seed=cfg.seed,
                      holdout=cfg.holdout, channels_last=cfg.channels_last)
        if self.dist.is_main or not cfg.download:
            self.train_loader = build_loader(cfg.dataset, "train", cfg.data_dir, cfg.batch_size, aug=cfg.aug,
                                             rank=self.dist.rank, world_size=self.dist.world_size,
                                             download=cfg.download, **common)
        D.barrier(self.dist)  # rank 0 downloads first
        if not self.dist.is_main and cfg.download:
            self.train_loader = build_loader(cfg.dataset, "train", cfg.data_dir, cfg.batch_size, aug=cfg.aug,
                                             rank=self.dist.rank, world_size=self.dist.world_size, **common)
        # evaluation: every rank scores the whole split (exact numbers, no cross-rank padding)
        eval_bs = max(cfg.batch_size, 256)
        self.eval_loaders = {"test": build_loader(cfg.dataset, "test", cfg.data_dir, eval_bs, aug=None,
                                                  shuffle=False, drop_last=False, **common)}
        if cfg.holdout:
            self.eval_loaders["val"] = build_loader(cfg.dataset, "val", cfg.data_dir, eval_bs, aug=None,
                                                    shuffle=False, drop_last=False, **common)
        if self.dist.is_main:  # after the data loaded: a bad data_dir leaves no empty run folder
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._add_log_file()
        micro = len(self.train_loader)
        self.steps_per_epoch = micro // cfg.grad_accum
        if cfg.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_steps_per_epoch)
        if self.steps_per_epoch < 1:
            raise ValueError(f"the train split gives {micro} batches of {cfg.batch_size}: fewer than "
                             f"grad_accum={cfg.grad_accum}; lower batch_size or grad_accum")

        model = create_model(cfg.model, num_classes=self.num_classes, **cfg.model_kwargs)
        if cfg.init:
            init_weights(model, cfg.init)
        if cfg.sync_bn and self.dist.enabled:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = model.to(dev, memory_format=fmt)
        self.ema = EMA(self.model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay > 0 else None
        self.ddp = None
        forward = self.model
        if self.dist.enabled:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[dev.index] if dev.type == "cuda" else None)
            forward = self.ddp
        self.forward = torch.compile(forward) if cfg.compile else forward

        self.optimizer = build_optimizer(cfg, self.model)
        self.is_sam = isinstance(self.optimizer, SAM)
        self.lr_ctl = build_lr_controller(cfg, self.optimizer, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler(dev.type, enabled=(cfg.amp == "fp16"))
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        teacher = load_teacher(cfg.kd_teacher, self.num_classes, dev, cfg.channels_last) if cfg.kd_teacher else None
        self.criterion = TrainLoss(cfg.label_smoothing, teacher, cfg.kd_alpha, cfg.kd_temperature)
        self.tb = records.TensorBoard(self.out_dir, cfg.tensorboard and self.dist.is_main)
        self._git_commit = records.git_commit() if self.dist.is_main else None  # the code this run starts with
        self._partial = self._zero_sums()
        self._rng_to_restore = None

    def _add_log_file(self) -> None:
        handler = logging.FileHandler(self.out_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(min(log.getEffectiveLevel(), logging.INFO))
        self._log_handler = handler

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _zero_sums(self) -> dict:
        z = lambda: torch.zeros((), dtype=torch.float64, device=self.device)  # noqa: E731
        return {"loss": z(), "correct": z(), "count": z(), "time": 0.0}

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_path(self) -> Path:
        return self.out_dir / ckpt.CHECKPOINT_NAME

    def save_checkpoint(self) -> Path | None:
        rng = D.gather_objects(ckpt.rng_state(), self.dist)  # every rank's streams
        if not self.dist.is_main:
            return None
        state = {
            "format": 1, "config": self.cfg.to_dict(), "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "lr_ctl": self.lr_ctl.state_dict(),
            "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
            "rng": rng, "history": self.history,
            "partial": {k: (v.item() if torch.is_tensor(v) else v) for k, v in self._partial.items()},
            "elapsed_s": self._elapsed(),
        }
        return ckpt.atomic_save(state, self._checkpoint_path())

    def _load_checkpoint(self, path: Path) -> None:
        state = ckpt.load(path, map_location=self.device)
        saved = state["config"]
        now = self.cfg.to_dict()
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
        if changed:
            log.warning("resuming %s with a changed config (%s): the run will not match an uninterrupted one",
                        path, ", ".join(changed))
        # through the weight loader: clear errors, and checkpoints of cifarzoo 0.1.0 (duplicate BN keys) resume
        load_state(self.model, state["model"], source=f"checkpoint {path}")
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_ctl.load_state_dict(state["lr_ctl"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], state["history"]
        p = state["partial"]
        self._partial = {k: torch.tensor(p[k], dtype=torch.float64, device=self.device)
                         for k in ("loss", "correct", "count")}
        self._partial["time"] = p["time"]
        self._elapsed_before = state.get("elapsed_s", 0.0)
        rngs = state["rng"]
        self._rng_to_restore = rngs[self.dist.rank] if self.dist.rank < len(rngs) else rngs[0]
        log.info("resumed from %s at epoch %d, step %d of %d", path, self.epoch, self.step_in_epoch,
                 self.steps_per_epoch)

    # ------------------------------------------------------------------ one optimizer step
    def _grads(self, micro: list, sync: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward/backward over the step's micro-batches; returns (sum of losses x n, correct)."""
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        n = len(micro)
        for i, (x, y) in enumerate(micro):
            reduce_now = sync and i == n - 1  # DDP all-reduces on the last micro-batch only
            ctx = self.ddp.no_sync() if (self.ddp is not None and not reduce_now) else contextlib.nullcontext()
            with ctx:
                with self._autocast():
                    logits = self.forward(x)
                    loss = self.criterion(logits, y, x)
                self.scaler.scale(loss / n).backward()
            with torch.no_grad():
                hard = y if y.ndim == 1 else y.argmax(1)
                loss_sum += loss.detach().float() * x.shape[0]
                correct += (logits.detach().argmax(1) == hard).sum()
        return loss_sum, correct

    def _bn_buffers(self) -> list[torch.Tensor]:
        return [b for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for b in m.buffers()]

    def train_step(self, micro: list) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, opt = self.cfg, self.optimizer
        if self.is_sam:
            loss_sum, correct = self._grads(micro, sync=False)  # ascent on this replica's gradient
            opt.first_step()
            opt.zero_grad(set_to_none=True)
            saved = [b.clone() for b in self._bn_buffers()]
            self._grads(micro, sync=True)
            for b, s in zip(self._bn_buffers(), saved):  # BN statistics from the clean pass only
                b.copy_(s)
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            opt.second_step()
        else:
            loss_sum, correct = self._grads(micro)
            if cfg.grad_clip:
                self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        opt.zero_grad(set_to_none=True)
        self.lr_ctl.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.global_step += 1
        return loss_sum, correct

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader) -> dict:
        was_training = model.training
        model.eval()
        k = min(5, self.num_classes)
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        top1 = torch.zeros((), dtype=torch.float64, device=self.device)
        topk = torch.zeros((), dtype=torch.float64, device=self.device)
        n = 0
        for x, y in loader:
            with self._autocast():
                logits = model(x)
            logits = logits.float()
            loss += F.cross_entropy(logits, y, reduction="sum")
            pred = logits.topk(k, dim=1).indices
            hit = pred == y[:, None]
            top1 += hit[:, 0].sum()
            topk += hit.any(1).sum()
            n += y.shape[0]
        model.train(was_training)
        n = max(n, 1)
        return {"loss": loss.item() / n, "top1": 100.0 * top1.item() / n, "top5": 100.0 * topk.item() / n}

    def _evaluate_all(self) -> dict:
        row = {}
        models = [("", self.model)] + ([("ema_", self.ema.module)] if self.ema is not None else [])
        for split, loader in self.eval_loaders.items():
            for prefix, m in models:
                r = self.evaluate(m, loader)
                row.update({f"{prefix}{split}_loss": r["loss"], f"{prefix}{split}_top1": r["top1"],
                            f"{prefix}{split}_top5": r["top5"]})
        return row

    # ------------------------------------------------------------------ stop checks
    def _elapsed(self) -> float:
        return getattr(self, "_elapsed_before", 0.0) + (time.time() - self._t_start)

    def _check_time_limit(self) -> None:
        cfg = self.cfg
        if self.stop_reason is None and cfg.time_limit_s > 0:
            # leave room for one more step, an evaluation and a checkpoint write (worst seen so far)
            margin = 2 * self._max_step_s + self._eval_s + self._save_s + 1.0
            if time.time() - self._t_start + margin > cfg.time_limit_s:
                self.request_stop("time_limit")

    def _sync_checks(self, pending: list, epoch: int, first_step: int) -> None:
        """At sync points only (nothing waits for the GPU in between): raise NonFiniteLoss if a
        pending loss is not finite, and make every rank agree on stopping."""
        bad_at = -1
        if pending:
            finite = torch.isfinite(torch.stack(pending))
            if not bool(finite.all()):
                bad_at = int((~finite).nonzero()[0, 0])
        flags = D.reduce_max([float(bad_at >= 0), float(self.stop_reason is not None)], self.dist)
        pending.clear()
        if flags[0]:
            step = first_step + max(bad_at, 0)
            raise NonFiniteLoss(
                f"loss became non-finite at epoch {epoch + 1}, step {step + 1} of {self.steps_per_epoch} "
                f"(global step {epoch * self.steps_per_epoch + step + 1}, lr {self.lr_ctl.lr:.3g}); training "
                f"stopped. The last good checkpoint ({self._checkpoint_path()}) was not overwritten. Try a "
                f"lower lr, a longer warm-up, grad_clip, or amp=bf16 instead of fp16.")
        if flags[1] and self.stop_reason is None:
            self.stop_reason = "peer"  # another rank was signalled or ran out of time

    def _agree_stop(self) -> None:
        """DDP: every rank stops when any rank wants to (a signal may reach them at different times)."""
        if self.dist.enabled:
            if D.reduce_max([float(self.stop_reason is not None)], self.dist)[0] and self.stop_reason is None:
                self.stop_reason = "peer"

    # ------------------------------------------------------------------ the run
    def run(self) -> dict:
        self._t_start = time.time()
        try:
            return self._run()
        finally:
            if getattr(self, "_log_handler", None) is not None:
                log.removeHandler(self._log_handler)
                self._log_handler.close()
                self._log_handler = None
            D.cleanup()

    def _run(self) -> dict:
        self._setup()
        cfg = self.cfg
        path = ckpt.resolve_resume(self.resume, cfg.out_dir)
        if path is not None:
            self._load_checkpoint(path)
        elif self.resume == "auto" and self.dist.is_main:
            log.info("--resume auto: no checkpoint in %s, starting fresh", cfg.out_dir)
        torch.manual_seed(cfg.seed + self.dist.rank)  # dropout / drop-path streams differ per rank
        self._max_step_s, self._save_s, self._eval_s = 0.0, 0.0, 0.0
        old_handlers = self._install_signal_handlers()
        status = "completed"
        try:
            while self.epoch < cfg.epochs and self.stop_reason is None:
                self._run_epoch()
            if self.epoch < cfg.epochs:
                status = "time_limit" if self.stop_reason == "time_limit" else "interrupted"
        except NonFiniteLoss as e:
            log.error("%s", e)
            status, self.error = "diverged", str(e)
        finally:
            self._restore_signal_handlers(old_handlers)
            self.tb.close()
        return self._finish(status)

    def _run_epoch(self) -> None:
        cfg, epoch = self.cfg, self.epoch
        loader = self.train_loader
        loader.set_epoch(epoch)
        start_step = self.step_in_epoch
        rng = self._rng_to_restore
        if start_step == 0 and rng is not None:  # resumed at an epoch boundary
            ckpt.set_rng_state(rng)
            rng = self._rng_to_restore = None
        if start_step:
            loader.skip(start_step * cfg.grad_accum)
        batches = iter(loader)
        if rng is not None:  # resumed mid-epoch: streams as they were after step start_step
            ckpt.set_rng_state(rng)
            self._rng_to_restore = None
        self.model.train()
        if start_step == 0:
            self._partial = self._zero_sums()
        sums = self._partial
        pending: list[torch.Tensor] = []
        pending_first = start_step
        bar = self._progress(epoch, start_step)
        t_epoch = time.time()
        t_last = t_epoch
        for step in range(start_step, self.steps_per_epoch):
            micro = [next(batches) for _ in range(cfg.grad_accum)]
            loss_sum, correct = self.train_step(micro)
            n = sum(x.shape[0] for x, _ in micro)
            sums["loss"] += loss_sum
            sums["correct"] += correct
            sums["count"] += n
            pending.append(loss_sum)
            self.step_in_epoch = step + 1
            now = time.time()
            if step > start_step:  # the first step of an epoch may include compilation
                self._max_step_s = max(self._max_step_s, now - t_last)
            t_last = now
            for cb in self.callbacks:
                cb(self)
            at_log = (step + 1) % cfg.log_every == 0 or step + 1 == self.steps_per_epoch
            self._check_time_limit()
            # one process stops at once (after checking its pending losses); DDP ranks only at log
            # steps, where they agree, so that all of them write the checkpoint together
            single = not self.dist.enabled
            sync = at_log or (single and self.stop_reason is not None)
            if sync:
                self._sync_checks(pending, epoch, pending_first)
                pending_first = step + 1
            stop_now = self.stop_reason is not None and (single or sync)
            if at_log and self.dist.is_main:  # progress bars and step log lines are rank 0's
                cnt = max(sums["count"].item(), 1)
                loss, img_s = sums["loss"].item() / cnt, cnt / max(now - t_epoch + sums["time"], 1e-9)
                if bar is not None and not bar.disable:
                    bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.lr_ctl.lr:.3g}", img_s=f"{img_s:.0f}")
                elif step + 1 < self.steps_per_epoch:
                    # no live bar (progress off, or not a terminal): a log line, so long epochs show life
                    log.info("epoch %d/%d step %d/%d | train loss %.4f | lr %.3g | %.0f img/s", epoch + 1,
                             cfg.epochs, step + 1, self.steps_per_epoch, loss, self.lr_ctl.lr, img_s)
            if bar is not None:
                bar.update(1)
            if stop_now and self.step_in_epoch < self.steps_per_epoch:
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                sums["time"] += time.time() - t_epoch
                if bar is not None:
                    bar.close()
                self._stop_with_checkpoint()
                return
        if bar is not None:
            bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        train_time = sums["time"] + (time.time() - t_epoch)
        self._end_epoch(train_time)

    def _end_epoch(self, train_time: float) -> None:
        cfg = self.cfg
        sums = self._partial
        totals = D.reduce_sum(torch.stack([sums["loss"], sums["correct"], sums["count"]]), self.dist).tolist()
        count = max(totals[2], 1)
        self.epoch += 1
        self.step_in_epoch = 0
        row = {"epoch": self.epoch, "lr": self.lr_ctl.lr, "train_loss": totals[0] / count,
               "train_acc": 100.0 * totals[1] / count, "epoch_time_s": train_time,
               "images_per_s": totals[2] / max(train_time, 1e-9)}
        t_eval = time.time()
        last = self.epoch == cfg.epochs
        if last or self.epoch % cfg.eval_every == 0:
            row.update(self._evaluate_all())
        row["eval_time_s"] = time.time() - t_eval
        self._eval_s = max(self._eval_s, row["eval_time_s"])
        losses = [v for k, v in row.items() if k.endswith("_loss")]
        if any(not math.isfinite(v) for v in losses):
            raise NonFiniteLoss(f"non-finite loss after epoch {self.epoch} ({row}); training stopped. The last "
                                f"good checkpoint ({self._checkpoint_path()}) was not overwritten.")
        monitored = row.get("val_loss" if cfg.plateau_monitor == "val_loss" else "test_loss")
        if self.lr_ctl.epoch_end(monitored):
            log.info("plateau: %s did not improve for %d epochs, lr -> %.3g", cfg.plateau_monitor,
                     cfg.plateau_patience, self.lr_ctl.lr)
        self.history.append(row)
        self._partial = self._zero_sums()
        if self.dist.is_main:
            self._log_epoch(row)
            records.write_metrics_csv(self.history, self.out_dir / "metrics.csv")
            self.tb.epoch(row)
        if cfg.checkpoint_every and (self.epoch % cfg.checkpoint_every == 0 or last):
            self._timed_save()
        for cb in self.epoch_callbacks:
            cb(self, row)
        last = self.epoch == cfg.epochs  # a callback may have shortened the run
        self._agree_stop()
        if self.stop_reason is not None and not last:
            if not (cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0):
                self._timed_save()
            self._announce_stop()

    def _timed_save(self) -> None:
        t = time.time()
        self.save_checkpoint()
        self._save_s = max(self._save_s, time.time() - t)

    def _stop_with_checkpoint(self) -> None:
        self._timed_save()
        self._announce_stop()

    def _announce_stop(self) -> None:
        if not self.dist.is_main:
            return
        why = {"time_limit": f"time limit {self.cfg.time_limit_s:.0f}s"}.get(self.stop_reason, self.stop_reason)
        log.warning("stopped (%s) after epoch %d step %d; checkpoint %s. Resume with: cifarzoo train "
                    "--resume %s  (or --resume auto --out-dir %s)", why, self.epoch, self.step_in_epoch,
                    self._checkpoint_path(), self._checkpoint_path(), self.out_dir)

    def _log_epoch(self, row: dict) -> None:
        parts = [f"epoch {row['epoch']}/{self.cfg.epochs}", f"lr {row['lr']:.4g}",
                 f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f}"]
        if row.get("test_top1") is not None:
            parts.append(f"test loss {row['test_loss']:.4f} top1 {row['test_top1']:.2f} top5 {row['test_top5']:.2f}")
        if row.get("ema_test_top1") is not None:
            parts.append(f"ema top1 {row['ema_test_top1']:.2f}")
        if row.get("val_top1") is not None:
            parts.append(f"val loss {row['val_loss']:.4f} top1 {row['val_top1']:.2f}")
        parts.append(f"{row['epoch_time_s']:.1f}s {row['images_per_s']:.0f} img/s")
        log.info(" | ".join(parts))

    def _progress(self, epoch: int, start: int):
        if not (self.dist.is_main and self.cfg.progress):
            return None
        from tqdm.auto import tqdm
        return tqdm(total=self.steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
                    unit="step", leave=False, dynamic_ncols=True, disable=None)

    # ------------------------------------------------------------------ signals
    def _install_signal_handlers(self):
        import threading
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}

        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self.stop_reason is not None and name == "SIGINT":
                raise KeyboardInterrupt  # second Ctrl-C: stop now
            self.request_stop(name)
            log.warning("%s received: finishing this step, then writing a checkpoint", name)

        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, handler)
        return old

    @staticmethod
    def _restore_signal_handlers(old) -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

    # ------------------------------------------------------------------ final outputs
    def _finish(self, status: str) -> dict:
        cfg = self.cfg
        result = {"status": status, "recipe": cfg.recipe, "model": cfg.model, "dataset": cfg.dataset,
                  "epochs_completed": self.epoch, "step_in_epoch": self.step_in_epoch,
                  "out_dir": str(self.out_dir), "notes": self.notes, "stop_reason": self.stop_reason}
        if status == "diverged":
            result["error"] = self.error
        if status in ("interrupted", "time_limit", "diverged"):
            result["checkpoint"] = str(self._checkpoint_path()) if self._checkpoint_path().exists() else None
        if status != "completed" or not self.dist.is_main:
            return result
        last = self.history[-1]
        use_ema = cfg.final_is_ema and self.ema is not None
        pre = "ema_" if use_ema else ""
        meta = {"arch": cfg.model, "num_classes": self.num_classes, "dataset": cfg.dataset,
                "model_kwargs": json.dumps(cfg.model_kwargs), "recipe": cfg.recipe}
        weights = {"model.safetensors": records.save_weights(self.model.state_dict(),
                                                             self.out_dir / "model.safetensors", meta)}
        if self.ema is not None:
            weights["model_ema.safetensors"] = records.save_weights(
                self.ema.module.state_dict(), self.out_dir / "model_ema.safetensors", meta)
        final_file = "model_ema.safetensors" if use_ema else "model.safetensors"
        total_train = sum(r["epoch_time_s"] for r in self.history)
        total_imgs = sum(r["images_per_s"] * r["epoch_time_s"] for r in self.history)
        result.update({
            "final": {"weights": "ema" if use_ema else "raw", "selection": "final epoch (no test-set selection)",
                      "top1": last[f"{pre}test_top1"], "top5": last[f"{pre}test_top5"],
                      "loss": last[f"{pre}test_loss"],
                      "raw": {k: last[f"test_{k}"] for k in ("top1", "top5", "loss")},
                      "ema": ({k: last[f"ema_test_{k}"] for k in ("top1", "top5", "loss")}
                              if self.ema is not None else None)},
            "epochs": self.history,
            "wall_time_s": self._elapsed(), "train_time_s": total_train,
            "images_per_s": total_imgs / max(total_train, 1e-9),
            "peak_memory_bytes": records.peak_memory_bytes(self.device),
            "world_size": self.dist.world_size, "global_batch": cfg.batch_size * cfg.grad_accum * self.dist.world_size,
            "environment": records.environment(self.device, self._git_commit), "config": cfg.to_dict(),
            "weights": {"file": final_file, "sha256": weights[final_file], "files": weights},
        })
        records.write_json(result, self.out_dir / "results.json")
        if cfg.plot:
            records.plot_curves(self.history, self.out_dir / "curves.png")
        log.info("done: final-epoch test top-1 %.2f%% (%s weights), %s", result["final"]["top1"],
                 result["final"]["weights"], self.out_dir / "results.json")
        return result


def train(cfg: TrainConfig, resume: str | None = None, callbacks=(), epoch_callbacks=()) -> dict:
    """Train ``cfg`` (resuming from a checkpoint path, a run folder or 'auto'); returns the results dict."""
    return Trainer(cfg, resume=resume, callbacks=callbacks, epoch_callbacks=epoch_callbacks).run()
