"""`moments`: image-moment canonicalisation plus a learned affine correction (new).

Classic image moments give each digit a centre (the intensity centroid), an orientation (the
principal axis of the second moments) and a size (their spread). This head maps every digit to
that canonical frame in closed form (no learning, exact at any rotation, scale or position),
then lets a standard affine localisation net correct what moments get wrong (clutter pulls the
centroid; the principal axis is only defined up to 180 degrees). A learned gate g, starting at
0, blends the canonical frame in: M = (I + g (C - I)) @ A, so the head starts as the identity.
Parameters: the 6 of the affine correction A; the gated frame I + g (C - I) is computed from
the image in ``forward`` and passed to ``warp_from`` beside them.
"""
import math

import torch
import torch.nn as nn

from common import geometry as geo
from variants import Transformer, Warp, float32, no_autocast, register
from variants.affine import affine_identity


def canonical_matrix(x: torch.Tensor, spread: float) -> torch.Tensor:
    """Output->input matrix (B, 3, 3) that centres each image's intensity, turns its principal
    axis vertical and scales its spread (RMS radius, normalised units) to ``spread``."""
    b, _, h, w = x.shape
    g = geo.identity_grid(h, w, device=x.device, dtype=x.dtype)[0]  # (H, W, 2)
    m = x.sum(1).clamp_min(0)  # (B, H, W)
    mass = m.sum((1, 2)).clamp_min(1e-6)
    cx = (m * g[..., 0]).sum((1, 2)) / mass
    cy = (m * g[..., 1]).sum((1, 2)) / mass
    dx, dy = g[..., 0] - cx[:, None, None], g[..., 1] - cy[:, None, None]
    mu20, mu02, mu11 = [(m * t).sum((1, 2)) / mass for t in (dx * dx, dy * dy, dx * dy)]
    theta = 0.5 * torch.atan2(2 * mu11, mu20 - mu02)  # principal axis angle from the x axis
    phi = torch.where(theta >= 0, theta - math.pi / 2, theta + math.pi / 2)  # the smallest turn to vertical
    s = torch.sqrt(mu20 + mu02).clamp_min(1e-3) / spread
    cos, sin = torch.cos(phi) * s, torch.sin(phi) * s
    mat = torch.zeros(b, 3, 3, device=x.device, dtype=x.dtype)
    mat[:, 0, 0], mat[:, 0, 1], mat[:, 0, 2] = cos, -sin, cx
    mat[:, 1, 0], mat[:, 1, 1], mat[:, 1, 2] = sin, cos, cy
    mat[:, 2, 2] = 1
    return mat


@register("moments")
class MomentSTN(Transformer):
    def __init__(self, in_shape, **loc):
        super().__init__(in_shape, affine_identity(), **loc)
        self.gate = nn.Parameter(torch.zeros(()))
        # a 28-pixel MNIST digit's RMS radius is about 0.5 in its own normalised units (measured
        # over the test set: 0.495); keep that physical size on any canvas
        self.spread = 0.5 * 27 / (in_shape[-1] - 1)

    def warp_from(self, params, h, w, canonical=None):
        """``params`` (B, 6): the learned affine correction A; ``canonical`` (B, 3, 3): the gated
        moment frame I + g (C - I) (default: I, so the head alone is an affine head)."""
        m = geo.affine_to_matrix(params)
        if canonical is not None:
            m = canonical @ m
        return geo.matrix_grid(m, h, w, affine=True), m

    def forward(self, x):
        with no_autocast(x):
            x = float32(x)
            params = self.predict(x)
            with torch.no_grad():
                c = canonical_matrix(x, self.spread)
            eye = torch.eye(3, device=x.device, dtype=x.dtype)
            grid, m = self.warp_from(params, *self.out_shape[1:], canonical=eye + self.gate * (c - eye))
            return Warp(geo.sample(x, grid), grid, params, m)
