"""`moments`: image-moment canonicalisation plus a learned affine correction (new).

Classic image moments give each digit a centre (the intensity centroid), an orientation (the
principal axis of the second moments) and a size (their spread). This head maps every digit to
that canonical frame in closed form (no learning, exact at any rotation, scale or position),
then lets a standard affine localisation net correct what moments get wrong (clutter pulls the
centroid; the principal axis is only defined up to 180 degrees). A learned gate g, starting at
0, blends the canonical frame in: M = (I + g (C - I)) @ A, so the head starts as the identity.
Parameters passed to ``warp_from``: 6 affine (A) + 6 gated canonical (the top rows of
I + g (C - I)).
"""
import math

import torch
import torch.nn as nn
from einops import rearrange

from common import geometry as geo
from variants import Transformer, Warp, register
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
    n_params = 6

    def __init__(self, in_shape, **loc):
        super().__init__(in_shape, **loc)
        self.gate = nn.Parameter(torch.zeros(()))
        # a 28-pixel MNIST digit's RMS radius is about 0.5 in its own normalised units (measured
        # over the test set: 0.495); keep that physical size on any canvas
        self.spread = 0.5 * 27 / (in_shape[-1] - 1)
        self.warp_params = 12

    def identity(self):
        return affine_identity()

    def warp_identity(self):
        return torch.cat([affine_identity(), affine_identity()])

    def predict(self, x):
        a = super().predict(x)
        with torch.no_grad():
            c = canonical_matrix(x, self.spread)
        eye = torch.eye(3, device=x.device, dtype=x.dtype)
        gated = eye + self.gate * (c - eye)
        return torch.cat([a, rearrange(gated[:, :2], "b i j -> b (i j)")], dim=1)

    def warp_from(self, params, h, w):
        a = geo.affine_to_matrix(params[:, :6])
        c = geo.affine_to_matrix(params[:, 6:])
        m = c @ a
        return geo.matrix_grid(m, h, w, affine=True), m
