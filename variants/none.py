"""`none`: no transformer. The baseline every head is compared to."""
import torch
import torch.nn as nn

from common import geometry as geo
from variants import Warp, register


@register("none")
class NoTransformer(nn.Module):
    has_identity = True
    classifier = None

    def __init__(self, in_shape):
        super().__init__()
        self.in_shape = self.out_shape = tuple(in_shape)

    def forward(self, x):
        grid = geo.identity_grid(x.shape[-2], x.shape[-1], device=x.device, dtype=x.dtype).expand(x.shape[0], -1, -1, -1)
        eye = torch.eye(3, device=x.device, dtype=x.dtype).expand(x.shape[0], 3, 3)
        return Warp(x, grid, x.new_zeros(x.shape[0], 0), eye)
