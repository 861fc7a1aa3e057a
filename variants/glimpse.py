"""`glimpse`: an affine crop to a smaller output (new). The STN paper downsamples the
transformer's output 2x on RTS and TC (arXiv 1506.02025, section 4.1); a glimpse makes that
choice learnable: the head samples a ``glimpse_size`` x ``glimpse_size`` image (default 28, the
digit's own size, or the input's side if smaller) wherever its affine matrix points, so the classifier reads a 28-pixel digit
from a 42- or 60-pixel canvas at native resolution.

Parameters: the 6 entries of the 2x3 output->input matrix. It starts as a centred crop at the
input's resolution (scale (out - 1) / (in - 1) in normalised units), which is the identity only
when the glimpse is as large as the input (``has_identity`` then).
"""
import torch

from common import geometry as geo
from variants import Transformer, register


@register("glimpse")
class GlimpseSTN(Transformer):
    def __init__(self, in_shape, *, glimpse_size: int | None = None, **loc):
        _, h, w = in_shape
        glimpse_size = min(28, h, w) if glimpse_size is None else glimpse_size  # default: 28, or the input's side if smaller
        if not 2 <= glimpse_size <= min(h, w):
            raise ValueError(f"glimpse_size={glimpse_size} must lie in [2, {min(h, w)}] for a {h}x{w} input")
        sx, sy = (glimpse_size - 1) / (w - 1), (glimpse_size - 1) / (h - 1)
        super().__init__(in_shape, torch.tensor([sx, 0.0, 0.0, 0.0, sy, 0.0]), out_size=(glimpse_size, glimpse_size), **loc)
        self.has_identity = glimpse_size == h == w

    def warp_from(self, params, h, w):
        m = geo.affine_to_matrix(params)
        return geo.matrix_grid(m, h, w, affine=True), m
