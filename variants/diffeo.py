"""`diffeo`: a diffeomorphic head (new). The localisation net predicts a low-resolution
stationary velocity field (``--diffeo-grid`` squared vectors, default 4x4), upsampled and
integrated by scaling and squaring (``--diffeo-steps`` squarings, default 6): the warp is
exp(v), smooth and invertible, so unlike a free TPS it can never fold the digit over itself.
Identity: v = 0.
"""
import torch
import torch.nn.functional as F
from einops import rearrange

from common import geometry as geo
from variants import Transformer, register


def integrate(velocity: torch.Tensor, h: int, w: int, steps: int) -> torch.Tensor:
    """Scaling and squaring: ``velocity`` (B, 2, g, g) in normalised units -> grid (B, H, W, 2)."""
    v = F.interpolate(velocity, size=(h, w), mode="bilinear", align_corners=True)
    ident = geo.identity_grid(h, w, device=v.device, dtype=v.dtype)
    disp = v / (2**steps)
    for _ in range(steps):  # phi <- phi o phi, i.e. u <- u + u(x + u)
        disp = disp + F.grid_sample(disp, ident + rearrange(disp, "b c h w -> b h w c"), mode="bilinear", padding_mode="border", align_corners=True)
    return ident + rearrange(disp, "b c h w -> b h w c")


@register("diffeo")
class DiffeoSTN(Transformer):
    def __init__(self, in_shape, *, diffeo_grid: int = 4, diffeo_steps: int = 6, **loc):
        self.g, self.steps = diffeo_grid, diffeo_steps
        self.n_params = 2 * diffeo_grid * diffeo_grid
        super().__init__(in_shape, **loc)

    def identity(self):
        return torch.zeros(self.n_params)

    def warp_from(self, params, h, w):
        v = rearrange(params, "b (c i j) -> b c i j", c=2, i=self.g)
        return integrate(v, h, w, self.steps), None
