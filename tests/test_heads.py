"""The head contract, parametrised over the registry: a new head is tested by registering it."""
import pytest
import torch
import torch.nn.functional as F

import variants
from common import geometry as geo
from common.errors import UsageError
from common.models import STNClassifier, TutorialCNN, build_classifier

HEADS = variants.names()
MATRIX_HEADS = ["affine", "projective", "iterative"]


def model_for(head, **kw):
    """The head and the classifier built for its output (its own classifier where it needs one)."""
    return STNClassifier(head, build_classifier(head.classifier or "tutorial", head.out_shape, **kw))


def head_opts(name, **opts):
    """The given options that head ``name`` takes (the registry refuses the others)."""
    takes = variants.options(name)
    return {k: v for k, v in opts.items() if k in takes}


def randomise_last_layer(head, scale=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    if hasattr(head, "fc"):
        with torch.no_grad():
            head.fc.weight.copy_(torch.randn(head.fc.weight.shape, generator=g) * scale)
            head.fc.bias.add_(torch.randn(head.fc.bias.shape, generator=g) * scale)
    return head


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("shape", [(28, 28), (42, 42), (24, 36)])
def test_output_has_the_declared_shape_and_samples(name, shape):
    torch.manual_seed(0)
    head = variants.build(name, (1, *shape))
    out = head(torch.rand(4, 1, *shape))
    k = out.samples
    assert k >= 1 and out.image.shape == (k * 4, *head.out_shape) and out.grid.shape == (k * 4, *head.out_shape[1:], 2)
    assert out.aux_loss is None or (out.aux_loss.dim() == 0 and torch.isfinite(out.aux_loss))


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("shape", [(28, 28), (42, 42), (24, 36)])
def test_identity_at_initialisation(name, shape):
    torch.manual_seed(0)
    head = variants.build(name, (1, *shape))
    if not head.has_identity:
        pytest.skip(f"{name} declares no identity warp at {shape}")
    x = torch.rand(4, 1, *shape)
    out = head(x)
    assert out.image.shape == x.shape and out.grid.shape == (4, *shape, 2)
    assert torch.allclose(out.image, x, atol=1e-5)
    assert torch.allclose(out.grid, geo.identity_grid(*shape).expand_as(out.grid), atol=1e-5)


def test_heads_without_an_identity_are_the_ones_that_say_so():
    """The identity test must not skip a head that has an identity: only these declare none."""
    assert {n for n in HEADS if not variants.build(n, (1, 42, 42)).has_identity} == {"glimpse", "polar", "pstn"}
    assert variants.build("glimpse", (1, 28, 28)).has_identity  # a 28-pixel glimpse of 28 pixels is the identity


@pytest.mark.parametrize("shape", [(28, 28), (42, 42)])
def test_grids_are_float32_under_bf16_autocast(shape):
    """bf16 grids moved pixels by up to 0.12 at 60x60: every head builds its grid in float32."""
    x = torch.rand(2, 1, *shape)
    for name in HEADS:
        head = variants.build(name, (1, *shape))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = head(x)
        assert out.grid.dtype == torch.float32, name
        if head.has_identity:
            assert torch.allclose(out.image.float(), x, atol=1e-5), name


def test_an_option_a_head_does_not_take_is_refused_with_the_ones_it_takes():
    with pytest.raises(UsageError, match="'tps_grids'.*it takes: tps_grid"):
        variants.build("tps", (1, 28, 28), tps_grids=5)
    with pytest.raises(UsageError, match="takes no option 'coordconv'"):
        variants.build("none", (1, 28, 28), coordconv=True)


def test_iterative_takes_its_steps_under_the_config_name():
    head = variants.build("iterative", (1, 28, 28), iterative_steps=7)
    assert head.steps == 7 and len(head(torch.rand(1, 1, 28, 28)).steps) == 7


def test_head_options_come_from_the_config_and_foreign_flags_are_named(capsys):
    from common.config import Config

    model = variants.build_model(Config(variant="tps", tps_grid=5, iterative_steps=3), warn=True)
    assert model.transformer.grid_n == 5
    assert "--iterative-steps" in capsys.readouterr().err
    variants.build_model(Config(variant="iterative", iterative_steps=3), warn=True)
    assert capsys.readouterr().err == ""
    assert variants.build_model(Config(variant="iterative", iterative_steps=3)).transformer.steps == 3


def test_glimpse_starts_as_a_centred_crop_and_the_classifier_fits_it():
    from common.config import Config

    x = torch.rand(2, 1, 42, 42)
    head = variants.build("glimpse", (1, 42, 42))
    assert torch.allclose(head(x).image, x[..., 7:35, 7:35], atol=1e-5)  # native-resolution crop
    model = variants.build_model(Config(variant="glimpse", dataset="cluttered"))
    assert model.transformer.out_shape == (1, 28, 28) and model(torch.rand(3, 1, 60, 60)).shape == (3, 10)
    with pytest.raises(UsageError, match="glimpse: glimpse_size"):
        variants.build("glimpse", (1, 28, 28), glimpse_size=42)


def test_polar_turns_a_rotation_about_its_origin_into_a_row_shift_and_its_model_ignores_it():
    torch.manual_seed(0)
    model = model_for(variants.build("polar", (1, 28, 28), polar_size=32)).eval()
    x = torch.rand(2, 1, 28, 28)
    turned = torch.rot90(x, 1, (2, 3))  # exact: pixel centres onto pixel centres about the centre
    a, b = model.transformer(x).image, model.transformer(turned).image
    shifts = [torch.allclose(torch.roll(a, s, 2), b, atol=1e-5) for s in (8, -8)]  # 90 degrees = 32/4 rows
    assert any(shifts)
    assert torch.allclose(model(x), model(turned), atol=1e-4)
    assert not torch.allclose(model.transformer(x).image, a.flip(2), atol=1e-3)  # the test can tell


def test_pstn_averages_its_samples_adds_its_kl_and_evaluates_deterministically():
    torch.manual_seed(0)
    head = randomise_last_layer(variants.build("pstn", (1, 28, 28), pstn_samples=3))
    model = model_for(head)
    x = torch.rand(5, 1, 28, 28)
    model.train()
    logits, aux = model(x, with_aux=True)
    assert logits.shape == (5, 10) and aux.item() > 0
    assert torch.allclose(logits.exp().sum(1), torch.ones(5), atol=1e-5)  # log of averaged probabilities
    model.eval()
    w = head(x)
    per_sample = model.classifier(w.image).log_softmax(1).exp().reshape(3, 5, 10).mean(0)
    assert torch.allclose(model(x).exp(), per_sample, atol=1e-5)
    assert torch.equal(model(x), model(x))  # fixed draws at test
    assert not torch.allclose(w.image[:5], w.image[5:10])  # the draws differ


def test_the_trainer_adds_the_heads_aux_loss():
    from common.config import Config
    from common.trainer import Trainer

    torch.manual_seed(0)
    cfg = Config(variant="pstn", pstn_kl=50.0, dry_run=True, epochs=1)
    model = variants.build_model(cfg)

    class Stream:
        labels = torch.zeros(8, dtype=torch.long)

        def __len__(self):
            return 1

        def permutation(self):
            return None

        def batches(self, perm, start=0):
            yield 0, (torch.rand(8, 1, 28, 28), self.labels, {})

    tr = Trainer(cfg, model, Stream(), None, torch.device("cpu"), show=False)
    loss = tr.train_epoch()
    ce = torch.nn.functional.cross_entropy(model(torch.rand(8, 1, 28, 28)), Stream.labels).item()
    assert loss > ce + 1.0  # the KL term, weighted by 50, is in the loss


@pytest.mark.parametrize("shape", [(28, 28), (42, 42), (60, 60)])
def test_diffeo_never_folds_over_the_fields_it_can_reach(shape):
    """Over every field the bounded head can reach (components at +-bound with random signs,
    and uniform within it), the Jacobian determinant of the grid stays positive."""
    head = variants.build("diffeo", (1, *shape))
    g = torch.Generator().manual_seed(0)
    n = head.n_params
    big = torch.cat([(torch.randint(0, 2, (256, n), generator=g) * 2 - 1) * 50.0, torch.randn(256, n, generator=g) * 10])
    grid = head.warp_from(big, *shape)[0]
    a, b = grid[:, 1:, :-1] - grid[:, :-1, :-1], grid[:, :-1, 1:] - grid[:, :-1, :-1]
    det = b[..., 0] * a[..., 1] - b[..., 1] * a[..., 0]
    assert det.min() > 0
    unbounded = variants.build("diffeo", (1, *shape), diffeo_max=0.0).warp_from(big[:256] * 0.02, *shape)[0]  # +-1: folds
    a, b = unbounded[:, 1:, :-1] - unbounded[:, :-1, :-1], unbounded[:, :-1, 1:] - unbounded[:, :-1, :-1]
    assert (b[..., 0] * a[..., 1] - b[..., 1] * a[..., 0]).min() < 0  # the test can tell a folding head


@pytest.mark.parametrize("name", HEADS)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    head = randomise_last_layer(variants.build(name, (1, 28, 28), **head_opts(name, coordconv=True)))
    model = model_for(head)
    logits, aux = model(torch.rand(8, 1, 28, 28), with_aux=True)
    # cross-entropy, not a function of the logits alone: a sampling head returns log-probabilities,
    # whose logsumexp is 0 whatever the weights (its gradient would be rounding noise)
    (F.cross_entropy(logits, torch.arange(8)) + (aux if aux is not None else 0)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 1e-6, pname


@pytest.mark.parametrize("name", HEADS)
def test_gradient_reaches_the_localisation_net_at_identity(name):
    """Training starts at the identity: the loc net must still get a gradient there."""
    head = variants.build(name, (1, 28, 28))
    if not list(head.parameters()):
        pytest.skip("no parameters")
    model = model_for(head)
    F.cross_entropy(model(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
    assert head.fc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_follows_input_dtype_and_device(name, dtype):
    head = randomise_last_layer(variants.build(name, (1, 20, 20), **head_opts(name, coordconv=True, coordconv_r=True))).to(dtype)
    x = torch.rand(2, 1, 20, 20, dtype=dtype)
    out = head(x)
    assert out.image.dtype == dtype and out.image.device == x.device


@pytest.mark.parametrize("name", [n for n in HEADS if n != "none"])
def test_gradcheck_grid_wrt_params_and_image_wrt_input(name):
    head = randomise_last_layer(variants.build(name, (1, 20, 20))).double()
    ident = head.identity()
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
    head = variants.build(name, (1, n, n), **head_opts(name, iterative_steps=1))
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
    it = variants.build("iterative", (1, 28, 28), iterative_steps=1, iterative_warp=warp)
    it.load_state_dict(plain.state_dict())
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(it(x).image, plain(x).image, atol=1e-6)
    many = variants.build("iterative", (1, 28, 28), iterative_steps=3, iterative_warp=warp)
    many.load_state_dict(plain.state_dict())
    out = many(x)
    assert len(out.steps) == 3 and torch.allclose(out.steps[0], plain(x).image, atol=1e-6)


def test_iterative_composes_matrices():
    torch.manual_seed(0)
    head = randomise_last_layer(variants.build("iterative", (1, 20, 20), iterative_steps=2), scale=0.1)
    x = torch.rand(2, 1, 20, 20)
    out = head(x)
    m1 = head.to_matrix(head.predict(x))
    m2 = head.to_matrix(head.predict(geo.sample(x, geo.matrix_grid(m1, 20, 20))))
    assert torch.allclose(out.matrix, m1 @ m2, atol=1e-6)
    # the IC-STN property: the last image is the original resampled once with the composed warp,
    # not the first step's image resampled again (which blurs and loses the border)
    once = geo.sample(x, geo.matrix_grid(m1 @ m2, 20, 20))
    twice = geo.sample(out.steps[0], geo.matrix_grid(m2, 20, 20))
    assert torch.allclose(out.image, once, atol=1e-6) and torch.allclose(out.steps[1], once, atol=1e-6)
    assert (out.image - twice).abs().max() > 1e-3  # the test can tell the two apart


def test_moments_canonical_frame_undoes_rotation_and_shift():
    """canonical_matrix maps a digit to one frame whatever its rotation (within 90 degrees of the
    principal axis: it is defined up to 180) and position; the learned gate is not involved."""
    from common.evaluation import place
    from variants.moments import canonical_matrix

    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    blob = torch.exp(-(((xx - 13.5) / 3) ** 2 + ((yy - 13.5) / 8) ** 2) / 2)  # tall ellipse
    blob = blob + 0.6 * torch.exp(-(((xx - 17) / 2) ** 2 + ((yy - 8) / 2) ** 2) / 2)  # an asymmetric bump
    digit = (255 * blob / blob.max()).to(torch.uint8)[None]
    spread = 0.5 * 27 / 41

    def canonical(x):
        return geo.sample(x, geo.matrix_grid(canonical_matrix(x, spread), 42, 42, affine=True))

    upright = place(digit, 42)
    ref = canonical(upright)
    for deg, shift in [(40.0, (5.0, -3.0)), (-70.0, (-4.0, 6.0))]:
        moved = place(digit, 42, degrees=deg, shift=torch.tensor([shift]))
        assert (canonical(moved) - ref).abs().mean() < 0.2 * (moved - upright).abs().mean(), deg
    flipped = place(digit, 42, degrees=180.0)  # 180 degrees: the principal axis cannot tell
    assert (canonical(flipped) - ref).abs().mean() > 0.5 * (flipped - upright).abs().mean()


def test_tps_grid_size_option_and_points():
    head = variants.build("tps", (1, 28, 28), tps_grid=5)
    out = head(torch.rand(2, 1, 28, 28))
    assert head.fc.out_features == 50 and out.points.shape == (2, 25, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", HEADS)
def test_trains_on_rts_without_nan(name, mnist):
    from common.data import TrainStream

    (train_x, train_y), _ = mnist
    torch.manual_seed(0)
    model = model_for(variants.build(name, (1, 42, 42), **head_opts(name, iterative_steps=2)))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    stream = TrainStream("rts", train_x[:3200], train_y[:3200], batch_size=16, seed=0, device="cpu")
    losses = []
    for _ in range(1):  # 200 steps: enough to see the loss fall, and CI stays fast
        for x, y, _gt in stream:
            logits, aux = model(x, with_aux=True)
            loss = F.cross_entropy(logits, y) + (aux if aux is not None else 0)
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
    model = model_for(randomise_last_layer(variants.build(name, (1, 28, 28), **head_opts(name, iterative_steps=steps))))
    path = draw_stn(model, torch.rand(8, 1, 28, 28), torch.arange(8), tmp_path / "stn.png", title=name)
    panels = 2 + (steps - 1 if name == "iterative" else 0)
    assert imread(path).shape[1] == round(4.2 * panels * 110)  # figure width: 4.2 inches a panel at 110 dpi
    assert scattered == ([16] * 8 if name == "tps" else [])  # 4x4 control points on each of the 8 inputs
