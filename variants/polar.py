"""`polar`: a log-polar transformer (new; Polar Transformer Networks, Esteves et al. 2018).

The localisation net predicts an origin (x0, y0) (normalised units, starting at the centre); the
image is resampled on a log-polar grid around it: output row i is the angle 2 pi i / A, column j
the radius r_j, spaced geometrically from half a pixel to the canvas corner. A rotation of the
input about the origin becomes a circular shift along the rows, a scaling about it a shift along
the columns, so the head is paired with the ``polar`` classifier (``common.models.PolarCNN``):
convolutions padded circularly along the angle axis and a max over that axis, invariant to the
rotation. There is no identity warp (``has_identity`` is False) and no 3x3 matrix.

Where it differs from PTN: the origin is regressed by the localisation net's last layer
(unbounded), where PTN takes the centroid of a fully convolutional heatmap, which follows the
digit when the image shifts; the classifier pools over the angle only (a linear layer reads the
radius axis), so it is invariant to rotation about the origin but not to scale; the largest
radius is the canvas corner (sqrt 2, normalised units), so the outer columns sample padding
beyond the inscribed circle.
"""
import math

import torch
from einops import rearrange

from variants import Transformer, register


@register("polar")
class PolarSTN(Transformer):
    has_identity = False
    classifier = "polar"

    def __init__(self, in_shape, *, polar_size: int = 28, **loc):
        if polar_size < 4:
            raise ValueError(f"polar_size={polar_size} must be at least 4")
        super().__init__(in_shape, torch.zeros(2), out_size=(polar_size, polar_size), **loc)
        self.register_buffer("offsets", self._offsets(polar_size, polar_size, torch.float32, None), persistent=False)

    def warp_from(self, params, h, w):
        """``params`` (B, 2): the origin; returns the grid (B, A, R, 2) (``h`` angles, ``w`` radii) and no matrix."""
        offsets = self.offsets if (h, w) == tuple(self.offsets.shape[:2]) else self._offsets(h, w, params.dtype, params.device)
        return rearrange(params, "b c -> b 1 1 c") + offsets.to(params.dtype), None

    def _offsets(self, h, w, dtype, device):
        """(h, w, 2) offsets from the origin: ``h`` angles 2 pi i / h, ``w`` radii spaced
        geometrically from half a pixel to the canvas corner (normalised units)."""
        _, ih, iw = self.in_shape
        radii = torch.logspace(math.log10(1.0 / (max(ih, iw) - 1)), math.log10(math.sqrt(2.0)), w, dtype=torch.float64)
        angles = torch.arange(h, dtype=torch.float64) * (2 * math.pi / h)
        out = torch.stack([torch.cos(angles)[:, None] * radii, torch.sin(angles)[:, None] * radii], -1)
        return out.to(dtype=dtype, device=device)
