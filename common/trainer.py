"""One trainer for every head and dataset. It knows nothing of W&B: it reports through a callback."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

import variants
from common import data
from common.config import Config
from common.errors import UsageError
from common.models import STNClassifier, build_classifier


class Diverged(UsageError):
    """The loss went NaN/inf or the transformer collapsed."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device={name} asked for CUDA but none is available; use --device=cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg: Config) -> STNClassifier:
    size = data.image_size(cfg.dataset)
    in_shape = (1, size, size)
    head = variants.build(
        cfg.variant, in_shape, coordconv=cfg.coordconv, coordconv_r=cfg.coordconv_r,
        tps_grid=cfg.tps_grid, steps=cfg.iterative_steps, warp=cfg.iterative_warp,
    )
    clf = build_classifier(cfg.classifier, in_shape, coordconv=cfg.coordconv_classifier, with_r=cfg.coordconv_r)
    return STNClassifier(head, clf)


def make_optimizer(cfg: Config, model: STNClassifier) -> torch.optim.Optimizer:
    groups = [{"params": list(model.classifier.parameters()), "lr": cfg.lr}]
    head = [p for p in model.transformer.parameters()]
    if head:
        groups.append({"params": head, "lr": cfg.lr * cfg.loc_lr})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: Config, opt: torch.optim.Optimizer, steps_per_epoch: int):
    """A timm scheduler stepped once per update (``step_update``), or None."""
    from timm.scheduler import CosineLRScheduler, StepLRScheduler

    total, warm = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    if cfg.sched == "cosine":
        return CosineLRScheduler(opt, t_initial=total, lr_min=cfg.lr * 1e-3, warmup_t=warm, warmup_lr_init=cfg.lr * 1e-3, t_in_epochs=False)
    if cfg.sched == "step":  # divide by 10 at 50% and again at 75% of training
        return StepLRScheduler(opt, decay_t=max(1, total // 2), decay_rate=0.1, warmup_t=warm, warmup_lr_init=cfg.lr * 1e-3, t_in_epochs=False)
    return None


@dataclass
class EvalResult:
    name: str
    loss: float
    correct: int
    n: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def line(self) -> str:
        """The seed's line, so results compare with its table."""
        return f"Test set: Average loss: {self.loss:.4f}, Accuracy: {self.correct}/{self.n} ({100.0 * self.accuracy:.0f}%)"


@torch.no_grad()
def predict(model: nn.Module, ts: data.TestSet, batch_size: int, device) -> torch.Tensor:
    """Logits for a whole test set, ``(N, 10)``, in batches."""
    model.eval()
    out = []
    for i in range(0, len(ts), batch_size):
        x = ts.images[i : i + batch_size].to(device).float().div_(255)
        out.append(model(x).float())
    return torch.cat(out)


def evaluate(model: nn.Module, ts: data.TestSet, batch_size: int, device) -> EvalResult:
    logits = predict(model, ts, batch_size, device)
    y = ts.labels.to(logits.device)
    loss = F.cross_entropy(logits, y, reduction="sum").item() / len(ts)
    correct = int((logits.argmax(1) == y).sum())
    return EvalResult(ts.name, loss, correct, len(ts))


def train_epoch(model, stream, opt, sched, *, epoch: int, cfg: Config, step0: int, show: bool = True) -> tuple[float, int]:
    """One pass over ``stream``; returns (mean train loss, updates so far)."""
    model.train()
    total = torch.zeros((), device=stream.device)
    seen, step = 0, step0
    bar = tqdm(total=len(stream), desc=f"epoch {epoch}", unit="batch", leave=False, disable=None if show else True, dynamic_ncols=True)
    for i, (x, y, _gt) in enumerate(stream):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        if sched is not None:
            sched.step_update(step)
        total += loss.detach() * y.shape[0]
        seen += y.shape[0]
        if i % 50 == 0 or cfg.log_interval and i % cfg.log_interval == 0:
            cur = loss.item()
            if not math.isfinite(cur):
                raise Diverged(f"the training loss became {cur} at epoch {epoch}, batch {i}; lower --lr (or set --grad-clip=1)")
            bar.set_postfix(loss=f"{cur:.4f}")
            if cfg.log_interval and i % cfg.log_interval == 0:
                tqdm.write(f"Train Epoch: {epoch} [{seen}/{len(stream.labels)}]\tLoss: {cur:.6f}")
        bar.update(1)
        if cfg.dry_run:
            break
    bar.close()
    mean = total.item() / max(seen, 1)
    if not math.isfinite(mean):
        raise Diverged(f"the training loss became {mean} in epoch {epoch}; lower --lr (or set --grad-clip=1)")
    return mean, step


def fit(cfg: Config, model, train_stream, test_set, device, *, on_epoch=None, show: bool = True) -> list[dict]:
    """Train for ``cfg.epochs``, evaluating on ``test_set`` after each; returns per-epoch metrics."""
    opt = make_optimizer(cfg, model)
    sched = make_scheduler(cfg, opt, len(train_stream))
    history, step = [], 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss, step = train_epoch(model, train_stream, opt, sched, epoch=epoch, cfg=cfg, step0=step, show=show)
        if device.type == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        res = evaluate(model, test_set, cfg.test_batch_size, device)
        row = {
            "epoch": epoch, "train_loss": train_loss, "test_loss": res.loss, "test_accuracy": res.accuracy,
            "test_correct": res.correct, "test_n": res.n, "epoch_seconds": secs,
            "train_images_per_s": len(train_stream.labels) / secs if not cfg.dry_run else None,
            "lr": opt.param_groups[0]["lr"],
        }
        history.append(row)
        if show:
            tqdm.write(f"epoch {epoch}: train loss {train_loss:.4f} ({secs:.1f} s) | {res.line()}")
        if on_epoch is not None:
            on_epoch(row)
    return history
