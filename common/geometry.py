"""Geometry shared by the datasets and the transformer heads.

Convention (used everywhere in this project):
  * Coordinates are normalised to [-1, 1] with ``align_corners=True``: -1 and +1 are the
    centres of the first and last pixel, as in kornia's ``create_meshgrid``.
  * A sampling grid has shape ``(B, H, W, 2)`` holding (x, y) in the *input* frame for every
    pixel of the *output*: ``out = grid_sample(img, grid)``.
  * A 3x3 matrix ``M`` maps output coordinates to input coordinates (the sampling direction),
    so warping by ``M1`` then by ``M2`` samples the original with ``M1 @ M2``.
  * Images are kept in [0, 1] with a 0 background, so zero padding *is* background;
    normalisation happens after warping, inside the classifier.
"""
from __future__ import annotations

import math
from functools import lru_cache

import kornia
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def identity_grid(h: int, w: int, *, device=None, dtype=torch.float32) -> Tensor:
    """The identity sampling grid, shape ``(1, H, W, 2)``."""
    return kornia.geometry.create_meshgrid(h, w, normalized_coordinates=True, device=device, dtype=dtype)


def sample(img: Tensor, grid: Tensor) -> Tensor:
    """``img`` ``(B, C, H_in, W_in)`` sampled bilinearly at ``grid`` ``(B, H, W, 2)`` (x, y in
    normalised [-1, 1] input coordinates; outside reads 0) -> ``(B, C, H, W)`` in ``img``'s dtype.
    The project's one convention: zero background, align_corners=True (the STN paper's sampler,
    Jaderberg et al. 2015, section 3.3, eq. 5)."""
    return F.grid_sample(img, grid.to(img.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)


def matrix_grid(matrix: Tensor, h: int, w: int, *, affine: bool | None = None) -> Tensor:
    """Sampling grid ``(B, H, W, 2)`` of a batch of 3x3 output->input matrices ``(B, 3, 3)``.

    Affine matrices (last row [0, 0, 1]) take torch's fused ``affine_grid``; homographies apply
    the matrix to homogeneous points and divide by the third coordinate. Both give the same grid
    for the same affine matrix (tested). A head that knows its family passes ``affine``: looking
    at the matrix to decide costs a device-to-host sync per call on a GPU.
    """
    if affine is None:
        affine = bool((matrix[:, 2, :2] == 0).all() and (matrix[:, 2, 2] == 1).all())
    if affine:
        return F.affine_grid(matrix[:, :2], [matrix.shape[0], 1, h, w], align_corners=True)
    base = identity_grid(h, w, device=matrix.device, dtype=matrix.dtype)
    base = torch.cat([rearrange(base, "1 h w c -> (h w) c"), base.new_ones(h * w, 1)], dim=1)
    pts = torch.einsum("pk,bjk->bpj", base, matrix)
    z = pts[..., 2:]
    z = torch.where(z.abs() < 1e-8, torch.full_like(z, 1e-8), z)  # a point at infinity samples background
    return rearrange(pts[..., :2] / z, "b (h w) c -> b h w c", h=h, w=w)


def affine_to_matrix(theta: Tensor) -> Tensor:
    """``(B, 2, 3)`` or ``(B, 6)`` affine parameters -> ``(B, 3, 3)``."""
    theta = theta.reshape(-1, 2, 3)
    last = theta.new_tensor([0.0, 0.0, 1.0]).expand(theta.shape[0], 1, 3)
    return torch.cat([theta, last], dim=1)


def homography_to_matrix(h8: Tensor) -> Tensor:
    """``(B, 8)`` homography parameters (row-major, h33 fixed at 1) -> ``(B, 3, 3)``."""
    return rearrange(torch.cat([h8, torch.ones_like(h8[:, :1])], dim=1), "b (i j) -> b i j", i=3)


def pixel_to_norm(h: int, w: int, *, device=None, dtype=torch.float32) -> Tensor:
    """3x3 matrix mapping pixel indices (x=col, y=row) to normalised coordinates."""
    return torch.tensor(
        [[2.0 / (w - 1), 0.0, -1.0], [0.0, 2.0 / (h - 1), -1.0], [0.0, 0.0, 1.0]], device=device, dtype=dtype
    )


def similarity_pixels(angle: Tensor, scale: Tensor, tx: Tensor, ty: Tensor, src: int, dst: int) -> Tensor:
    """Sampling matrix (dst canvas -> src image, both normalised) of a digit of side ``src``
    rotated by ``angle`` (radians), scaled by ``scale`` about its centre and placed on a canvas of
    side ``dst`` with its centre shifted by (tx, ty) pixels from the canvas centre."""
    b = angle.shape[0]
    dev, dt = angle.device, angle.dtype
    c_src, c_dst = (src - 1) / 2.0, (dst - 1) / 2.0
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # inverse map in pixels: p_src = R(-a)/s (p_dst - c_dst - t) + c_src
    m = torch.zeros(b, 3, 3, device=dev, dtype=dt)
    m[:, 0, 0], m[:, 0, 1] = cos, sin
    m[:, 1, 0], m[:, 1, 1] = -sin, cos
    ox, oy = c_dst + tx, c_dst + ty
    m[:, 0, 2] = c_src - (cos * ox + sin * oy)
    m[:, 1, 2] = c_src - (-sin * ox + cos * oy)
    m[:, 2, 2] = 1.0
    return pixel_to_norm(src, src, device=dev, dtype=dt) @ m @ torch.linalg.inv(pixel_to_norm(dst, dst, device=dev, dtype=dt))


# --------------------------------------------------------------------------- thin-plate spline
def control_points(n: int, *, device=None, dtype=torch.float32) -> Tensor:
    """``n x n`` control points spread over [-1, 1]^2, shape ``(n*n, 2)`` as (x, y)."""
    return rearrange(identity_grid(n, n, device=device, dtype=dtype), "1 h w c -> (h w) c")


def _tps_kernel(a: Tensor, b: Tensor) -> Tensor:
    """U(r) = r^2 log r^2 between point sets ``(N, 2)`` and ``(K, 2)``; 0 at r = 0 (masked, no NaN)."""
    r2 = torch.cdist(a, b).square()
    return torch.where(r2 > 0, r2 * torch.log(r2.clamp_min(1e-30)), torch.zeros_like(r2))


@lru_cache(maxsize=32)
def _tps_basis_cached(n: int, h: int, w: int) -> Tensor:
    ctrl = control_points(n, dtype=torch.float64)
    k = ctrl.shape[0]
    p = torch.cat([torch.ones(k, 1, dtype=torch.float64), ctrl], dim=1)  # (K, 3)
    system = torch.zeros(k + 3, k + 3, dtype=torch.float64)
    system[:k, :k] = _tps_kernel(ctrl, ctrl)
    system[:k, k:] = p
    system[k:, :k] = p.T
    inv = torch.linalg.inv(system)[:, :k]  # (K+3, K): the only columns a zero-padded rhs touches
    pts = rearrange(identity_grid(h, w, dtype=torch.float64), "1 h w c -> (h w) c")
    phi = torch.cat([_tps_kernel(pts, ctrl), torch.ones(h * w, 1, dtype=torch.float64), pts], dim=1)
    return (phi @ inv).to(torch.float32)  # (H*W, K)


def tps_basis(n: int, h: int, w: int, *, device=None) -> Tensor:
    """``(H*W, n*n)`` matrix taking control-point displacements to grid displacements.

    The kernel system is solved once in float64; a grid is then one matmul.
    """
    return _tps_basis_cached(n, h, w).to(device)


def tps_grid(delta: Tensor, h: int, w: int, basis: Tensor | None = None) -> Tensor:
    """Sampling grid of a TPS whose control points (fixed in the output frame, see
    ``control_points``) land at ``ctrl + delta`` in the input frame. ``delta``: ``(B, K, 2)``.
    Computed in float32 at least (float16 TPS overflows)."""
    n = math.isqrt(delta.shape[1])
    basis = tps_basis(n, h, w, device=delta.device) if basis is None else basis
    dt = torch.promote_types(delta.dtype, torch.float32)
    disp = torch.einsum("pk,bkc->bpc", basis.to(dt), delta.to(dt))
    return identity_grid(h, w, device=delta.device, dtype=dt) + rearrange(disp, "b (h w) c -> b h w c", h=h, w=w)


def rotate_scale(img: Tensor, degrees: Tensor, scale: Tensor) -> Tensor:
    """Rotate and scale each square image of a batch about its centre (robustness curves)."""
    n = img.shape[-1]
    zero = torch.zeros_like(degrees)
    m = similarity_pixels(torch.deg2rad(degrees), scale, zero, zero, n, n)
    return sample(img, matrix_grid(m, n, n, affine=True))
