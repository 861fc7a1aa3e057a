"""One config: every default in one visible place, flags spelled like the keys.

A W&B sweep parameter, a command-line flag and a logged config key are the same string:
``--batch_size=128`` and ``--batch-size 128`` both set ``batch_size``; booleans take
``--coordconv``, ``--coordconv=True`` or ``--coordconv=False`` (what ``wandb agent`` passes).
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from common.errors import UsageError


def opt(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class Config:
    # what to train
    variant: str = opt("affine", "transformer head")
    dataset: str = opt("mnist", "training set: mnist, rotated, rts, projective, elastic, cluttered")
    classifier: str = opt("tutorial", "'tutorial' (the STN tutorial's CNN), 'paper' (the STN paper's ST-CNN classifier) or any timm model name")
    loc_net: str = opt("tutorial", "localisation net: tutorial (the PyTorch tutorial's) or paper (the STN paper's, on a 2x-downsampled input)", choices=("tutorial", "paper"))
    st_downsample: int = opt(1, "average-pool the transformer's output by this factor before the classifier; 0: the paper's choice (2 when the head outputs more than 28 pixels, as on the 42- and 60-pixel RTS and TC canvases, else 1); ignored by --variant none", min=0)
    coordconv: bool = opt(False, "CoordConv instead of Conv in the localisation net")
    coordconv_classifier: bool = opt(False, "CoordConv in the classifier too")
    coordconv_r: bool = opt(False, "add the radius channel r to every CoordConv")
    # head options: named like the head's keyword argument, tagged with the head that takes it
    tps_grid: int = opt(4, "tps: control points per side", min=2, head="tps")
    iterative_steps: int = opt(4, "iterative: recurrent warps", min=1, head="iterative")
    diffeo_grid: int = opt(4, "diffeo: velocity-field control points per side", min=2, head="diffeo")
    diffeo_steps: int = opt(6, "diffeo: scaling-and-squaring steps", min=0, head="diffeo")
    diffeo_max: float = opt(0.3, "diffeo: bound on each velocity component, normalised units (0: unbounded, may fold)", min=0.0, head="diffeo")
    iterative_warp: str = opt("affine", "iterative: warp family, affine or projective", choices=("affine", "projective"), head="iterative")
    glimpse_size: int = opt(28, "glimpse: side of the crop the classifier reads, pixels", min=2, head="glimpse")
    polar_size: int = opt(28, "polar: angles and radii of the log-polar image", min=4, head="polar")
    pstn_samples: int = opt(4, "pstn: warps drawn per image, in training and at test", min=1, head="pstn")
    pstn_kl: float = opt(1e-3, "pstn: weight of the KL term to the prior", min=0.0, head="pstn")
    pstn_prior: float = opt(0.2, "pstn: standard deviation of the prior around the identity (normalised units)", min_exclusive=0.0, head="pstn")
    # how to train
    epochs: int = opt(6, "epochs to train", min=1)
    batch_size: int = opt(128, "training batch size", min=1)
    test_batch_size: int = opt(1000, "evaluation batch size", min=1)
    optimizer: str = opt("adam", "sgd, adam or adamw", choices=("sgd", "adam", "adamw"))
    lr: float = opt(4e-3, "peak learning rate", min_exclusive=0.0)
    loc_lr: float = opt(0.1, "learning-rate multiplier for the transformer head", min=0.0)
    momentum: float = opt(0.9, "SGD momentum", min=0.0)
    weight_decay: float = opt(0.0, "weight decay", min=0.0)
    sched: str = opt("cosine", "learning-rate schedule: cosine, step or none (timm schedulers)", choices=("cosine", "step", "none"))
    warmup_epochs: float = opt(0.5, "linear warm-up, in epochs", min=0.0)
    grad_clip: float = opt(0.0, "clip the gradient norm to this (0: off)", min=0.0)
    label_smoothing: float = opt(0.0, "label smoothing of the cross-entropy loss", min=0.0, max=0.5)
    ema: float = opt(0.0, "decay of an exponential moving average of the weights (timm ModelEmaV3), evaluated instead of the weights (0: off)", min=0.0, max_exclusive=1.0)
    amp: bool = opt(False, "bf16 autocast for the classifier on a GPU (the transformer stays float32); ignored on the CPU")
    seed: int = opt(1, "random seed")
    # data and evaluation
    data_root: str = opt("", "MNIST root (default: $STN_DATA_ROOT, else ./data)")
    cache_dir: str = opt("", "where fixed test sets are cached (default: $STN_CACHE_DIR, else ./cache)")
    train_limit: int = opt(0, "train on the first N images only (0: all)", min=0)
    holdout: int = opt(0, "hold out the last N training digits as a validation set (distorted with a seed of its own); train on the rest and evaluate on it, never on a test set (0: off)", min=0, max=50000)
    test_limit: int = opt(0, "test on the first N images only (0: all)", min=0)
    test_sets: str = opt("", "comma-separated test sets for the final evaluation (default: the training set's)")
    eval: str = opt("full", "final evaluation: full (calibration, robustness curves, transform recovery, cost; see evaluate.py) or basic", choices=("full", "basic"))
    # output
    out_dir: str = opt("runs", "folder that holds run folders")
    run_name: str = opt("", "run folder name (default: variant-dataset-seed-time)")
    resume: bool = opt(False, "continue the run in --run-name's folder (automatic when it holds a checkpoint of the same config)")
    img: str = opt("imgs/stn.png", "where to draw inputs beside the transformer's outputs")
    wandb: bool = opt(True, "log to Weights & Biases (offline unless WANDB_MODE/an API key says otherwise)")
    wandb_project: str = opt("stn-lab", "W&B project")
    device: str = opt("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    log_interval: int = opt(0, "also print the train loss every N batches (0: progress bar only)", min=0)
    dry_run: bool = opt(False, "one batch per epoch, for a quick check")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def differs(self, other: dict) -> list[str]:
        """Keys that change what is trained (not where it is logged or drawn) and differ."""
        mine = self.to_dict()
        return [k for k in mine if k not in RUNTIME_KEYS and other.get(k, mine[k]) != mine[k]]


# keys that do not change the result: a checkpoint may be resumed with other values
RUNTIME_KEYS = {"wandb", "wandb_project", "device", "log_interval", "img", "resume", "out_dir", "run_name",
                "data_root", "cache_dir", "test_batch_size"}


def str2bool(v: str) -> bool:
    s = str(v).strip().lower()
    if s in ("1", "true", "t", "yes", "y", "on"):
        return True
    if s in ("0", "false", "f", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {v!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{message} (see --help)")


def build_parser(variants: list[str], description: str = "") -> argparse.ArgumentParser:
    p = _Parser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    for f in dataclasses.fields(Config):
        flags = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])
        h = f.metadata["help"]
        if f.name == "variant":
            h += f": {', '.join(variants)}"
        if f.type in ("bool", bool):
            p.add_argument(*flags, dest=f.name, type=str2bool, nargs="?", const=True, default=f.default, help=h)
        else:
            typ = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            p.add_argument(*flags, dest=f.name, type=typ, default=f.default, help=h, metavar=f.name.upper())
    return p


def validate(cfg: Config, variants: list[str], datasets: list[str]) -> Config:
    """Range and choice checks; raises UsageError naming the flag and what to do."""
    for f in dataclasses.fields(Config):
        v, m = getattr(cfg, f.name), f.metadata
        flag = f"--{f.name.replace('_', '-')}"
        if "min" in m and v < m["min"]:
            raise UsageError(f"{flag}={v} is out of range: it must be >= {m['min']}")
        if "max" in m and v > m["max"]:
            raise UsageError(f"{flag}={v} is out of range: it must be <= {m['max']}")
        if "max_exclusive" in m and not v < m["max_exclusive"]:
            raise UsageError(f"{flag}={v} is out of range: it must be < {m['max_exclusive']}")
        if "min_exclusive" in m and not v > m["min_exclusive"]:
            raise UsageError(f"{flag}={v} is out of range: it must be > {m['min_exclusive']}")
        if "choices" in m and v not in m["choices"]:
            raise UsageError(f"{flag}={v!r} is not known; choose one of {', '.join(m['choices'])}")
    if cfg.variant not in variants:
        raise UsageError(f"unknown variant {cfg.variant!r}; choose one of {', '.join(variants)}")
    for d in [cfg.dataset] + test_set_names(cfg):
        if d not in datasets:
            raise UsageError(f"unknown dataset {d!r}; choose one of {', '.join(datasets)}")
    return cfg


def test_set_names(cfg: Config) -> list[str]:
    return [s.strip() for s in cfg.test_sets.split(",") if s.strip()] or [cfg.dataset]


def parse(argv: list[str] | None, variants: list[str], datasets: list[str]) -> Config:
    args = build_parser(variants).parse_args(argv)
    return validate(Config(**vars(args)), variants, datasets)
