"""Test sets from files (common/testfiles.py) and evaluate.py --test-file: every format, every bad
input, padding, export round trip, the side-by-side report and the translation curve. Every file
is written here; no MNIST is needed (evaluate.py runs with --sets=none --curves=False)."""
import json

import numpy as np
import pytest
import torch

import evaluate
from common import evaluation, testfiles
from common.config import Config
from common import data
from common.errors import UsageError
from variants import build_model

N, S = 12, 28


def digits(n=N, size=S, seed=0):
    """uint8 (n, size, size) images with a bright block somewhere in the middle, labels 0..9."""
    g = np.random.default_rng(seed)
    x = np.zeros((n, size, size), np.uint8)
    x[:, size // 2 - 3 : size // 2 + 3, size // 2 - 2 : size // 2 + 2] = g.integers(1, 256, (n, 6, 4))
    return x, np.arange(n, dtype=np.int64) % 10


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained affine model on 28x28 inputs, saved the way train.py saves one."""
    d = tmp_path_factory.mktemp("run") / "tiny"
    d.mkdir()
    cfg = Config(variant="affine", dataset="mnist", wandb=False)
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.to_dict(), "epoch": 0}, d / "checkpoint.pt")
    return d


def run_eval(run, *args, capsys):
    rc = evaluate.main([str(run), "--wandb=False", "--sets=none", "--curves=False", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


# --------------------------------------------------------------------------- formats
def test_npz_images_labels_uint8(tmp_path):
    x, y = digits()
    np.savez(tmp_path / "a.npz", images=x, labels=y)
    (name, ts), = testfiles.read(tmp_path / "a.npz").items()
    assert name == "a" and ts.images.shape == (N, 1, S, S) and ts.images.dtype == torch.uint8
    assert torch.equal(ts.images[:, 0], torch.from_numpy(x)) and torch.equal(ts.labels, torch.from_numpy(y))


def test_npz_x_test_y_test_float_channels_first(tmp_path):
    x, y = digits()
    np.savez(tmp_path / "b.npz", x_test=(x / 255.0)[:, None].astype(np.float32), y_test=y.astype(np.int32))
    ts = testfiles.read(tmp_path / "b.npz", "mine")["mine"]
    assert ts.images.dtype == torch.float32 and ts.images.shape == (N, 1, S, S) and ts.labels.dtype == torch.int64
    assert torch.allclose(ts.images[:, 0] * 255, torch.from_numpy(x).float(), atol=1e-3)


def test_npy_pair_by_either_file_or_folder(tmp_path):
    x, y = digits()
    np.save(tmp_path / "test_images.npy", x[..., None])  # MNIST-C stores (N, H, W, 1)
    np.save(tmp_path / "test_labels.npy", y)
    for p in (tmp_path / "test_images.npy", tmp_path / "test_labels.npy", tmp_path):
        (name, ts), = testfiles.read(p).items()
        assert name == tmp_path.name and torch.equal(ts.images[:, 0], torch.from_numpy(x)) and torch.equal(ts.labels, torch.from_numpy(y))


@pytest.mark.parametrize("as_tuple", [False, True])
def test_pt_dict_or_pair(tmp_path, as_tuple):
    x, y = digits()
    obj = (torch.from_numpy(x), torch.from_numpy(y)) if as_tuple else {"images": torch.from_numpy(x), "labels": torch.from_numpy(y)}
    torch.save(obj, tmp_path / "c.pt")
    ts = testfiles.read(tmp_path / "c.pt")["c"]
    assert torch.equal(ts.images[:, 0], torch.from_numpy(x)) and torch.equal(ts.labels, torch.from_numpy(y))


def test_mnist_c_layout_is_a_group(tmp_path):
    root = tmp_path / "mnist_c"
    for k, c in enumerate(["fog", "shot_noise", "identity"]):
        x, y = digits(seed=k)
        (root / c).mkdir(parents=True)
        np.save(root / c / "test_images.npy", x[..., None])
        np.save(root / c / "test_labels.npy", y)
        np.save(root / c / "train_images.npy", x[..., None])  # MNIST-C also ships these: ignored
    sets = testfiles.read(root)
    assert list(sets) == ["mnist_c/fog", "mnist_c/identity", "mnist_c/shot_noise"]
    assert torch.equal(sets["mnist_c/fog"].images[:, 0], torch.from_numpy(digits(seed=0)[0]))


def test_image_folder_of_pngs_labels_by_folder_name(tmp_path):
    from torchvision.io import write_png

    x, _ = digits(4)
    for i, cls in enumerate(["3", "3", "7", "9"]):
        (tmp_path / "pngs" / cls).mkdir(parents=True, exist_ok=True)
        write_png(torch.from_numpy(x[i])[None], str(tmp_path / "pngs" / cls / f"{i}.png"))
    ts = testfiles.read(tmp_path / "pngs")["pngs"]
    assert ts.labels.tolist() == [3, 3, 7, 9]  # the digit in the folder name, not ImageFolder's class index
    assert torch.equal(ts.images[:, 0], torch.from_numpy(x))


def test_smaller_set_is_padded_centred_with_background_zero():
    x = torch.arange(1, 1 + 2 * 4 * 6, dtype=torch.uint8).reshape(2, 1, 4, 6)
    ts = testfiles.pad_to(data.TestSet("s", x, torch.tensor([1, 2]), {"matrix": torch.eye(3).expand(2, 3, 3)}), 9)
    assert ts.images.shape == (2, 1, 9, 9) and ts.gt == {}
    assert torch.equal(ts.images[:, :, 2:6, 1:7], x)  # (9 - 4) // 2 = 2 rows above, (9 - 6) // 2 = 1 column left
    assert ts.images.sum() == x.sum()  # nothing else is ink: padding is background
    with pytest.raises(UsageError, match="not resized"):
        testfiles.pad_to(ts, 8)


def test_export_round_trip_keeps_images_labels_and_ground_truth(tmp_path):
    x, y = digits()
    gt = {"matrix": torch.randn(N, 3, 3), "tps": torch.randn(N, 16, 2)}
    ts = data.TestSet("rts", torch.from_numpy(x)[:, None], torch.from_numpy(y), gt)
    path = testfiles.export(ts, tmp_path / "out" / "rts.npz", "# how it was made")
    z = np.load(path)
    assert str(z["readme"]).startswith("# how it was made") and "sha256" in str(z["readme"])
    assert (tmp_path / "out" / "rts.npz.md").read_text() == str(z["readme"])
    assert np.array_equal(z["matrix"], gt["matrix"].numpy()) and np.array_equal(z["tps"], gt["tps"].numpy())
    back = testfiles.read(path)["rts"]
    assert torch.equal(back.images, ts.images) and torch.equal(back.labels, ts.labels)


# --------------------------------------------------------------------------- bad inputs
def _write_bad(tmp_path, kind):
    x, y = digits()
    p = tmp_path / f"{kind}.npz"
    if kind == "wrong_shape":
        np.savez(p, images=np.repeat(x[:, None], 3, axis=1), labels=y)  # RGB
    elif kind == "labels_out_of_range":
        np.savez(p, images=x, labels=y + 1)  # 10 appears
    elif kind == "negative_labels":
        np.savez(p, images=x, labels=y - 1)
    elif kind == "float_above_1":
        np.savez(p, images=x.astype(np.float32), labels=y)  # 0..255 stored as float
    elif kind == "counts_differ":
        np.savez(p, images=x, labels=y[:-1])
    elif kind == "unreadable":
        p.write_bytes(b"PK\x03\x04 this is not a zip archive")
    elif kind == "missing_keys":
        np.savez(p, pictures=x, targets=y)
    elif kind == "larger_than_input":
        np.savez(p, images=digits(size=S + 2)[0], labels=y)
    elif kind == "missing_file":
        p = tmp_path / "nowhere.npz"
    elif kind == "lonely_npy":
        p = tmp_path / "test_images.npy"
        np.save(p, x)
    elif kind == "int_images":
        np.savez(p, images=x.astype(np.int64), labels=y)
    return p


BAD = {
    "wrong_shape": "shape (12, 3, 28, 28)", "labels_out_of_range": "labels span 1..10", "negative_labels": "labels span -1..8",
    "float_above_1": "must lie in [0, 1]", "counts_differ": "12 images but 11 labels", "unreadable": "cannot read",
    "missing_keys": "expected arrays named images and labels", "larger_than_input": "30x30 but the model takes 28x28",
    "missing_file": "no test file", "lonely_npy": "no labels file", "int_images": "torch.int64",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_file_is_one_line_exit_2_and_nothing_written_changes(tmp_path, run_dir, kind, capsys):
    ev = run_dir / "eval"
    ev.mkdir(exist_ok=True)
    (ev / "eval.json").write_text('{"earlier": true}')
    before = {p.name: p.read_bytes() for p in ev.iterdir()}
    rc, out, err = run_eval(run_dir, "--test-file", _write_bad(tmp_path, kind), capsys=capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert BAD[kind] in err, err
    assert {p.name: p.read_bytes() for p in ev.iterdir()} == before


def test_a_bad_file_after_a_good_one_stops_before_any_work(tmp_path, run_dir, capsys):
    x, y = digits()
    np.savez(tmp_path / "good.npz", images=x, labels=y)
    rc, out, err = run_eval(run_dir, "--test-file", tmp_path / "good.npz", "--test-file", _write_bad(tmp_path, "counts_differ"), capsys=capsys)
    assert rc == 2 and out == "" and "counts_differ.npz" in err


def test_bad_class_folder_names_and_mixed_sizes(tmp_path):
    from torchvision.io import write_png

    (tmp_path / "f" / "seven").mkdir(parents=True)
    write_png(torch.zeros(1, 4, 4, dtype=torch.uint8), str(tmp_path / "f" / "seven" / "a.png"))
    with pytest.raises(UsageError, match="named 0..9"):
        testfiles.read(tmp_path / "f")
    (tmp_path / "g" / "1").mkdir(parents=True)
    write_png(torch.zeros(1, 4, 4, dtype=torch.uint8), str(tmp_path / "g" / "1" / "a.png"))
    write_png(torch.zeros(1, 5, 4, dtype=torch.uint8), str(tmp_path / "g" / "1" / "b.png"))
    with pytest.raises(UsageError, match="differ in size"):
        testfiles.read(tmp_path / "g")


def test_two_sets_with_one_name_are_refused(tmp_path, run_dir, capsys):
    x, y = digits()
    np.savez(tmp_path / "a.npz", images=x, labels=y)
    rc, _, err = run_eval(run_dir, "--test-file", tmp_path / "a.npz", "--test-file", f"a={tmp_path / 'a.npz'}", capsys=capsys)
    assert rc == 2 and "taken by another --test-file" in err and "NAME=PATH" in err
    rc, _, err = run_eval(run_dir, "--test-file", f"rts={tmp_path / 'a.npz'}", capsys=capsys)
    assert rc == 2 and "taken by one of our test sets" in err


# --------------------------------------------------------------------------- evaluate.py end to end
def test_evaluate_on_files_writes_table_figure_and_report(tmp_path, run_dir, capsys):
    x, y = digits()
    np.savez(tmp_path / "full.npz", images=x, labels=y)
    np.savez(tmp_path / "small.npz", images=x[:, 4:24, 4:24], labels=y)  # 20x20: padded to 28
    rc, out, err = run_eval(run_dir, "--test-file", f"ext={tmp_path / 'full.npz'}", "--test-file", tmp_path / "small.npz", capsys=capsys)
    assert rc == 0, err
    rep = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert set(rep["sets"]) == {"ext", "small"} and rep["sets"]["ext"]["n"] == N and rep["sets"]["ext"]["external"]
    assert rep["sets"]["small"]["padded_from"] == 20 and "padded_from" not in rep["sets"]["ext"]
    # the same digits, the small ones cut and padded back: the same pixels, so the same predictions
    assert rep["sets"]["small"]["correct"] == rep["sets"]["ext"]["correct"]
    assert "| ext |" in out and "| small (padded 20→28) |" in out
    table = (run_dir / "eval" / "sets.md").read_text()
    assert "| ext (external) |" in table and "padded from 20px" in table
    assert (run_dir / "eval" / "sets.png").stat().st_size > 1000


def test_a_new_report_replaces_the_whole_earlier_one_and_says_what_it_replaced(tmp_path, run_dir, capsys):
    x, y = digits()
    np.savez(tmp_path / "ext.npz", images=x, labels=y)
    (run_dir / "eval").mkdir(exist_ok=True)
    (run_dir / "eval" / "robustness.png").write_bytes(b"an earlier report's curves")
    (run_dir / "eval" / "eval.json").write_text(json.dumps({"sets": {"mnist": {}, "rotated": {}}, "robustness": {}}))
    rc, out, err = run_eval(run_dir, "--test-file", tmp_path / "ext.npz", capsys=capsys)  # no curves
    assert rc == 0, err
    assert not (run_dir / "eval" / "robustness.png").exists()  # no figure left beside a report it is not of
    assert "note: replaced the earlier report" in out and "(sets mnist, rotated; curves; every image)" in out
    rc, out, err = run_eval(run_dir, "--test-file", tmp_path / "ext.npz", capsys=capsys)  # the same scope again: no note
    assert rc == 0 and "note:" not in out, err
    (run_dir / "eval" / "eval.json").write_text("{cut off")  # a damaged report is replaced, not refused
    rc, out, err = run_eval(run_dir, "--test-file", tmp_path / "ext.npz", capsys=capsys)
    assert rc == 0 and "(unreadable)" in out and json.loads((run_dir / "eval" / "eval.json").read_text())["sets"]["ext"]["n"] == N


@pytest.mark.parametrize("limit, partial", [(5, True), (N, False), (10 * N, False)])
def test_a_report_says_partial_only_when_the_limit_cut_a_set(tmp_path, run_dir, capsys, limit, partial):
    x, y = digits()
    np.savez(tmp_path / "ext.npz", images=x, labels=y)
    rc, out, err = run_eval(run_dir, "--test-file", tmp_path / "ext.npz", f"--test-limit={limit}", capsys=capsys)
    assert rc == 0, err
    rep = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert rep["sets"]["ext"]["n"] == min(limit, N)
    assert ("test_limit" in rep) == partial and ("--test-limit" in out) == partial


def test_a_limit_that_cuts_only_the_curves_digits_still_marks_the_report(tmp_path, run_dir, capsys):
    x, y = digits()
    np.savez(tmp_path / "ext.npz", images=x, labels=y)
    for limit, partial in ((100, True), (100_000, False)):  # 100 < the curves' 1,000 (or the small MNIST's 500) digits
        rc = evaluate.main([str(run_dir), "--wandb=False", "--sets=none", "--test-file", str(tmp_path / "ext.npz"), f"--test-limit={limit}"])
        assert rc == 0, capsys.readouterr().err
        rep = json.loads((run_dir / "eval" / "eval.json").read_text())
        assert rep["sets"]["ext"]["n"] == N and ("test_limit" in rep) == partial, limit


def test_data_root_flag_is_where_mnist_is_read(tmp_path, run_dir, capsys):
    rc, out, err = run_eval(run_dir, "--sets=mnist", "--data-root", tmp_path / "no-mnist-here", capsys=capsys)
    assert rc == 2 and "no-mnist-here" in err and "Traceback" not in err


def test_an_unfinished_run_without_weights_says_so(tmp_path, capsys):
    run = tmp_path / "half"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text("[]")
    rc, out, err = run_eval(run, capsys=capsys)
    assert rc == 2 and "has not finished" in err and "to finish it" in err


def test_a_run_stopped_mid_training_is_scored_with_a_warning_and_a_finished_one_without(tmp_path, run_dir, capsys):
    import shutil
    x, y = digits()
    np.savez(tmp_path / "ext.npz", images=x, labels=y)
    run = tmp_path / "mid"
    shutil.copytree(run_dir, run)
    (run / "config.json").write_text("{}")  # train.py's first file: a run stopped before its first epoch ended
    rc, out, err = run_eval(run, "--test-file", tmp_path / "ext.npz", capsys=capsys)
    assert rc == 0 and "has not finished" in err and "after 0 of its 6 epochs, not" in err
    sd = torch.load(run / "checkpoint.pt", weights_only=False)
    torch.save({**sd, "epoch": 2, "partial": {"index": 3}}, run / "checkpoint.pt")  # stopped inside its third epoch
    rc, out, err = run_eval(run, "--test-file", tmp_path / "ext.npz", capsys=capsys)
    assert rc == 0 and "after 2 of its 6 epochs and part of the next" in err
    (run / "final.json").write_text("{}")
    rc, out, err = run_eval(run, "--test-file", tmp_path / "ext.npz", capsys=capsys)
    assert rc == 0 and "has not finished" not in err


def test_a_path_that_does_not_exist_is_named_as_such(tmp_path, capsys):
    rc, out, err = run_eval(tmp_path / "nosuch", capsys=capsys)
    assert rc == 2 and "no run folder or file at" in err and "Traceback" not in err


def test_several_runs_side_by_side_need_out_and_write_one_report(tmp_path, run_dir, capsys):
    x, y = digits()
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
    rc, _, err = run_eval(run_dir, other, "--test-file", tmp_path / "d.npz", capsys=capsys)
    assert rc == 2 and "--out" in err
    rc, out, err = run_eval(run_dir, other, "--test-file", tmp_path / "d.npz", "--out", tmp_path / "cmp", capsys=capsys)
    assert rc == 0, err
    side = json.loads((tmp_path / "cmp" / "sets.json").read_text())
    assert list(side) == ["tiny", "other"] and side["tiny"]["d"] == side["other"]["d"]  # same weights, same numbers
    assert "| d (external) |" in (tmp_path / "cmp" / "sets.md").read_text() and (tmp_path / "cmp" / "sets.png").exists()


@pytest.mark.parametrize("blocked", ["--out", "eval"])
def test_a_report_folder_that_cannot_be_written_is_one_line_before_any_scoring(tmp_path, run_dir, capsys, monkeypatch, blocked):
    """Two runs; the second's eval/ (or --out) cannot be made: one line, no scoring started, and the
    first run's eval/ folder, made by the check, is not left behind empty."""
    x, y = digits()
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    first, second = tmp_path / "first", tmp_path / "second"
    for run in (first, second):
        run.mkdir()
        (run / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
    (tmp_path / "a-file").write_text("")
    if blocked == "eval":
        (second / "eval").write_text("a file where the report folder goes")
    out = tmp_path / "a-file" / "cmp" if blocked == "--out" else tmp_path / "cmp"

    def scored(*a, **k):
        raise AssertionError("scoring started")
    monkeypatch.setattr(evaluate, "evaluate_model", scored)
    rc, stdout, err = run_eval(first, second, "--test-file", tmp_path / "d.npz", "--out", out, capsys=capsys)
    fix = "pass --out pointing at a writable folder" if blocked == "--out" else f"cannot write {second / 'eval'}"
    assert rc == 2 and err.count("\n") == 1 and fix in err, err
    assert not (first / "eval").exists() and (blocked == "--out" or not out.exists())


# --------------------------------------------------------------------------- translation curve
class CentreDetector(torch.nn.Module):
    """Class 0 when the centre pixel of the canvas holds ink, else class 1: right exactly while
    a one-pixel digit has not moved."""

    def forward(self, x):
        c = x.shape[-1] // 2
        hit = (x[:, 0, c, c] > 0.5).float()
        return torch.stack([hit, 1 - hit], 1) * 10


def test_translation_curve_moves_the_digit_by_the_stated_pixels():
    one = torch.zeros(1, 28, 28, dtype=torch.uint8)
    one[0, 14, 14] = 255  # one bright pixel
    shifted = evaluation.place(one, 30, shift=torch.tensor([[3.0, -2.0]]))  # 30 canvas: centred = 1 px right and down
    ys, xs = torch.nonzero(shifted[0, 0] > 0.99, as_tuple=True)
    assert (ys.tolist(), xs.tolist()) == ([14 + 1 - 2], [14 + 1 + 3])  # x right, y down
    assert shifted.sum() == pytest.approx(1.0, abs=1e-4)  # moved, not smeared


def test_translation_curve_and_auc_in_the_report():
    one = torch.zeros(4, 28, 28, dtype=torch.uint8)
    one[:, 13:15, 13:15] = 255  # a 2x2 blob around the digit's centre
    rb = evaluation.robustness(CentreDetector(), one, torch.zeros(4, dtype=torch.long), 29, 100, torch.device("cpu"))
    px, acc = rb["translation_curve"]["pixels"], rb["translation_curve"]["accuracy"]
    assert px[0] == 0 and px[-1] == pytest.approx(14.5) and len(px) == evaluation.SHIFT_STEPS + 1
    assert acc[0] == 1.0 and acc[-1] == 0.0 and all(a >= b for a, b in zip(acc, acc[1:]))  # lost once moved away
    assert rb["translation_auc"] == pytest.approx(evaluation.M.curve_auc(px, acc))
    assert {"rotation_auc", "scale_auc", "invariance"} <= set(rb)  # the existing keys stay


def test_side_by_side_report_draws_every_runs_curves(tmp_path):
    def report(acc):
        rb = {"invariance": 1.0}
        for key, x in (("rotation", "degrees"), ("scale", "scale"), ("translation", "pixels")):
            rb[f"{key}_curve"] = {x: [0, 1, 2], "accuracy": [1.0, acc, acc]}
            rb[f"{key}_auc"] = evaluation.M.curve_auc([0, 1, 2], [1.0, acc, acc])
        return {"variant": "affine", "dataset": "rts", "coordconv": False, "robustness": rb,
                "sets": {"rts": {"accuracy": acc, "error": 1 - acc, "nll": 0.1, "ece": 0.01, "n": 10}}}

    paths = evaluation.write_sets_report({"a": report(0.5), "b": report(0.9)}, tmp_path)
    assert set(paths) == {"md", "json", "png", "curves"} and paths["curves"].stat().st_size > 1000
    assert "| rts | 50.00 (0.100) | 90.00 (0.100) |" in paths["md"].read_text()
    assert set(evaluation.write_sets_report({"a": report(0.5)}, tmp_path / "one")) == {"md", "json", "png"}


# --------------------------------------------------------------------------- which of our sets, export CLI, external generator
def test_sets_all_adds_smaller_sets_and_refuses_larger():
    assert evaluate.pick_sets("all", 42) == ["mnist", "rotated", "rts", "projective", "elastic"]
    assert evaluate.pick_sets("", 42) == ["rts"] and evaluate.pick_sets("none", 28) == []
    assert evaluate.pick_sets("mnist,rts", 42) == ["mnist", "rts"]
    with pytest.raises(UsageError, match="60px; this model takes 42px"):
        evaluate.pick_sets("cluttered", 42)


def test_export_command_writes_npz_with_header(tmp_path, data_root, capsys):
    from scripts import export_testset

    assert export_testset.main(["mnist", "--limit", "20", "--out-dir", str(tmp_path)]) == 0
    z = np.load(tmp_path / "mnist.npz")
    assert z["images"].shape == (20, 28, 28) and z["images"].dtype == np.uint8 and z["labels"].shape == (20,)
    assert "seed 20151506" in str(z["readme"]) and (tmp_path / "mnist.npz.md").exists()
    assert export_testset.main(["spiral", "--out-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_external_generator_keeps_the_ink_on_the_canvas_and_imports_nothing_of_ours():
    import subprocess
    import sys

    from scripts import make_external_rts as ext

    x, _ = digits(6)
    x[:, 2:26, 12:16] = 200  # a tall stroke: rotated and scaled, its ink must all stay on the canvas
    out = ext.make(x, seed=3)
    assert out["images"].shape == (6, 42, 42) and out["images"].dtype == np.uint8
    ink = out["images"].reshape(6, -1).astype(float).sum(1) / (x.reshape(6, -1).astype(float).sum(1) * out["scale"] ** 2)
    assert np.allclose(ink, 1.0, atol=0.03)  # nothing cut off at the border
    assert np.array_equal(ext.make(x, seed=3)["images"], out["images"])  # seeded
    code = "import sys; import scripts.make_external_rts; print(sorted(m for m in sys.modules if m.startswith('common')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(evaluate.Path(evaluate.__file__).parent))
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


@pytest.mark.parametrize("run", ["affine-rts-s1", "iterative-rts-s1"])
def test_committed_robustness_checkpoints_still_load(run):
    """docs/robustness.md's numbers come from these; a change to the models that breaks them breaks the docs."""
    path = evaluate.Path(evaluate.__file__).parent / "results" / "robustness" / "runs" / run
    model, cfg, epoch = evaluate.load_model(path, torch.device("cpu"))
    assert (cfg.dataset, epoch) == ("rts", 4) and model(torch.zeros(2, 1, 42, 42)).shape == (2, 10)
