"""`iterative`: a recurrent STN in the inverse-compositional style (Lin & Lucey 2017, IC-STN).

One predictor (localisation net + last layer) is reused for ``steps`` steps. Step k looks at the
original image resampled with the warp accumulated so far, predicts an update, and composes it
as a 3x3 matrix: M <- M @ dM, with output->input matrices, so the update is read in the frame
of the image that step looked at. The original image, never an already-warped one, is
resampled at every step, so nothing blurs or falls off the border (IC-STN's point: warp
parameters are composed, images are not). Works with affine and projective warps.
"""
import torch

from common import geometry as geo
from variants import Transformer, Warp, float32, no_autocast, register
from variants.affine import AffineSTN, affine_identity
from variants.projective import ProjectiveSTN

WARPS = {"affine": (6, affine_identity, AffineSTN.to_matrix), "projective": (8, lambda: torch.zeros(8), ProjectiveSTN.to_matrix)}


@register("iterative")
class IterativeSTN(Transformer):
    def __init__(self, in_shape, *, iterative_steps: int = 4, iterative_warp: str = "affine", **loc):
        if iterative_warp not in WARPS:
            raise ValueError(f"iterative_warp={iterative_warp!r} is not known; choose one of {', '.join(WARPS)}")
        _, identity, self.to_matrix = WARPS[iterative_warp]
        super().__init__(in_shape, identity(), **loc)
        self.steps, self.warp, self.affine = iterative_steps, iterative_warp, iterative_warp == "affine"

    def warp_from(self, params, h, w):
        m = self.to_matrix(params)
        return geo.matrix_grid(m, h, w, affine=self.affine), m

    def forward(self, x):
        with no_autocast(x):
            return self._forward(float32(x))

    def _forward(self, x):
        h, w = x.shape[-2:]
        m, cur, images = None, x, []
        for _ in range(self.steps):
            params = self.predict(cur)
            dm = self.to_matrix(params)
            m = dm if m is None else m @ dm
            grid = geo.matrix_grid(m, h, w, affine=self.affine)
            cur = geo.sample(x, grid)  # always resample the original
            images.append(cur)
        return Warp(cur, grid, params, m, steps=images)
