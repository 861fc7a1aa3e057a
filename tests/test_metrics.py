"""Every metric against a hand-computed answer; evaluate.py round-trips a checkpoint."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_server import REAL

from common import metrics as M

ROOT = Path(__file__).resolve().parents[1]


def test_wilson_interval_known_values():
    lo, hi = M.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = M.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)


def perfect(labels, margin=20.0):
    return torch.nn.functional.one_hot(labels, 10).float() * margin


def test_perfect_model():
    y = torch.arange(10).repeat(5)
    lg = perfect(y)
    r = M.error_rate(lg, y)
    assert r["correct"] == 50 and r["error"] == 0 and r["error_ci95"][0] == 0
    assert M.nll(lg, y) == pytest.approx(0.0, abs=1e-7)
    assert M.ece(lg, y) == pytest.approx(0.0, abs=1e-7)


def test_constant_model():
    y = torch.arange(10).repeat(3)  # uniform logits: argmax picks class 0, confidence 0.1
    lg = torch.zeros(30, 10)
    assert M.error_rate(lg, y)["accuracy"] == pytest.approx(0.1)
    assert M.nll(lg, y) == pytest.approx(math.log(10))
    assert M.ece(lg, y) == pytest.approx(0.0, abs=1e-9)  # 10% confident, 10% right: calibrated
    assert M.confidence(lg) == pytest.approx(0.1)


def test_known_miscalibrated_model():
    # confidence 0.9 on every prediction, right half the time: ECE = |0.9 - 0.5| = 0.4
    p = torch.full((10, 10), 0.1 / 9)
    p[:, 0] = 0.9
    lg = p.log()
    y = torch.tensor([0] * 5 + [1] * 5)
    assert M.ece(lg, y) == pytest.approx(0.4, abs=1e-6)
    assert M.confidence(lg) == pytest.approx(0.9, abs=1e-6)
    assert M.nll(lg, y) == pytest.approx(-(0.5 * math.log(0.9) + 0.5 * math.log(0.1 / 9)), abs=1e-6)


def test_ece_bins_separately():
    # two groups in different bins: conf 0.95 all right (gap .05), conf 0.55 all wrong (gap .55)
    p = torch.full((4, 10), 0.0)
    p[:2, 0], p[:2, 1:] = 0.95, 0.05 / 9
    p[2:, 0], p[2:, 1:] = 0.55, 0.45 / 9
    y = torch.tensor([0, 0, 1, 1])
    assert M.ece(p.log(), y) == pytest.approx(0.5 * 0.05 + 0.5 * 0.55, abs=1e-6)


def test_label_smoothing_shows_as_under_confidence():
    # a model that has fitted smoothed targets exactly (eps = 0.1: 0.91 on the true class) and is
    # always right: ECE is the whole gap 1 - 0.91, and the confidence says it is under-confidence
    y = torch.arange(10).repeat(4)
    p = torch.full((40, 10), 0.01)
    p[torch.arange(40), y] = 0.91
    assert M.confidence(p.log()) == pytest.approx(0.91, abs=1e-6)
    assert M.ece(p.log(), y) == pytest.approx(1 - 0.91, abs=1e-6)


def test_curve_auc_and_agreement():
    assert M.curve_auc([0, 1, 2], [1, 1, 1]) == pytest.approx(1.0)
    assert M.curve_auc([0, 2], [0, 1]) == pytest.approx(0.5)
    assert M.agreement(torch.tensor([[1, 1, 2, 1], [3, 3, 3, 3]])) == pytest.approx((0.75 + 1.0) / 2)


def test_matrix_error_zero_when_the_head_undoes_the_distortion():
    gt = torch.tensor([[[0.9, -0.3, 0.1], [0.3, 0.9, -0.2], [0.05, 0.0, 1.0]]])
    target = torch.eye(3)[None]
    assert M.matrix_error(torch.linalg.inv(gt), gt, target).item() == pytest.approx(0.0, abs=1e-5)
    assert M.matrix_error(torch.eye(3)[None], gt, target).item() > 0.3


def _eval(run, *extra, cli=None):
    """evaluate.py on ``run``: in the ``cli`` fixture's server when given (a refusal), else in a process of its own."""
    return (cli or REAL)(ROOT / "evaluate.py", run, "--wandb=False", "--test-limit=300", *extra, timeout=600)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_root):
    cwd = tmp_path_factory.mktemp("ev")
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--epochs=1", "--train-limit=1000", "--test-limit=300", "--wandb=False",
                        "--run-name=r", "--dataset=rotated", "--test-sets=rotated,mnist"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "robustness: rotation AUC" in r.stdout
    return cwd / "runs" / "r"


