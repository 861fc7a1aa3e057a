"""The head contract, parametrised over the registry: a new head is tested by registering it."""
import pytest
import torch
import torch.nn.functional as F

import variants
from common import geometry as geo
from common.models import STNClassifier, TutorialCNN

HEADS = variants.names()
MATRIX_HEADS = ["affine", "projective", "iterative"]


def randomise_last_layer(head, scale=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    if hasattr(head, "fc"):
        with torch.no_grad():
            head.fc.weight.copy_(torch.randn(head.fc.weight.shape, generator=g) * scale)
            head.fc.bias.add_(torch.randn(head.fc.bias.shape, generator=g) * scale)
    return head


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("shape", [(28, 28), (42, 42), (24, 36)])
def test_identity_at_initialisation(name, shape):
    torch.manual_seed(0)
    head = variants.build(name, (1, *shape))
    x = torch.rand(4, 1, *shape)
    out = head(x)
    assert out.image.shape == x.shape and out.grid.shape == (4, *shape, 2)
    assert torch.allclose(out.image, x, atol=1e-5)
    assert torch.allclose(out.grid, geo.identity_grid(*shape).expand_as(out.grid), atol=1e-5)


@pytest.mark.parametrize("name", HEADS)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    head = randomise_last_layer(variants.build(name, (1, 28, 28), coordconv=True))
    model = STNClassifier(head, TutorialCNN((1, 28, 28)))
    model(torch.rand(8, 1, 28, 28)).logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", HEADS)
def test_gradient_reaches_the_localisation_net_at_identity(name):
    """Training starts at the identity: the loc net must still get a gradient there."""
    head = variants.build(name, (1, 28, 28))
    if not list(head.parameters()):
        pytest.skip("no parameters")
    model = STNClassifier(head, TutorialCNN((1, 28, 28)))
    F.cross_entropy(model(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
    assert head.fc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_follows_input_dtype_and_device(name, dtype):
    head = randomise_last_layer(variants.build(name, (1, 20, 20), coordconv=True, coordconv_r=True)).to(dtype)
    x = torch.rand(2, 1, 20, 20, dtype=dtype)
    out = head(x)
    assert out.image.dtype == dtype and out.image.device == x.device


@pytest.mark.parametrize("name", [n for n in HEADS if n != "none"])
def test_gradcheck_grid_wrt_params_and_image_wrt_input(name):
    head = randomise_last_layer(variants.build(name, (1, 20, 20))).double()
    ident = getattr(head, "warp_identity", head.identity)()
    params = ident.double().unsqueeze(0) + 0.05 * torch.randn(1, ident.numel(), dtype=torch.float64)
    params.requires_grad_(True)
    to_grid = getattr(head, "warp_from")
    assert torch.autograd.gradcheck(lambda p: to_grid(p, 6, 7)[0], (params,))
    grid = to_grid(params.detach(), 8, 8)[0]
    img = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i: geo.sample(i, grid), (img,))


def _set_params(head, params):
    """Make the head predict ``params`` for any input."""
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.copy_(params)
    return head


@pytest.mark.parametrize("name", ["affine", "iterative"])
def test_translation_moves_a_bright_pixel(name):
    n, k = 21, 2  # a shift of k pixels is 2k/(n-1) in normalised units
    head = variants.build(name, (1, n, n), steps=1) if name == "iterative" else variants.build(name, (1, n, n))
    _set_params(head, torch.tensor([1.0, 0, 2 * k / (n - 1), 0, 1.0, 0]))
    x = torch.zeros(1, 1, n, n)
    x[0, 0, 4, 9] = 1.0
    out = head(x).image.detach()
    # output pixel (4, 9-k) samples input (4, 9): the pixel moves k to the left
    assert out[0, 0, 4, 9 - k] == pytest.approx(1.0, abs=1e-5)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


def test_projective_translation_moves_a_bright_pixel():
    n, k = 21, 3
    head = _set_params(variants.build("projective", (1, n, n)), torch.tensor([0.0, 2 * k / (n - 1)] * 4))
    x = torch.zeros(1, 1, n, n)
    x[0, 0, 12, 2] = 1.0
    out = head(x).image.detach()
    assert out[0, 0, 12 - k, 2] == pytest.approx(1.0, abs=1e-4)


def test_affine_homography_gives_the_affine_grid():
    theta = torch.tensor([[1.1, 0.2, 0.1, -0.15, 0.9, -0.05]])
    m = geo.affine_to_matrix(theta)
    fused = F.affine_grid(theta.view(1, 2, 3), [1, 1, 11, 13], align_corners=True)
    general = geo.matrix_grid(m + torch.tensor([[0.0, 0, 0], [0, 0, 0], [1e-30, 0, 0]]), 11, 13)  # forces the homography path
    assert torch.allclose(fused, general, atol=1e-5)
    assert torch.allclose(geo.matrix_grid(m, 11, 13), fused)
    assert torch.allclose(geo.matrix_grid(m, 11, 13, affine=False), fused, atol=1e-5)  # told, not inspected
    assert torch.allclose(geo.matrix_grid(m, 11, 13, affine=True), fused)


@pytest.mark.parametrize("warp", ["affine", "projective"])
def test_one_iterative_step_equals_the_plain_head(warp):
    torch.manual_seed(0)
    plain = randomise_last_layer(variants.build(warp, (1, 28, 28)), scale=0.02)
    it = variants.build("iterative", (1, 28, 28), steps=1, warp=warp)
    it.load_state_dict(plain.state_dict())
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(it(x).image, plain(x).image, atol=1e-6)
    many = variants.build("iterative", (1, 28, 28), steps=3, warp=warp)
    many.load_state_dict(plain.state_dict())
    out = many(x)
    assert len(out.steps) == 3 and torch.allclose(out.steps[0], plain(x).image, atol=1e-6)


def test_iterative_composes_matrices():
    torch.manual_seed(0)
    head = randomise_last_layer(variants.build("iterative", (1, 20, 20), steps=2), scale=0.1)
    x = torch.rand(2, 1, 20, 20)
    out = head(x)
    m1 = head.to_matrix(head.predict(x))
    m2 = head.to_matrix(head.predict(geo.sample(x, geo.matrix_grid(m1, 20, 20))))
    assert torch.allclose(out.matrix, m1 @ m2, atol=1e-6)


def test_tps_grid_size_option_and_points():
    head = variants.build("tps", (1, 28, 28), tps_grid=5)
    out = head(torch.rand(2, 1, 28, 28))
    assert head.fc.out_features == 50 and out.points.shape == (2, 25, 2)


@pytest.mark.parametrize("name", HEADS)
def test_trains_on_rts_without_nan(name, mnist):
    from common.data import TrainStream

    (train_x, train_y), _ = mnist
    torch.manual_seed(0)
    model = STNClassifier(variants.build(name, (1, 42, 42), steps=2), TutorialCNN((1, 42, 42)))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    stream = TrainStream("rts", train_x[:3200], train_y[:3200], batch_size=16, seed=0, device="cpu")
    losses = []
    for _ in range(2):  # 400 steps
        for x, y, _gt in stream:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-50:]) / 50 < sum(losses[:50]) / 50


@pytest.mark.parametrize("name", HEADS)
def test_figure_draws_every_head_with_its_steps_and_points(name, tmp_path, monkeypatch):
    """imgs/stn.png: input and output panels for every head, one more panel per extra iterative
    step, and TPS control points drawn on the input panel."""
    import matplotlib.axes
    from matplotlib.image import imread

    from common.viz import draw_stn

    scattered = []
    real_scatter = matplotlib.axes.Axes.scatter
    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", lambda ax, *a, **k: scattered.append(len(a[0])) or real_scatter(ax, *a, **k))
    steps = 3
    model = STNClassifier(randomise_last_layer(variants.build(name, (1, 28, 28), steps=steps)), TutorialCNN((1, 28, 28)))
    path = draw_stn(model, torch.rand(8, 1, 28, 28), torch.arange(8), tmp_path / "stn.png", title=name)
    panels = 2 + (steps - 1 if name == "iterative" else 0)
    assert imread(path).shape[1] == round(4.2 * panels * 110)  # figure width: 4.2 inches a panel at 110 dpi
    assert scattered == ([16] * 8 if name == "tps" else [])  # 4x4 control points on each of the 8 inputs
