"""One config: every default in one visible place, flags spelled like the keys.

A W&B sweep parameter, a command-line flag and a logged config key are the same string:
``--batch_size=128`` and ``--batch-size 128`` both set ``batch_size``; booleans take
``--coordconv``, ``--coordconv=True`` or ``--coordconv=False`` (what ``wandb agent`` passes).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

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
    ema_warmup: bool = opt(False, "with --ema: timm's warm-up, a decay that grows from 0 as 1 - (1 + step)^(-2/3), capped at --ema, so the random initial weights leave the average early")
    amp: bool = opt(False, "bf16 autocast for the classifier on a GPU (the transformer stays float32); ignored on the CPU")
    seed: int = opt(1, "random seed", min=0, max=2**63 - 1)
    # data and evaluation
    data_root: str = opt("", "MNIST root (default: $STN_DATA_ROOT, else ./data)")
    cache_dir: str = opt("", "where fixed test sets are cached (default: $STN_CACHE_DIR, else ./cache)")
    train_limit: int = opt(0, "train on the first N images only (0: all)", min=0)
    holdout: int = opt(0, "hold out the last N training digits as a validation set (distorted with a seed of its own); train on the rest and evaluate on it, never on a test set (0: off)", min=0, max=50000)
    test_limit: int = opt(0, "test (with --holdout: validate) on the first N images only (0: all)", min=0)
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
        head = {f.name: f.metadata.get("head") for f in dataclasses.fields(Config)}  # another head's options change nothing
        return [k for k in mine if k not in RUNTIME_KEYS and head[k] in (None, self.variant) and other.get(k, LEGACY.get(k, mine[k])) != mine[k]]


# keys added after runs were made, and the value a run whose saved config lacks the key was trained
# with (its behaviour then): checkpoints are read through ``saved`` (so evaluate.py rebuilds an old
# run as it was) and ``differs`` refuses to resume one under today's default. A ``--config`` replay
# takes a file as a partial config, so it does not apply them: replay an old diffeo run with
# --diffeo-max=0.
LEGACY = {"diffeo_max": 0.0}  # diffeo velocities were unbounded before the bound was added


def saved(config: dict) -> dict:
    """A saved config (config.json, a checkpoint's) with the legacy value of every key it lacks."""
    return {**{k: v for k, v in LEGACY.items() if k not in config}, **config}


# keys that do not change the result: a checkpoint may be resumed with other values
RUNTIME_KEYS = {"wandb", "wandb_project", "device", "log_interval", "img", "resume", "out_dir", "run_name",
                "data_root", "cache_dir", "test_batch_size"}


def str2bool(v) -> bool:
    """``True``/``False`` as W&B, YAML and people write them; raises ArgumentTypeError otherwise."""
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "t", "yes", "y", "on"):
        return True
    if s in ("0", "false", "f", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {v!r}")


def at_least(least: int):
    """An argparse ``type`` for a whole number >= ``least`` (a count, a limit): a smaller one is the
    parser's one-line error ``argument --flag: N is out of range: it must be >= least``, raised while
    the command line is read, before anything is loaded or written; so is a value that is no whole number."""
    def whole_number(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one >= {least}") from None
        if v < least:
            raise argparse.ArgumentTypeError(f"{v} is out of range: it must be >= {least}")
        return v
    return whole_number


# --------------------------------------------------------------------------- one typed path
# Every value reaches a Config through ``convert`` (its type) and ``validate`` (finite, range,
# choice, known names), whether it came from a flag, a ``--config`` file, ``wandb.config`` or a
# sweep file's parameters; ``resolve`` layers them.

FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# keys a replayed config file (``--config RUN/config.json``) does not set: where the replay writes
# and what it reads on this machine; flags still set them
NOT_REPLAYED = {"out_dir", "run_name", "img", "resume", "data_root", "cache_dir"}
SWEEP_PARAM_ENV = "WANDB_SWEEP_PARAM_PATH"  # where ``wandb agent`` writes a run's parameters


def flag_of(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def canonical(key, source: str = "") -> str:
    """``batch-size``, ``--batch_size`` and ``batch_size`` all name ``batch_size``; an unknown name
    raises UsageError."""
    name = str(key).lstrip("-").replace("-", "_")
    if name not in FIELDS:
        where = f" in {source}" if source else ""
        raise UsageError(f"{key!r}{where} is not a train.py option; see python train.py --help for the keys")
    return name


def _kind(key: str) -> str:
    t = FIELDS[key].type
    return t if isinstance(t, str) else t.__name__


def convert(key: str, value, source: str = ""):
    """``value`` as the type of config key ``key``: ``"1e-3"``, ``1e-3`` and ``0.001`` are the
    float 0.001; ``"5"``, ``5`` and ``5.0`` the int 5; ``"True"``/``"false"``/``1``/``True`` booleans.
    Raises UsageError naming the key (and ``source``, e.g. "wandb.config") and what to give."""
    kind, flag = _kind(key), flag_of(key)
    src = f" (from {source})" if source else ""

    def bad(what: str, example: str):
        raise UsageError(f"{flag}={value!r}{src} is not {what}; give {example}")

    if isinstance(value, (list, tuple, dict, set)):
        bad("a single value", "one value per run")
    if kind == "bool":
        try:
            return str2bool(value)
        except argparse.ArgumentTypeError:
            bad("True or False", "True or False")
    if kind == "str":
        return value if isinstance(value, str) else str(value)  # what the agent's --key=value would give
    if isinstance(value, bool):
        bad("a number" if kind == "float" else "an integer", f"a number, not {value}")
    if kind == "float":
        try:
            return float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            bad("a number (invalid float value)", "a number such as 0.001 or 1e-3")
    # int: 5, "5", 5.0, "5.0" and "1e3" are integers; 5.5 is not
    try:
        return int(value.strip() if isinstance(value, str) else value) if not isinstance(value, float) else _integral(value)
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        return _integral(float(value))
    except (TypeError, ValueError, OverflowError):
        bad("an integer (invalid int value)", "a whole number such as 4")


def _integral(x: float) -> int:
    if not math.isfinite(x) or x != int(x):
        raise ValueError(x)
    return int(x)


def from_dict(values: dict, source: str, *, skip: set[str] = frozenset()) -> dict:
    """Canonical key -> converted value for every entry of ``values`` (keys spelled either way;
    ``skip``: canonical keys to leave out). W&B's ``{"value": v}`` wrappers are unwrapped."""
    out = {}
    for k, v in values.items():
        if str(k) in ("wandb_version", "_wandb"):
            continue
        key = canonical(k, source)
        if key in skip:
            continue
        if isinstance(v, dict) and "value" in v:
            v = v["value"]
        out[key] = convert(key, v, source)
    return out


def read_mapping(path, what: str) -> dict:
    """A JSON or YAML mapping from ``path`` (a config.json, a W&B parameter file); UsageError if
    it cannot be read or is not a mapping."""
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as err:
        raise UsageError(f"cannot read {what} {path} ({err.strerror}); check the path") from None
    try:
        obj = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise UsageError(f"{what} {path} is not valid {'JSON' if str(path).endswith('.json') else 'YAML'}; fix or remove it") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{what} {path} must hold a mapping of config keys to values")
    return obj


def sweep_params(environ=None) -> dict:
    """The parameters ``wandb agent`` gave this run (the file named by $WANDB_SWEEP_PARAM_PATH,
    which ``wandb.init`` loads into ``wandb.config``), converted; {} outside a sweep."""
    environ = os.environ if environ is None else environ
    path = environ.get(SWEEP_PARAM_ENV)
    if not path:
        return {}
    return from_dict(read_mapping(path, "the sweep's parameter file"), "wandb.config")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, unless its help already says it ("(default ...") or
    the default is empty (``""``, None or ``[]``, whose meaning the help gives in words)."""

    def _get_help_string(self, action):
        if "(default" in (action.help or "") or action.default in ("", None, []):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with the project's error line: an unknown flag or a value of the
    wrong type raises UsageError("... (see --help)") instead of printing the usage block, so every
    command line answers it with one line on stderr and exit status 2 (``train.py``'s handler, and
    ``common.runs.cli`` around the other scripts' ``main``)."""

    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def build_parser(variants: list[str], description: str = "") -> argparse.ArgumentParser:
    """Every Config key as ``--key-name``/``--key_name``. Values stay raw strings here (``convert``
    types them); a flag not given is absent from the namespace, so layers below it show through."""
    p = Parser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
                argument_default=argparse.SUPPRESS)
    p.add_argument("--config", metavar="FILE", help="replay a run: take every key from FILE (a run's config.json, or a "
                   f"YAML/JSON mapping) except {', '.join(sorted(NOT_REPLAYED))}; flags still override it")
    for f in dataclasses.fields(Config):
        flags = [flag_of(f.name)] + ([f"--{f.name}"] if "_" in f.name else [])
        h = f.metadata["help"]
        if f.name == "variant":
            h += f": {', '.join(variants)}"
        if "(default:" not in h and f.default != "":  # a help text that names its default in words keeps them
            h += f" (default: {f.default})"
        if _kind(f.name) == "bool":
            p.add_argument(*flags, dest=f.name, nargs="?", const=True, help=h, metavar="BOOL")
        else:
            p.add_argument(*flags, dest=f.name, help=h, metavar=f.name.upper())
    return p


def validate(cfg: Config, variants: list[str], datasets: list[str]) -> Config:
    """Type, finiteness, range, choice and cross-key checks; raises UsageError naming the flag and
    what to do. Nothing is loaded or written before this passes."""
    for f in dataclasses.fields(Config):
        v, m = getattr(cfg, f.name), f.metadata
        flag = flag_of(f.name)
        kind = _kind(f.name)
        ok = isinstance(v, bool) if kind == "bool" else isinstance(v, str) if kind == "str" else \
            isinstance(v, (int, float)) and not isinstance(v, bool) and (kind == "float" or isinstance(v, int))
        if not ok:
            raise UsageError(f"{flag}={v!r} is not of type {kind}; give a {kind} value")
        if kind == "float" and not math.isfinite(v):
            raise UsageError(f"{flag}={v} is not a finite number; give a finite value")
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
    if cfg.holdout and cfg.test_sets:
        raise UsageError("--holdout evaluates on the validation split only; drop --test-sets (or --holdout for a final run)")
    if cfg.resume and not cfg.run_name:
        raise UsageError("--resume needs --run-name: the run folder to continue")
    return cfg


def test_set_names(cfg: Config) -> list[str]:
    return [s.strip() for s in cfg.test_sets.split(",") if s.strip()] or [cfg.dataset]


def validation_set_name(dataset: str) -> str:
    """The name of ``dataset``'s validation split (``--holdout``): ``rts`` -> ``rts-val``."""
    return f"{dataset}-val"


def is_validation_set(name: str) -> bool:
    """Is ``name`` a validation split's (``validation_set_name``), not a test set's?"""
    return name.endswith("-val")


def eval_set_names(cfg: Config) -> list[str]:
    """The sets a run is scored on at the end: ``<dataset>-val`` with ``--holdout``, else the test sets."""
    return [validation_set_name(cfg.dataset)] if cfg.holdout else test_set_names(cfg)


def scored_prefix(cfg: Config) -> str:
    """W&B prefix of the per-epoch scores: ``val`` for a --holdout run (its validation split), else ``test``."""
    return "val" if cfg.holdout else "test"


def summary_metrics(cfg: Config) -> set[str]:
    """Every metric name a run of ``cfg`` puts in its W&B summary (what a sweep's ``metric`` may name)."""
    scored = scored_prefix(cfg)
    names = {"final/accuracy", "final/loss", "params_head", "params_classifier",
             "train/loss", "train/epoch_seconds", "train/lr", f"{scored}/loss", f"{scored}/accuracy"}
    names |= {f"final/{s}/{k}" for s in eval_set_names(cfg) for k in ("accuracy", "loss")}
    if cfg.eval == "full" and not cfg.holdout:
        names |= {"eval/rotation_auc", "eval/scale_auc", "eval/invariance"}
    return names


def resolve(argv: list[str] | None, variants: list[str], datasets: list[str], *, sweep: dict | None = None,
            environ=None) -> Config:
    """The run's config, in layers: defaults < ``--config FILE`` < flags < the sweep's parameters
    (``sweep``, else the file ``wandb agent`` names in $WANDB_SWEEP_PARAM_PATH, which W&B also
    loads into ``wandb.config``). Every layer goes through ``convert``; the result through
    ``validate``. Raises UsageError (one line: the key and what to do)."""
    args = vars(build_parser(variants).parse_args(argv))
    values = {}
    replay = args.pop("config", None)
    if replay:
        values |= from_dict(read_mapping(replay, "config file"), f"config file {replay}", skip=NOT_REPLAYED)
    values |= {k: convert(k, v) for k, v in args.items()}
    values |= from_dict(sweep, "the sweep's parameters") if sweep is not None else sweep_params(environ)
    return validate(Config(**values), variants, datasets)


def parse(argv: list[str] | None, variants: list[str], datasets: list[str]) -> Config:
    """``resolve`` with the process's environment (the sweep's parameters, when under ``wandb agent``)."""
    return resolve(argv, variants, datasets)