def strip_cost(report):
    report = dict(report)
    report.pop("cost")
    report.pop("epoch", None)
    return report


def test_checkpoint_round_trip_gives_identical_numbers(trained_run):
    at_train = json.loads((trained_run / "eval" / "eval.json").read_text())
    for f in ("eval.json", "robustness.png"):  # evaluate.py must write them again, not find training's
        (trained_run / "eval" / f).unlink()
    r = _eval(trained_run, "--sets=rotated,mnist")
    assert r.returncode == 0, r.stderr
    again = json.loads((trained_run / "eval" / "eval.json").read_text())
    assert strip_cost(again) == strip_cost(at_train)
    assert "| rotated |" in r.stdout and (trained_run / "eval" / "robustness.png").exists()
    assert again["test_limit"] == 300 and "first 300 images of each set only" in r.stdout  # a partial report says so


def test_default_sets_are_every_set_of_the_image_size(trained_run):
    r = _eval(trained_run, "--curves=False")
    assert r.returncode == 0, r.stderr
    rep = json.loads((trained_run / "eval" / "eval.json").read_text())
    assert set(rep["sets"]) == {"mnist", "rotated", "projective", "elastic"}
    assert rep["sets"]["rotated"]["recovery"]["pixel_mse_identity"] > 0
    conf = rep["sets"]["rotated"]["confidence"]  # beside ECE, with its sign: the table shows it
    assert 0.1 <= conf <= 1 and f"| {conf:.4f} |" in (trained_run / "eval" / "eval.md").read_text()


@pytest.mark.parametrize("content", [b"garbage", None])
def test_corrupt_or_mismatched_checkpoint_is_one_line(tmp_path, trained_run, content, cli):
    bad = tmp_path / "checkpoint.pt"
    if content is None:  # a real checkpoint whose weights do not fit its config
        sd = torch.load(trained_run / "checkpoint.pt", weights_only=True)
        sd["config"]["variant"] = "tps"
        torch.save(sd, bad)
    else:
        bad.write_bytes(content)
    r = _eval(bad, cli=cli)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_wrong_size_test_set_is_refused(trained_run, cli):
    r = _eval(trained_run, "--sets=cluttered", cli=cli)
    assert r.returncode == 2 and "28px" in r.stderr


def test_evaluation_is_logged_to_wandb_offline_when_asked_or_when_the_run_has_a_record(trained_run, tmp_path):
    env = {**__import__("os").environ, "WANDB_DIR": str(tmp_path), "WANDB_MODE": "offline"}

    def evaluate(*flags):
        r = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), str(trained_run), "--test-limit=200", "--curves=False", *flags],
                           capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr
        return r, list((tmp_path / "wandb").glob("offline-run-*"))

    assert not (trained_run / "wandb_id").exists()  # trained with --wandb=False: no record, so by default none is made
    assert evaluate()[1] == []
    r, runs = evaluate("--wandb")  # asked: a new offline record
    assert len(runs) == 1 and "wandb sync" in r.stderr
    (trained_run / "wandb_id").write_text("evalrec1")  # a run with a record is logged to it by default
    try:
        assert len(evaluate()[1]) == 2
    finally:
        (trained_run / "wandb_id").unlink()
