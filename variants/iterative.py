"""`iterative`: a recurrent STN in the inverse-compositional style (Lin & Lucey 2017, IC-STN).

One predictor (localisation net + last layer) is reused for ``steps`` steps. Step k looks at the
original image resampled with the warp accumulated so far, predicts an update, and composes it
as a 3x3 matrix: M <- M @ dM. The original image, never an already-warped one, is resampled at
every step, so nothing blurs or falls off the border. Works with affine and projective warps.
"""
import torch

from common import geometry as geo
from variants import Transformer, Warp, register
from variants.affine import AffineSTN, affine_identity
from variants.projective import ProjectiveSTN

WARPS = {"affine": (6, affine_identity, AffineSTN.to_matrix), "projective": (8, lambda: torch.zeros(8), ProjectiveSTN.to_matrix)}


@register("iterative")
class IterativeSTN(Transformer):
    def __init__(self, in_shape, *, steps: int = 4, warp: str = "affine", **loc):
        self.n_params, self._identity, self.to_matrix = WARPS[warp]
        self.steps, self.warp, self.affine = steps, warp, warp == "affine"
        super().__init__(in_shape, **loc)

    def identity(self):
        return self._identity()

    def warp_from(self, params, h, w):
        m = self.to_matrix(params)
        return geo.matrix_grid(m, h, w, affine=self.affine), m

    def forward(self, x):
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
