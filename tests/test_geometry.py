import kornia
import pytest
import torch

from common import geometry as geo
from common.models import CoordConv2d, coord_channels


def test_identity_grid_samples_the_input_exactly():
    x = torch.rand(2, 3, 7, 9)
    assert torch.allclose(geo.sample(x, geo.identity_grid(7, 9).expand(2, -1, -1, -1)), x, atol=1e-6)


def test_tps_matches_kornia():
    """Our grid equals kornia's TPS evaluation (``warp_points_tps``, kernel r^2 log r) of the
    standard spline with kernel centres at the control points. (kornia's ``get_tps_transform``
    builds its kernel between source and destination points, K_ij = U(|src_i - dst_j|), a
    different interpolant, so the weights here come from the textbook system.)"""
    torch.manual_seed(0)
    n, h, w, b = 4, 10, 12, 2
    ctrl = geo.control_points(n, dtype=torch.float64)
    delta = 0.1 * torch.randn(b, n * n, 2, dtype=torch.float64)
    r2 = torch.cdist(ctrl, ctrl).square()
    kmat = torch.where(r2 > 0, 0.5 * r2 * r2.clamp_min(1e-30).log(), torch.zeros_like(r2))
    p = torch.cat([torch.ones(n * n, 1, dtype=torch.float64), ctrl], 1)
    system = torch.cat([torch.cat([kmat, p], 1), torch.cat([p.T, torch.zeros(3, 3, dtype=torch.float64)], 1)], 0)
    rhs = torch.cat([ctrl + delta, torch.zeros(b, 3, 2, dtype=torch.float64)], 1)
    weights = torch.linalg.solve(system, rhs)
    pts = geo.identity_grid(h, w, dtype=torch.float64).reshape(1, -1, 2).expand(b, -1, -1)
    theirs = kornia.geometry.transform.warp_points_tps(pts, ctrl.expand(b, -1, -1), weights[:, :-3], weights[:, -3:])
    ours = geo.tps_grid(delta, h, w).double()
    assert torch.allclose(ours, theirs.reshape(b, h, w, 2), atol=1e-5)


def test_tps_interpolates_its_control_points():
    n = 3
    delta = 0.2 * torch.randn(1, n * n, 2)
    grid = geo.tps_grid(delta, 5, 5)  # control points at pixels 0, 2, 4
    ctrl = geo.control_points(n)
    sampled = grid[0, ::2, ::2].reshape(-1, 2)
    assert torch.allclose(sampled, ctrl + delta[0], atol=1e-4)


def test_tps_in_half_precision_stays_finite():
    grid = geo.tps_grid(torch.zeros(1, 16, 2, dtype=torch.float16), 28, 28)
    assert grid.dtype == torch.float32 and torch.isfinite(grid).all()


def test_similarity_pixels_rotates_about_the_centre():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 7] = 1.0  # 3 right of the centre
    m = geo.similarity_pixels(torch.tensor([torch.pi / 2]), torch.ones(1), torch.zeros(1), torch.zeros(1), 9, 9)
    out = geo.sample(x, geo.matrix_grid(m, 9, 9))
    # +90 degrees in image coordinates (y down): right of centre goes below it
    assert out[0, 0, 7, 4] == pytest.approx(1.0, abs=1e-5)


def test_coord_channels_span_minus_one_to_one():
    x = torch.zeros(2, 1, 5, 7, dtype=torch.float64)
    c = coord_channels(x, with_r=True)
    assert c.shape == (2, 3, 5, 7) and c.dtype == torch.float64
    assert c[0, 0, 0, 0] == -1 and c[0, 0, 0, -1] == 1 and c[0, 1, -1, 0] == 1
    assert torch.allclose(c[0, 2], (c[0, 0] ** 2 + c[0, 1] ** 2).sqrt())


def test_coordconv_registers_no_extra_parameters():
    conv = CoordConv2d(1, 4, 3)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.weight.shape == (4, 3, 3, 3)
    assert conv(torch.rand(2, 1, 8, 8)).shape == (2, 4, 6, 6)
