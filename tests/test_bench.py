"""bench.py and the time-to-accuracy table: the pieces that carry the figures."""
import json
import sys
from pathlib import Path

import pytest
import torch

import bench
import variants
from common.models import STNClassifier, TutorialCNN

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import time_to_99  # noqa: E402


def test_conv_stepper_runs_every_convolution_of_the_model_forward_and_backward():
    model = STNClassifier(variants.build("affine", (1, 28, 28)), TutorialCNN((1, 28, 28)))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4
    step = bench.conv_stepper(model, 8, torch.device("cpu"))
    step()
    assert all(c.weight.grad is not None and c.weight.grad.abs().sum() > 0 for c in convs)


def test_tutorial_net_starts_as_the_identity_transform():
    torch.manual_seed(0)
    net = bench.TutorialNet().eval()
    x = torch.randn(2, 1, 28, 28)
    theta = net.fc_loc(net.localization(x).flatten(1)).view(-1, 2, 3)
    assert torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(2, 2, 3))


@pytest.mark.parametrize("args, words", [
    (["--seeds=0"], "--seeds: 0 is out of range: it must be >= 1"),
    (["--workers=-1"], "--workers: -1 is out of range: it must be >= 0"),
    (["--json={tmp}/a-file/figures.json"], "a-file ("),  # a folder that cannot be made: found before the timing, not after
    (["--json={tmp}/a-file/figures.json"], "pass --json a path in a writable folder"),
    (["--json={tmp}"], "is a folder; pass a file path"),
    (["--device=cpu", "--data-root={tmp}/no-mnist"], "point --data-root"),
])
def test_bad_input_exits_with_one_line_before_any_timing(tmp_path, args, words, cli):
    args = [a.format(tmp=tmp_path) for a in args]
    (tmp_path / "a-file").write_text("")
    r = cli("bench.py", *args, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr and not r.stdout, r.stderr


def test_first_epoch_reaching_the_target_counts_training_seconds_only():
    epochs = [{"epoch": 1, "test_accuracy": 0.97, "epoch_seconds": 9.0},
              {"epoch": 2, "test_accuracy": 0.9905, "epoch_seconds": 8.5},
              {"epoch": 3, "test_accuracy": 0.989, "epoch_seconds": 9.5}]
    assert time_to_99.first_reaching(epochs, 0.99) == (2, 17.5)
    assert time_to_99.first_reaching(epochs, 0.995) is None


def test_time_to_accuracy_keeps_only_the_asked_dataset(tmp_path, capsys):
    for name, ds in (("a", "rts"), ("b", "rotated")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"dataset": ds, "variant": "affine", "lr": 0.003, "batch_size": 128, "seed": 1}))
        (tmp_path / name / "metrics.json").write_text(json.dumps([{"epoch": 1, "epoch_seconds": 30.0, "test_accuracy": 0.996}]))
    assert time_to_99.main([str(tmp_path), "--target", "0.995", "--dataset", "rts"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 1 and rows[0].startswith("| a |") and "epoch 1 (30 s)" in rows[0] and "unfinished" not in rows[0]
    (tmp_path / "a" / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "affine", "lr": 0.003, "batch_size": 128, "seed": 1, "epochs": 24}))
    assert time_to_99.main([str(tmp_path), "--dataset", "rts"]) == 0
    assert "| 1 of 24 (unfinished) |" in capsys.readouterr().out  # a run still going is not read as final


def test_time_to_accuracy_says_which_set_a_run_was_scored_on(tmp_path, capsys):
    for name, holdout in (("final", 0), ("search", 10000)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "affine", "lr": 0.003, "batch_size": 128, "seed": 1,
                                                                 "epochs": 1, "holdout": holdout}))
        (tmp_path / name / "metrics.json").write_text(json.dumps([{"epoch": 1, "epoch_seconds": 30.0, "test_accuracy": 0.996}]))
    assert time_to_99.main([str(tmp_path)]) == 0
    rows = {r.split(" | ")[0]: r for r in capsys.readouterr().out.splitlines()[2:]}
    assert "99.60% (test: rts)" in rows["| final"] and "99.60% (validation: rts-val)" in rows["| search"]  # never read as test
    (tmp_path / "search" / "metrics.json").write_text(json.dumps([{"epoch": 1, "epoch_seconds": 30.0, "test_accuracy": 0.99,
                                                                 "eval_set": "rts-val"}]))
    assert time_to_99.main([str(tmp_path / "search" / "..")]) == 0
    assert "99.00% (validation: rts-val)" in capsys.readouterr().out
