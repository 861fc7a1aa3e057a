"""Transformer heads, one file each, registered by name.

The contract every head honours (see ``Transformer`` and ``Warp``). Given an image batch
``(B, C, H, W)`` in [0, 1] a head returns a ``Warp``: the batch it made, the sampling grid that
made it (project convention, ``common.geometry``), the parameters its localisation net
predicted, and the 3x3 output->input matrix where one exists. Beyond that, a head declares:

- ``out_shape`` ``(C, H', W')``: what it outputs; the classifier is built for it (a glimpse
  crops a 60-pixel canvas to 28 pixels; a polar head resamples onto angle x log-radius);
- ``has_identity``: whether some parameters give back the input exactly; the registry-wide
  identity test runs only for those, and transform-recovery metrics only apply to them;
- ``Warp.samples`` K >= 1: a probabilistic head returns K warps of every input, sample-major
  (``(K*B, C, H', W')``); the classifier's predictions are averaged over them;
- ``Warp.aux_loss``: a scalar the trainer adds to the classification loss (e.g. a KL term);
- ``classifier``: the classifier it needs, when a plain CNN would waste its output (polar).

The shared base owns the localisation net, the identity-initialised last layer (zero weights,
bias = the given initial parameters) and the one sampling call; its constructor takes what it
needs as arguments. A head only says how parameters become a grid. Adding a head is adding a
file here with ``@register("name")`` on its class: its tests come from the registry
(tests/test_heads.py). Head options are keyword arguments named like the config keys that set
them (``tps_grid``, ``iterative_steps``...); ``build`` refuses options a head does not take.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch import Tensor

from common import geometry as geo
from common.errors import UsageError
from common.models import build_loc_net

def float32(x: Tensor) -> Tensor:
    """``x`` as float32 (float64 stays float64): grids are built in full precision whatever the
    autocast (bf16 grids moved pixels by up to 0.12 at 60x60). Use under ``no_autocast(x)``."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def no_autocast(x: Tensor):
    """A context that turns autocast off on ``x``'s device."""
    return torch.autocast(x.device.type, enabled=False)


REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str):
    """Class decorator: make a head buildable by ``name`` (``build``, ``--variant``)."""
    def deco(cls):
        if name in REGISTRY:
            raise ValueError(f"head {name!r} registered twice")
        cls.head_name = name
        REGISTRY[name] = cls
        return cls

    return deco


def names() -> list[str]:
    """Every registered head, in registration (module) order."""
    return list(REGISTRY)


LOC_OPTIONS = ("coordconv", "coordconv_r", "loc_net")  # what every head with a localisation net takes


def options(name: str) -> list[str]:
    """The keyword options head ``name`` takes (its own, then the localisation net's)."""
    cls = REGISTRY[name]
    params = inspect.signature(cls.__init__).parameters.values()
    own = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    passes_on = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return own + [o for o in LOC_OPTIONS if passes_on and o not in own]


def build(name: str, in_shape: tuple[int, int, int], **opts) -> nn.Module:
    """Build head ``name`` for inputs of ``in_shape`` (C, H, W).

    Raises UsageError for an unknown name, and for an option the head does not take (naming
    the ones it does), so a misspelt option never vanishes without a word."""
    if name not in REGISTRY:
        raise UsageError(f"unknown variant {name!r}; choose one of {', '.join(REGISTRY)}")
    takes = options(name)
    wrong = [k for k in opts if k not in takes]
    if wrong:
        raise UsageError(f"head {name!r} takes no option {', '.join(map(repr, wrong))}; it takes: {', '.join(takes) or 'none'}")
    try:
        return REGISTRY[name](tuple(in_shape), **opts)
    except ValueError as err:  # a head's own check of its options
        raise UsageError(f"{name}: {err}") from None


@dataclass
class Warp:
    image: Tensor  # (K*B, C, H', W') what the head made: K samples of each of the B inputs, sample-major
    grid: Tensor  # (K*B, H', W', 2) where each output pixel sampled the input
    params: Tensor  # (B, P) what the localisation net predicted (the last step's, if iterative)
    matrix: Tensor | None = None  # (K*B, 3, 3) output -> input, for matrix heads
    steps: list[Tensor] = field(default_factory=list)  # iterative heads: the image after each step
    points: Tensor | None = None  # TPS: control points in the input frame (B, K, 2)
    samples: int = 1  # K: warps per input (probabilistic heads)
    aux_loss: Tensor | None = None  # a scalar the trainer adds to the loss (probabilistic heads: KL)


class Transformer(nn.Module):
    """Shared base: a localisation net, a last layer initialised to ``init`` (zero weights, bias
    ``init``), one sampling call, and float32 grids whatever the autocast.

    ``init``: the parameters the head starts from, ``(P,)`` (the identity warp where there is
    one); ``out_size``: ``(H', W')`` of the output (default: the input's). Subclasses implement
    ``warp_from(params, h, w) -> (grid (B, h, w, 2), matrix (B, 3, 3) or None)``.
    """

    has_identity: bool = True
    classifier: str | None = None

    def __init__(self, in_shape: tuple[int, int, int], init: Tensor, *, out_size: tuple[int, int] | None = None,
                 coordconv: bool = False, coordconv_r: bool = False, loc_net: str = "tutorial"):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.out_shape = (self.in_shape[0], *(out_size or self.in_shape[1:]))
        self.n_params = init.numel()
        self.loc = build_loc_net(loc_net, self.in_shape, coordconv=coordconv, with_r=coordconv_r)
        self.fc = nn.Linear(self.loc.out_features, self.n_params)
        nn.init.zeros_(self.fc.weight)
        with torch.no_grad():
            self.fc.bias.copy_(init)
        self.register_buffer("init", init.detach().clone().float(), persistent=False)

    def identity(self) -> Tensor:
        """The parameters the head starts from (the identity warp where ``has_identity``)."""
        return self.init.clone()

    def warp_from(self, params: Tensor, h: int, w: int) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def predict(self, x: Tensor) -> Tensor:
        return self.fc(self.loc(x))

    def forward(self, x: Tensor) -> Warp:
        with no_autocast(x):
            x = float32(x)
            params = self.predict(x)
            grid, matrix = self.warp_from(params, *self.out_shape[1:])
            return Warp(geo.sample(x, grid), grid, params, matrix)


for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")

from variants.assemble import build_model, head_options  # noqa: E402  (model assembly, beside the heads)
