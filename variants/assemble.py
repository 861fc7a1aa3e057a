"""Model assembly, beside the heads: a config -> transformer head + the classifier built for the
head's output. ``common/`` knows nothing of ``variants/``; this module joins them."""
from __future__ import annotations

import dataclasses
import sys

from common import data
from common.config import Config
from common.errors import UsageError
from common.models import STNClassifier, build_classifier
from variants import REGISTRY, build, options


def head_options(cfg: Config) -> dict:
    """The options of ``cfg.variant``'s head, read from the config keys of the same names."""
    return {k: getattr(cfg, k) for k in options(cfg.variant) if hasattr(cfg, k)}


def foreign_options(cfg: Config) -> list[str]:
    """Head options set away from their defaults that ``cfg.variant``'s head does not take."""
    takes = set(options(cfg.variant))
    return [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(Config)
            if f.metadata.get("head") and f.name not in takes and getattr(cfg, f.name) != f.default]


def build_model(cfg: Config, *, warn: bool = False) -> STNClassifier:
    """The transformer head ``cfg.variant`` and the classifier ``cfg.classifier`` sized to the
    head's output (after ``--st-downsample``); a head that needs its own classifier (polar) gets
    it. ``warn``: say on stderr which flags this head ignores. Raises UsageError."""
    if cfg.variant not in REGISTRY:
        raise UsageError(f"unknown variant {cfg.variant!r}; choose one of {', '.join(REGISTRY)}")
    size = data.image_size(cfg.dataset)
    if warn:
        ignored = foreign_options(cfg)
        if ignored:
            print(f"warning: --variant {cfg.variant} does not use {', '.join(ignored)}; it takes {', '.join(options(cfg.variant)) or 'no options'}", file=sys.stderr)
    try:
        head = build(cfg.variant, (1, size, size), **head_options(cfg))
    except ValueError as err:
        raise UsageError(f"{err}; see --help") from None
    c, h, w = head.out_shape
    ds = cfg.st_downsample or (2 if max(h, w) > 28 else 1)  # 0: the paper's choice (section 4.1): 2 for outputs above digit size
    ds = ds if cfg.variant != "none" else 1
    if h % ds or w % ds:
        raise UsageError(f"--st-downsample={ds} does not divide the {h}x{w} output of the {cfg.variant} head; use 1 or a divisor of {h}")
    name = head.classifier or cfg.classifier
    if warn and head.classifier and cfg.classifier not in ("tutorial", head.classifier):
        print(f"warning: --variant {cfg.variant} uses the {head.classifier!r} classifier, not {cfg.classifier!r}", file=sys.stderr)
    clf = build_classifier(name, (c, h // ds, w // ds), coordconv=cfg.coordconv_classifier, with_r=cfg.coordconv_r)
    return STNClassifier(head, clf, downsample=ds)
