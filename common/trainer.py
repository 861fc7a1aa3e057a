"""One trainer for every head and dataset. It knows nothing of W&B: it reports through a callback."""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from common import data
from common.config import Config, is_validation_set, saved
from common.errors import UsageError
from common import runenv
from common.models import STNClassifier


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


def make_optimizer(cfg: Config, model: STNClassifier) -> torch.optim.Optimizer:
    groups = [{"params": list(model.classifier.parameters()), "lr": cfg.lr}]
    head = [p for p in model.transformer.parameters()]
    if head:
        groups.append({"params": head, "lr": cfg.lr * cfg.loc_lr})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def step_milestones(total: int) -> list[int]:
    """timm ``decay_t`` for ``--sched step``: of ``total`` updates the first 50% run at the peak
    learning rate, the next 25% at a tenth, the last 25% at a hundredth (400 updates: 200, 100,
    100). timm decays once ``t + 1`` reaches a milestone, and the trainer calls it after update
    ``t``, hence the ``+ 1``."""
    return sorted({max(1, total // 2) + 1, max(1, (3 * total) // 4) + 1})


def make_scheduler(cfg: Config, opt: torch.optim.Optimizer, steps_per_epoch: int):
    """A timm scheduler stepped once per update (``step_update``), or None."""
    from timm.scheduler import CosineLRScheduler, MultiStepLRScheduler

    total, warm = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    if cfg.sched == "cosine":
        return CosineLRScheduler(opt, t_initial=total, lr_min=cfg.lr * 1e-3, warmup_t=warm, warmup_lr_init=cfg.lr * 1e-3, t_in_epochs=False)
    if cfg.sched == "step":  # divide by 10 at 50% and again at 75% of training (update counts, not epochs)
        return MultiStepLRScheduler(opt, decay_t=step_milestones(total), decay_rate=0.1, warmup_t=warm, warmup_lr_init=cfg.lr * 1e-3,
                                    warmup_prefix=False, t_in_epochs=False)  # milestones count from the first update, warm-up included
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
        kind = "Validation set" if is_validation_set(self.name) else "Test set"
        return f"{kind}: Average loss: {self.loss:.4f}, Accuracy: {self.correct}/{self.n} ({100.0 * self.accuracy:.0f}%)"


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


class Stopped(Exception):
    """A graceful stop (SIGINT/SIGTERM): the current step finished and a checkpoint was written."""


def _rng_state(device) -> dict:
    st = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def _set_rng_state(st: dict, device) -> None:
    torch.set_rng_state(st["torch"])
    random.setstate(st["python"])
    if "cuda" in st and device.type == "cuda":
        torch.cuda.set_rng_state(st["cuda"], device)


POINT_AT_A_RUN = "point at a run folder (it holds checkpoint.pt or model.pt) or at one of those files"


def read_checkpoint(path: Path, keys=("model", "config"), fix: str = POINT_AT_A_RUN) -> dict:
    """A checkpoint (or kept ``model.pt``) as a dict on the CPU, loaded with ``weights_only``; its
    saved config upgraded with the legacy value of every key it lacks (``common.config.saved``).
    Raises UsageError naming the file, the cause, and ``fix``: what to do (the caller's)."""
    try:
        # TorchVersion: checkpoints written for a few minutes of this project's history recorded torch.__version__ unconverted
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch's own messages run to a screenful: name the kind
        raise UsageError(f"checkpoint {path} is corrupt or not a stn-lab checkpoint ({type(err).__name__}); {fix}") from None
    missing = [k for k in keys if not isinstance(sd, dict) or k not in sd]
    if missing:
        raise UsageError(f"{path} is not a stn-lab checkpoint (no {', '.join(missing)}); {fix}")
    sd["config"] = saved(sd["config"])
    return sd


def atomic_save(obj, path: Path) -> None:
    """Write, then rename: a reader (or a resumed run) never sees half a checkpoint."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Trainer:
    """Trains ``model`` for ``cfg.epochs``; checkpoints atomically after every epoch (and when a
    stop is requested), and resumes exactly: model, optimizer, scheduler, every RNG and the
    position inside the epoch are restored, so a resumed run ends with the same metrics as an
    uninterrupted one when it resumes in the same environment (``common.runenv``: device type and
    model, torch version, CPU model, threads). ``epoch_seconds`` of an epoch stopped and resumed
    inside counts the time before and after the stop, not the pause. ``clock``: seconds (tests
    pass a fake one)."""

    def __init__(self, cfg: Config, model, stream, test_set, device, *, checkpoint: Path | None = None, on_epoch=None, show: bool = True,
                 clock=time.perf_counter):
        self.cfg, self.model, self.stream, self.test_set, self.device = cfg, model, stream, test_set, device
        self.checkpoint, self.on_epoch, self.show, self.clock = checkpoint, on_epoch, show, clock
        if device.type == "cpu":  # measured: mkldnn convs run ~20% faster on channels_last weights
            model.to(memory_format=torch.channels_last)
        self.opt = make_optimizer(cfg, model)
        self.sched = make_scheduler(cfg, self.opt, len(stream))
        self.ema = None
        if cfg.ema > 0:  # an average of the weights, evaluated in their place (timm)
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(model, decay=cfg.ema, use_warmup=cfg.ema_warmup)
        self.amp = cfg.amp and device.type == "cuda"
        self.epoch, self.step, self.history = 0, 0, []  # epoch: epochs completed
        self.partial = None  # mid-epoch position when stopped inside an epoch
        self.stop_requested = False
        self._carried, self._t0 = 0.0, clock()  # the current epoch's seconds before a resume, and its start

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self, partial=None) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "rng": _rng_state(self.device), "stream": self.stream.state(),
            "epoch": self.epoch, "step": self.step, "history": self.history, "partial": partial,
            "config": self.cfg.to_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
            "env": runenv.environment(self.device),
        }

    def load_state_dict(self, sd: dict) -> list[str]:
        """Restore a checkpoint; returns notes for the user (empty when the resume is exact).

        Written on another device type (a GPU run continued on a CPU, or back): model, optimizer
        and EMA are moved to this device, the data stream's generator (whose state cannot cross
        device types) and the other device's RNG are re-seeded from (seed, update count), so two
        resumes of one checkpoint agree with each other but not with an uninterrupted run. Other
        differences (torch version, threads, CPU or GPU model) restore everything and are named."""
        saved = sd.get("env") or runenv.legacy_environment(sd)
        now = runenv.environment(self.device)
        self.model.load_state_dict(sd["model"])
        self.opt.load_state_dict(sd["optimizer"])
        if self.sched is not None and sd["scheduler"] is not None:
            self.sched.load_state_dict(sd["scheduler"])
        if self.ema is not None and sd.get("ema") is not None:
            self.ema.load_state_dict(sd["ema"])
        self.epoch, self.step, self.history, self.partial = sd["epoch"], sd["step"], list(sd["history"]), sd["partial"]
        if self.partial is not None:
            self.partial = {**self.partial, "perm": self.partial["perm"].to(self.stream.device)}
        if saved["device_type"] != now["device_type"]:
            _set_rng_state({k: v for k, v in sd["rng"].items() if k != "cuda"}, self.device)
            reseed = (self.cfg.seed * 1_000_003 + self.step) % 2**63
            self.stream.gen.manual_seed(reseed)
            if self.device.type == "cuda":
                torch.cuda.manual_seed(reseed)
            return [f"the checkpoint was written on {saved['device_type']}"
                    f"{' (' + saved['device_name'] + ')' if saved.get('device_name') else ''} and continues on {now['device_type']}: "
                    f"weights and optimizer moved, the data stream re-seeded from (seed, update {self.step}); the rest of this run "
                    "is not bit-exact with an uninterrupted one"]
        _set_rng_state(sd["rng"], self.device)
        self.stream.set_state(sd["stream"])
        diff = runenv.differences(saved, now)
        return [f"resuming with a different {', '.join(diff)}: all state restored, but the metrics may differ from an "
                "uninterrupted run in the last digits"] if diff else []

    @property
    def eval_model(self) -> nn.Module:
        """What is evaluated: the EMA of the weights when ``--ema`` is on, else the model."""
        return self.ema.module if self.ema is not None else self.model

    def save(self, partial=None) -> None:
        if self.checkpoint is not None:
            atomic_save(self.state_dict(partial), self.checkpoint)

    # ----------------------------------------------------------------- training
    def _check_collapse(self, x) -> None:
        with torch.no_grad():
            warp = self.model.transformer(x[:32])
        if warp.image.abs().sum() / getattr(warp, "samples", 1) <= 1e-3 * x[:32].abs().sum():  # per sample (pstn draws K)
            raise Diverged("the transformer collapsed: its warped batch is empty (it zoomed out of the image); lower --loc-lr or --lr")

    def train_epoch(self) -> float:
        cfg, model, epoch = self.cfg, self.model, self.epoch + 1
        model.train()
        if self.partial is not None:  # resume inside an epoch
            perm, start = self.partial["perm"], self.partial["index"]
            total = torch.tensor(self.partial["loss_sum"], device=self.device)
            seen = self.partial["seen"]
            self.partial = None
        else:
            perm, start, total, seen = self.stream.permutation(), 0, torch.zeros((), device=self.device), 0
        n_batches = len(self.stream)
        bar = tqdm(total=n_batches, initial=start, desc=f"epoch {epoch}", unit="batch", leave=False, disable=None if self.show else True, dynamic_ncols=True)
        for i, (x, y, _gt) in self.stream.batches(perm, start):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                logits, aux = model(x, with_aux=True)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            if aux is not None:  # the head's own term (pstn: KL to its prior)
                loss = loss + aux
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            self.step += 1
            if self.ema is not None:
                self.ema.update(model, step=self.step)
            if self.sched is not None:
                self.sched.step_update(self.step)
            total += loss.detach() * y.shape[0]
            seen += y.shape[0]
            if i % 50 == 0 or (cfg.log_interval and i % cfg.log_interval == 0):
                cur = loss.item()
                if not math.isfinite(cur):
                    raise Diverged(f"the training loss became {cur} at epoch {epoch}, batch {i}; lower --lr or set --grad-clip=1")
                if i % 50 == 0:
                    self._check_collapse(x)
                bar.set_postfix(loss=f"{cur:.4f}")
                if cfg.log_interval and i % cfg.log_interval == 0:
                    tqdm.write(f"Train Epoch: {epoch} [{seen}/{len(self.stream.labels)}]\tLoss: {cur:.6f}")
            bar.update(1)
            if cfg.dry_run:
                break
            if self.stop_requested and i + 1 < n_batches:
                bar.close()
                self.save({"perm": perm, "index": i + 1, "loss_sum": total.item(), "seen": seen,
                           "seconds": self._carried + self.clock() - self._t0})
                raise Stopped(f"stopped in epoch {epoch} after batch {i + 1}/{n_batches}")
        bar.close()
        mean = total.item() / max(seen, 1)
        if not math.isfinite(mean):
            raise Diverged(f"the training loss became {mean} in epoch {epoch}; lower --lr or set --grad-clip=1")
        return mean

    def run(self) -> list[dict]:
        while self.epoch < self.cfg.epochs:
            # an epoch resumed from inside carries the seconds it had run before the stop
            self._carried = (self.partial or {}).get("seconds", 0.0)
            self._t0 = self.clock()
            train_loss = self.train_epoch()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            secs = self._carried + self.clock() - self._t0
            res = evaluate(self.eval_model, self.test_set, self.cfg.test_batch_size, self.device)
            if not math.isfinite(res.loss):
                raise Diverged(f"the test loss became {res.loss} after epoch {self.epoch + 1}; lower --lr or set --grad-clip=1")
            self.epoch += 1
            row = {
                "epoch": self.epoch, "train_loss": train_loss, "test_loss": res.loss, "test_accuracy": res.accuracy,
                "test_correct": res.correct, "test_n": res.n, "eval_set": self.test_set.name, "epoch_seconds": secs,
                "train_images_per_s": None if self.cfg.dry_run else len(self.stream.labels) / secs,
                "lr": self.opt.param_groups[0]["lr"],
            }
            self.history.append(row)
            self.save()
            if self.show:
                tqdm.write(f"epoch {self.epoch}: train loss {train_loss:.4f} ({secs:.1f} s) | {res.line()}")
            if self.on_epoch is not None:
                self.on_epoch(row)
            if self.stop_requested and self.epoch < self.cfg.epochs:
                raise Stopped(f"stopped after epoch {self.epoch}")
        if self.ema is not None:  # the trained model is the average: evaluate and keep it
            self.model.load_state_dict(self.ema.module.state_dict())
            self.save()
        return self.history


def fit(cfg: Config, model, train_stream, test_set, device, *, on_epoch=None, show: bool = True) -> list[dict]:
    """Train without checkpoints (tests, benchmarks); returns per-epoch metrics."""
    return Trainer(cfg, model, train_stream, test_set, device, on_epoch=on_epoch, show=show).run()
