"""Runs that survive: exact resume after SIGKILL, graceful SIGTERM, guards, determinism."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_server import REAL

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--epochs=3", "--train-limit=2000", "--test-limit=200", "--batch-size=32", "--wandb=False", "--eval=basic", "--img", "x.png"]


def train(*args, cwd, cli=None):
    """train.py with ARGS and ``args``: in the ``cli`` fixture's server when given (a run refused
    before training), else in a process of its own."""
    return (cli or REAL)(ROOT / "train.py", *ARGS, *args, cwd=cwd, timeout=600)


def start(*args, cwd):
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *ARGS, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def metrics(run):
    return [(r["train_loss"], r["test_loss"], r["test_correct"]) for r in json.loads((run / "metrics.json").read_text())]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root):
    cwd = tmp_path_factory.mktemp("ref")
    r = train("--run-name", "ref", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return metrics(cwd / "runs" / "ref")


def inside_epoch_2(proc):
    """Read the run's per-batch lines (--log-interval=1) until epoch 2 has begun: the signal that
    follows lands mid-epoch however fast the machine is."""
    for line in proc.stdout:
        if line.startswith("Train Epoch: 2 "):
            return
    raise AssertionError(f"the run ended before epoch 2: {proc.communicate()}")


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path, reference):
    r = train("--run-name", "again", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert metrics(tmp_path / "runs" / "again") == reference


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_identical_metrics(tmp_path, reference):
    p = start("--run-name", "k", "--log-interval=1", cwd=tmp_path)
    ckpt = tmp_path / "runs" / "k" / "checkpoint.pt"
    inside_epoch_2(p)
    assert ckpt.exists()  # epoch 1's checkpoint
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert torch.load(ckpt, weights_only=True)["epoch"] >= 1  # the checkpoint survived the kill whole
    r = train("--run-name", "k", cwd=tmp_path)  # automatic resume: same folder, same config
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    assert metrics(tmp_path / "runs" / "k") == reference


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, data_root):
    """A run stopped with SIGTERM inside epoch 2: (its run folder, exit code, stderr). Tests copy the folder."""
    cwd = tmp_path_factory.mktemp("stopped")
    p = start("--run-name", "s", "--log-interval=1", cwd=cwd)
    inside_epoch_2(p)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    return cwd / "runs" / "s", p.returncode, err


def copy_run(stopped, tmp_path, name):
    shutil.copytree(stopped[0], tmp_path / "runs" / name)
    return tmp_path / "runs" / name


@pytest.mark.slow
def test_sigterm_checkpoints_inside_the_epoch_and_resumes_exactly(tmp_path, reference, stopped):
    _, code, err = stopped
    assert code == 128 + signal.SIGTERM, err
    assert "SIGTERM" in err and "stopped in epoch 2" in err and "Traceback" not in err
    copy_run(stopped, tmp_path, "t")
    r = train("--run-name", "t", "--resume", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert metrics(tmp_path / "runs" / "t") == reference
    assert "note:" not in r.stderr  # same machine: an exact resume says nothing more
    env = json.loads((tmp_path / "runs" / "t" / "env.json").read_text())
    assert [e["epoch"] for e in env] == [0, 1] and env[1]["step"] > env[0]["step"]  # one entry per start, and where it resumed
    assert {"torch", "device_type", "threads", "cpu"} <= set(env[0])


@pytest.mark.slow
def test_a_checkpoint_from_a_gpu_resumes_on_the_cpu_converted_and_says_so(tmp_path, stopped):
    """Item 6: the config check passed (the device is a runtime key), then restoring the data
    stream's CUDA generator state into a CPU generator raised a RuntimeError traceback. Here a CPU
    checkpoint is made to look like one written on a GPU (its environment, and the 16-byte state a
    CUDA generator has), once with the environment recorded and once as an older checkpoint
    without it."""
    sd = torch.load(stopped[0] / "checkpoint.pt", weights_only=True)
    assert sd["partial"] is not None and sd["env"]["device_type"] == "cpu"
    sd["stream"] = torch.zeros(16, dtype=torch.uint8)  # torch.cuda generators hold (seed, offset)
    sd["rng"]["cuda"] = torch.zeros(16, dtype=torch.uint8)
    sd["env"] |= {"device_type": "cuda", "device_name": "NVIDIA H200"}
    legacy = {k: v for k, v in sd.items() if k != "env"}
    outs = {}
    for name, ckpt in (("recorded", sd), ("legacy", legacy)):
        run = copy_run(stopped, tmp_path, name)
        torch.save(ckpt, run / "checkpoint.pt")
        r = train("--run-name", name, cwd=tmp_path)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note:")]
        assert len(notes) == 1 and "cuda" in notes[0] and "not bit-exact" in notes[0], r.stderr
        outs[name] = metrics(run)
    assert len(outs["recorded"]) == 3 and outs["recorded"] == outs["legacy"]  # the conversion is deterministic


def _one_line_exit_2(r, *words):
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0]


def test_mismatched_checkpoint_is_refused_and_kept(tmp_path, data_root, cli):
    run = tmp_path / "runs" / "m"
    run.mkdir(parents=True)
    torch.save({"model": {}, "optimizer": {}, "config": {"lr": 0.5}, "epoch": 1}, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    _one_line_exit_2(train("--run-name", "m", cwd=tmp_path, cli=cli), "different config", "lr")
    assert (run / "checkpoint.pt").read_bytes() == before


def test_corrupt_checkpoint_is_refused_and_kept(tmp_path, data_root, cli):
    run = tmp_path / "runs" / "c"
    run.mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    _one_line_exit_2(train("--run-name", "c", cwd=tmp_path, cli=cli), "corrupt", "move it aside to start this run afresh")
    assert (run / "checkpoint.pt").read_bytes() == b"not a checkpoint"


def test_resume_without_checkpoint_says_so(tmp_path, data_root, cli):
    _one_line_exit_2(train("--run-name", "none", "--resume", cwd=tmp_path, cli=cli), "nothing to resume")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_dir(tmp_path, data_root, cli):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    _one_line_exit_2(train("--out-dir", str(ro / "runs"), cwd=tmp_path, cli=cli), "--out-dir")


def test_unwritable_out_dir_file_in_the_way(tmp_path, data_root, cli):
    (tmp_path / "blocker").write_text("a file, not a folder")
    _one_line_exit_2(train("--out-dir", str(tmp_path / "blocker"), cwd=tmp_path, cli=cli), "--out-dir")


def test_a_figure_folder_that_cannot_be_written_is_one_line_before_training(tmp_path, data_root, cli):
    (tmp_path / "blocker").write_text("a file, not a folder")
    r = train("--run-name", "img", "--img", str(tmp_path / "blocker" / "stn.png"), cwd=tmp_path, cli=cli)
    _one_line_exit_2(r, "--img", "blocker")
    assert not (tmp_path / "runs" / "img" / "metrics.json").exists()  # refused before the first epoch, not after the last


@pytest.mark.slow
def test_divergence_stops_with_exit_3_and_one_line_naming_the_fix(tmp_path, data_root):
    """The command line's side; that the last good checkpoint survives is test_trainer's."""
    r = train("--run-name", "d", "--lr=1e6", "--optimizer=sgd", "--loc-lr=1", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "--lr" in r.stderr and "Traceback" not in r.stderr
