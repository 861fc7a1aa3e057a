"""`tps`: a thin-plate spline over an n x n grid of control points (default 4x4): the STN
paper's TPS transformer (Jaderberg et al. 2015, arXiv 1506.02025, section 3.2; appendix A:
16 control points on R, RTS, P, E), on the spline of Bookstein 1989 ("Principal warps", IEEE PAMI
11(6)).

The control points sit fixed in the output frame; the localisation net predicts where each one
samples the input (a displacement, zero at identity). The kernel system is solved once in
float64 and kept as a buffer ``(H*W, K)``, so a grid is one matmul (``common.geometry.tps_grid``,
tested against kornia's TPS). The grid is computed in float32 even under float16 autocast.
"""
import torch
from einops import rearrange

from common import geometry as geo
from variants import Transformer, register


@register("tps")
class TPSSTN(Transformer):
    def __init__(self, in_shape, *, tps_grid: int = 4, **loc):
        super().__init__(in_shape, torch.zeros(2 * tps_grid * tps_grid), **loc)
        self.grid_n = tps_grid
        _, h, w = self.in_shape
        self.register_buffer("basis", geo.tps_basis(tps_grid, h, w), persistent=False)
        self.register_buffer("ctrl", geo.control_points(tps_grid), persistent=False)

    def warp_from(self, params, h, w):
        delta = rearrange(params, "b (k c) -> b k c", c=2)
        basis = self.basis if (h, w) == tuple(self.in_shape[1:]) else None
        return geo.tps_grid(delta, h, w, basis), None

    def forward(self, x):
        out = super().forward(x)
        out.points = self.ctrl + rearrange(out.params, "b (k c) -> b k c", c=2)
        return out
