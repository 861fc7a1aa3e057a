import pytest
import torch

from common import data
from common import geometry as geo
from common.errors import UsageError

SIZES = {"mnist": 28, "rotated": 28, "rts": 42, "projective": 28, "elastic": 28, "cluttered": 60}


@pytest.mark.parametrize("name", list(data.DATASETS))
def test_batch_shapes_and_range(name, mnist):
    (train_x, _), _ = mnist
    x, gt = data.distort(name, train_x[:32], torch.Generator().manual_seed(0), clutter_source=train_x)
    s = SIZES[name]
    assert x.shape == (32, 1, s, s) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert gt["matrix"].shape == (32, 3, 3)


@pytest.mark.parametrize("name", list(data.DATASETS))
def test_ground_truth_maps_clean_onto_distorted(name, mnist):
    (train_x, _), _ = mnist
    x, gt = data.distort(name, train_x[:64], torch.Generator().manual_seed(1), clutter_source=train_x)
    clean = train_x[:64].float().div(255).unsqueeze(1)
    rebuilt = geo.sample(clean, data.ground_truth_grid(gt, x.shape[-1]))
    if name == "cluttered":  # clutter is added on top (max): the digit is there, untouched
        assert (x - rebuilt).min() > -1e-5
        digit = rebuilt > 0  # where clutter overlaps the digit, the brighter pixel wins
        assert ((x[digit] - rebuilt[digit]).abs() < 1e-5).float().mean() > 0.9
    else:
        assert torch.allclose(x, rebuilt, atol=1e-5)


def test_distortions_really_distort(mnist):
    (train_x, _), _ = mnist
    clean = train_x[:64].float().div(255).unsqueeze(1)
    for name in ["rotated", "projective", "elastic"]:
        x, _ = data.distort(name, train_x[:64], torch.Generator().manual_seed(0))
        assert (x - clean).abs().mean() > 0.02, name


def test_test_sets_are_fixed_and_cached(data_root, tmp_path, mnist, monkeypatch):
    a = data.load_test_set("rts", data_root, tmp_path)
    files = list(tmp_path.glob("rts-test-*.pt"))
    assert len(files) == 1
    with monkeypatch.context() as m:  # the second load reads the cache: generating again would fail
        m.setattr(data, "build_test_set", lambda *a, **k: pytest.fail("regenerated a cached test set"))
        b = data.load_test_set("rts", data_root, tmp_path)
    (train_x, _), (test_x, test_y) = mnist
    c = data.build_test_set("rts", test_x, test_y, train_x)  # regenerated from the seed
    assert a.images.shape == (len(test_x), 1, 42, 42) and a.images.dtype == torch.uint8
    assert torch.equal(a.images, b.images) and torch.equal(a.images, c.images)
    assert torch.equal(a.labels, test_y)


def test_cache_key_follows_generator_parameters(monkeypatch):
    before = data.cache_key("projective")
    monkeypatch.setitem(data.DATASETS, "projective", {**data.DATASETS["projective"], "sigma": 0.1})
    assert data.cache_key("projective") != before


def test_corrupt_cache_is_regenerated(data_root, tmp_path, monkeypatch):
    good = data.load_test_set("elastic", data_root, tmp_path)
    path = next(tmp_path.glob("elastic-test-*.pt"))
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    built = []
    real = data.build_test_set
    monkeypatch.setattr(data, "build_test_set", lambda *a, **k: built.append(1) or real(*a, **k))
    again = data.load_test_set("elastic", data_root, tmp_path)
    assert built == [1] and torch.equal(good.images, again.images)  # the damaged file was rejected and rebuilt
    assert torch.equal(torch.load(path, weights_only=True)["images"], good.images)  # and written back whole


def test_clutter_comes_only_from_the_given_source(mnist):
    (train_x, _), _ = mnist
    digits = torch.zeros(8, 28, 28, dtype=torch.uint8)  # blank digits: all that shows is clutter
    x, _ = data.distort("cluttered", digits, torch.Generator().manual_seed(0), clutter_source=torch.zeros_like(train_x[:10]))
    assert x.max() == 0
    x, _ = data.distort("cluttered", digits, torch.Generator().manual_seed(0), clutter_source=train_x[:100])
    assert x.max() > 0.5
    assert (x > 0).flatten(1).sum(1).max() <= 6 * 36  # at most 6 pieces of 6x6


def test_training_stream_draws_fresh_distortions_each_epoch(mnist):
    (train_x, train_y), _ = mnist
    s = data.TrainStream("rotated", train_x[:128], train_y[:128], batch_size=128, seed=0, device="cpu")
    x1 = next(iter(s))[0]
    same_order = torch.arange(128)  # the same digits in the same order twice: only the distortions can differ
    (_, (a, _, _)), (_, (b, _, _)) = next(s.batches(same_order)), next(s.batches(same_order))
    assert (a - b).abs().flatten(1).amax(1).gt(1e-3).float().mean() > 0.9  # (nearly) every digit drawn anew
    s2 = data.TrainStream("rotated", train_x[:128], train_y[:128], batch_size=128, seed=0, device="cpu")
    assert torch.equal(next(iter(s2))[0], x1)  # same seed, same batches


def test_missing_mnist_says_where_it_looked(tmp_path):
    with pytest.raises(UsageError, match="STN_DATA_ROOT") as err:
        _load_offline(tmp_path / "nowhere")  # with a network torchvision would download it
    assert str(tmp_path / "nowhere") in str(err.value) and "\n" not in str(err.value)


def _load_offline(root):
    import socket

    real = socket.socket.connect

    def refuse(*a, **k):
        raise OSError("network disabled in this test")

    socket.socket.connect = refuse
    try:
        return data.load_mnist(root, train=False)
    finally:
        socket.socket.connect = real


def test_truncated_mnist_file_is_a_clear_error(tmp_path, data_root):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_root / "MNIST" / "raw").iterdir():
        (raw / f.name).write_bytes(f.read_bytes()[: 5000 if "t10k-images" in f.name else None])
    with pytest.raises(UsageError, match="MNIST"):
        _load_offline(tmp_path)


def test_any_number_of_digits_loads_and_malformed_files_are_refused(tmp_path):
    """load_mnist takes N digits (the tests' 1,000 + 500), not only 60,000 / 10,000, and still
    refuses files that are not MNIST-shaped: wrong image size, labels outside 0..9."""
    import numpy as np
    from conftest import SMALL, write_idx

    root = write_idx(tmp_path / "ok")
    (x, y), (tx, ty) = data.load_mnist(root, train=True), data.load_mnist(root, train=False)
    assert x.shape == (1000, 28, 28) and tx.shape == (500, 28, 28) and y.dtype == torch.int64 and set(ty.tolist()) == set(range(10))
    arrays = dict(np.load(SMALL))
    for name, change in (("size", lambda a: a.update(train_images=a["train_images"][:, :27])),
                         ("labels", lambda a: a.update(train_labels=a["train_labels"] + 3))):
        bad = dict(arrays)
        change(bad)
        np.savez(tmp_path / f"{name}.npz", **bad)
        with pytest.raises(UsageError, match="malformed"):
            data.load_mnist(write_idx(tmp_path / name, tmp_path / f"{name}.npz"), train=True)
