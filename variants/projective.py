"""`projective`: an 8-parameter homography (Jaderberg et al.'s ST-CNN Proj).

Parameters: the displacements of the output frame's four corners, in the input frame, in
normalised units (the 4-point parametrisation, better conditioned than raw matrix entries);
kornia's ``get_perspective_transform`` turns them into the 3x3 matrix. Identity: all zeros.
"""
import kornia
import torch
from einops import rearrange

from common import geometry as geo
from variants import Transformer, register

CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))


def corners_to_matrix(params: torch.Tensor) -> torch.Tensor:
    """``(B, 8)`` corner displacements -> ``(B, 3, 3)`` output->input homography."""
    src = params.new_tensor(CORNERS).expand(params.shape[0], 4, 2)
    return kornia.geometry.transform.get_perspective_transform(src, src + rearrange(params, "b (k c) -> b k c", c=2))


@register("projective")
class ProjectiveSTN(Transformer):
    def __init__(self, in_shape, **loc):
        super().__init__(in_shape, torch.zeros(8), **loc)

    @staticmethod
    def to_matrix(params):
        return corners_to_matrix(params)

    def warp_from(self, params, h, w):
        m = self.to_matrix(params)
        return geo.matrix_grid(m, h, w, affine=False), m
