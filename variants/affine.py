"""`affine`: the classic STN (Jaderberg et al. 2015) with the PyTorch tutorial's localisation net.

Parameters: the 6 entries of the 2x3 output->input matrix, identity [1, 0, 0, 0, 1, 0].
"""
import torch

from common import geometry as geo
from variants import Transformer, register


def affine_identity() -> torch.Tensor:
    return torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


@register("affine")
class AffineSTN(Transformer):
    def __init__(self, in_shape, **loc):
        super().__init__(in_shape, affine_identity(), **loc)

    @staticmethod
    def to_matrix(params):
        return geo.affine_to_matrix(params)

    def warp_from(self, params, h, w):
        m = self.to_matrix(params)
        return geo.matrix_grid(m, h, w, affine=True), m
