"""Transformer heads, one file each, registered by name.

The contract every head honours (see ``Transformer``): given an image batch ``(B, C, H, W)``
in [0, 1] it returns a ``Warp``: the warped batch, the sampling grid that made it (project
convention, ``common.geometry``), the parameters its localisation net predicted, and the 3x3
output->input matrix where one exists. The shared base owns the localisation net, the identity
initialisation of its last layer and the one sampling call; a head only says how parameters
become a grid. Adding a head is adding a file here with ``@register("name")`` on its class.
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

REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str):
    def deco(cls):
        if name in REGISTRY:
            raise ValueError(f"head {name!r} registered twice")
        cls.head_name = name
        REGISTRY[name] = cls
        return cls

    return deco


def names() -> list[str]:
    return list(REGISTRY)


def build(name: str, in_shape: tuple[int, int, int], **options) -> nn.Module:
    """Build head ``name`` for inputs of ``in_shape`` (C, H, W); options a head does not take
    are ignored, so one config can build every head."""
    if name not in REGISTRY:
        raise UsageError(f"unknown variant {name!r}; choose one of {', '.join(REGISTRY)}")
    cls = REGISTRY[name]
    accepted = set(inspect.signature(cls.__init__).parameters)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
        accepted |= set(inspect.signature(Transformer.__init__).parameters)  # passed on to the base
    return cls(in_shape, **{k: v for k, v in options.items() if k in accepted})


@dataclass
class Warp:
    image: Tensor  # (B, C, H, W) the warped batch
    grid: Tensor  # (B, H, W, 2) where each output pixel sampled the input
    params: Tensor  # (B, P) what the localisation net predicted (the last step's, if iterative)
    matrix: Tensor | None = None  # (B, 3, 3) output -> input, for matrix heads
    steps: list[Tensor] = field(default_factory=list)  # iterative heads: the image after each step
    points: Tensor | None = None  # TPS: control points in the input frame (B, K, 2)


class Transformer(nn.Module):
    """Shared base: a localisation net, an identity-initialised last layer, one sampling call.

    Subclasses set ``n_params``, implement ``identity()`` (the parameters of the identity warp)
    and ``warp_from(params, h, w) -> (grid, matrix or None)``.
    """

    n_params: int = 0

    def __init__(self, in_shape: tuple[int, int, int], *, coordconv: bool = False, coordconv_r: bool = False, loc_net: str = "tutorial"):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.loc = build_loc_net(loc_net, self.in_shape, coordconv=coordconv, with_r=coordconv_r)
        self.fc = nn.Linear(self.loc.out_features, self.n_params)
        nn.init.zeros_(self.fc.weight)
        with torch.no_grad():
            self.fc.bias.copy_(self.identity())

    def identity(self) -> Tensor:
        raise NotImplementedError

    def warp_from(self, params: Tensor, h: int, w: int) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def predict(self, x: Tensor) -> Tensor:
        return self.fc(self.loc(x))

    def forward(self, x: Tensor) -> Warp:
        params = self.predict(x)
        grid, matrix = self.warp_from(params, x.shape[-2], x.shape[-1])
        return Warp(geo.sample(x, grid), grid, params, matrix)


for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
