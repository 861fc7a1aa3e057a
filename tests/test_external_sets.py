"""scripts/make_external_sets.py: the paper's protocols written a second time, without stn-lab's
generator. Each set has the protocol's shape, is seeded, keeps what the protocol keeps, and the
script imports nothing of ours (else it would not be an independent check)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts import make_external_sets as ext  # noqa: E402

DIGITS = np.load(ROOT / "tests" / "data" / "mnist_small.npz")
X, TRAIN = DIGITS["test_images"][:40], DIGITS["train_images"][:200]
SIZE = {"rotated": 28, "rts": 42, "projective": 28, "elastic": 28, "cluttered": 60}


@pytest.mark.parametrize("name", list(ext.SETS))
def test_each_set_has_its_protocols_shape_and_is_seeded(name):
    a, how = ext.SETS[name](X, np.random.default_rng(1), TRAIN)
    assert a.shape == (len(X), SIZE[name], SIZE[name]) and a.dtype == np.uint8 and how
    assert np.array_equal(a, ext.SETS[name](X, np.random.default_rng(1), TRAIN)[0])
    assert not np.array_equal(a, ext.SETS[name](X, np.random.default_rng(2), TRAIN)[0])
    ink = a.reshape(len(X), -1).astype(float).sum(1) / X.reshape(len(X), -1).astype(float).sum(1)
    assert np.median(ink) > 0.6  # the digit is there, not cropped away or blurred to nothing


def test_the_protocol_numbers_are_ours():
    """Written again, not imported; so a change to one side must show here."""
    from common.data import DATASETS

    assert ext.ROT_MAX == DATASETS["rotated"]["max_angle"]
    assert (ext.RTS_MAX, ext.RTS_SCALE) == (DATASETS["rts"]["max_angle"], DATASETS["rts"]["scale"])
    # ours: sigma in align_corners normalised units (2 units = 27 px between the outer pixel centres)
    assert ext.P_SIGMA_PX == pytest.approx(DATASETS["projective"]["sigma"] * (28 - 1) / 2) and ext.P_CLIP == DATASETS["projective"]["clip"]
    assert (ext.E_GRID, ext.E_SIGMA_PX) == (DATASETS["elastic"]["grid"], DATASETS["elastic"]["sigma_px"])
    assert (ext.TC_SIZE, ext.TC_PIECES, ext.TC_PIECE) == (DATASETS["cluttered"]["size"], DATASETS["cluttered"]["pieces"], DATASETS["cluttered"]["piece"])


def test_the_numpy_tps_is_our_tps():
    """Same control points, same displacements: the independent solve gives our sampling grid."""
    import torch

    from common import geometry as geo

    g = np.linspace(-1, 1, 4)
    ctrl = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(16, 2)
    delta = np.random.default_rng(5).normal(0, 0.15, (16, 2))
    t = np.linspace(-1, 1, 28)
    grid = np.stack(np.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)
    theirs = ext._tps_sampling_map(ctrl, ctrl + delta, grid).reshape(28, 28, 2)
    ours = geo.tps_grid(torch.from_numpy(delta)[None].float(), 28, 28)[0].double().numpy()
    assert np.abs(theirs - ours).max() < 1e-3


def test_tps_map_interpolates_its_control_points_and_is_the_identity_when_nothing_moves():
    g = np.linspace(-1, 1, 4)
    ctrl = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(16, 2)
    pts = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    assert np.allclose(ext._tps_sampling_map(ctrl, ctrl, pts), pts, atol=1e-9)
    moved = ctrl + np.random.default_rng(1).normal(0, 0.1, ctrl.shape)
    assert np.allclose(ext._tps_sampling_map(ctrl, moved, ctrl), moved, atol=1e-9)
    shift = np.array([0.2, -0.1])  # a pure translation stays one (the affine part is exact)
    assert np.allclose(ext._tps_sampling_map(ctrl, ctrl + shift, pts), pts + shift, atol=1e-9)


def test_rts_keeps_the_scaled_digit_on_the_canvas_and_cluttered_keeps_the_whole_digit():
    a, _ = ext.rts(X, np.random.default_rng(3), TRAIN)
    ink = a.reshape(len(X), -1).astype(float).sum(1) / X.reshape(len(X), -1).astype(float).sum(1)
    assert ink.min() > 0.4  # scale >= 0.7 keeps >= 0.49 of the ink; nothing falls off the canvas
    yy, xx = np.mgrid[:42, :42]
    cx = (a * xx).reshape(len(X), -1).sum(1) / a.reshape(len(X), -1).sum(1)
    assert cx.std() > 1.5 and np.abs(cx - 20.5).max() < 12  # digits are moved about, and stay on the canvas
    c, _ = ext.cluttered(X, np.random.default_rng(3), TRAIN)
    assert (c.reshape(len(X), -1).astype(int).sum(1) >= X.reshape(len(X), -1).astype(int).sum(1)).all()


def test_bad_arguments_are_one_line_and_exit_2(tmp_path, cli):
    for args in (["--sets", "spiral"], ["--limit", "-3"], ["--seed", "-1"]):
        r = cli("scripts/make_external_sets.py", *args, "--out-dir", str(tmp_path), cwd=ROOT)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error:"), r.stderr
    assert not list(tmp_path.iterdir())
    r = cli("scripts/make_external_sets.py", "--limit", "10", cwd=ROOT)
    assert r.returncode == 2 and "--out-dir" in r.stderr  # a small set never replaces the full ones silently


@pytest.mark.parametrize("script, args", [("make_external_sets.py", ["--out-dir", "{f}/sub"]), ("make_external_rts.py", ["--out", "{f}/sub/rts.npz"])])
def test_an_out_folder_that_cannot_be_written_is_one_line_before_the_digits_are_read(tmp_path, script, args, cli):
    (tmp_path / "a-file").write_text("")
    env = {**os.environ, "STN_DATA_ROOT": str(tmp_path / "no-mnist")}  # a check after loading would fail on the data instead
    r = cli(f"scripts/{script}", *[a.format(f=tmp_path / "a-file") for a in args], "--data-root", str(tmp_path / "no-mnist"), cwd=ROOT, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "a-file/sub" in r.stderr and "writable folder" in r.stderr, r.stderr


def test_it_imports_nothing_of_ours():
    code = "import sys; import scripts.make_external_sets; print(sorted(m for m in sys.modules if m.split('.')[0] in ('common', 'variants')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
