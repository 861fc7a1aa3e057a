"""train.py as a user runs it: a tiny run learns; bad input is one line and exit code 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_server import REAL

ROOT = Path(__file__).resolve().parents[1]


def run_train(*args, cwd, env=None, cli=None):
    """train.py with ``args``; in the ``cli`` fixture's server when given (commands that stop early),
    else in a process of its own (training)."""
    return (cli or REAL)(ROOT / "train.py", *args, cwd=cwd, env={**os.environ, **(env or {})}, timeout=600)


TINY = ["--train-limit=512", "--test-limit=500", "--batch-size=32", "--wandb=False", "--eval=basic"]


@pytest.mark.slow
def test_tiny_run_learns_and_writes_its_run_folder(tmp_path, data_root):
    r = run_train("--variant", "affine", "--epochs=4", "--lr=3e-3", *TINY, "--out-dir", "runs", "--run-name", "tiny", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Test set: Average loss:" in r.stdout and "/500 (" in r.stdout
    run = tmp_path / "runs" / "tiny"
    hist = json.loads((run / "metrics.json").read_text())
    assert len(hist) == 4
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    # chance is 0.1; this run reaches ~0.7 after 4 epochs from ~0.4 after 1 (a run that stopped
    # learning after epoch 1 fails the second condition)
    assert hist[-1]["test_accuracy"] >= 0.55 and hist[-1]["test_accuracy"] > hist[0]["test_accuracy"] + 0.15, [h["test_accuracy"] for h in hist]
    assert json.loads((run / "config.json").read_text())["variant"] == "affine"
    assert (run / "checkpoint.pt").stat().st_size > 0 and (run / "stn.png").exists()
    assert (tmp_path / "imgs" / "stn.png").exists()


def test_seed_spelling_and_wandb_offline(tmp_path, data_root):
    wdir = tmp_path / "wb"
    env = {"WANDB_DIR": str(wdir)}
    env.pop("WANDB_MODE", None)
    e = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}
    e.update(env)
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--epochs=1", "--dry-run", "--variant=none", "--test-limit=100",
                        "--coordconv_classifier=True"], cwd=tmp_path, env=e, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "offline" in r.stderr
    runs = list((wdir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1


@pytest.mark.parametrize(
    "args, words",
    [
        (["--variant", "nope"], ["unknown variant", "affine"]),
        (["--dataset", "fashion"], ["unknown dataset", "rts"]),
        (["--epochs=0"], ["--epochs"]),
        (["--lr=-0.1"], ["--lr"]),
        (["--batch-size=0"], ["--batch-size"]),
        (["--coordconv=maybe"], ["True or False"]),
        (["--epochs=ten"], ["invalid int"]),
        (["--optimizer=rmsprop"], ["--optimizer", "adam"]),
        (["--classifier=not_a_timm_model", "--dry-run"], ["unknown classifier"]),
        (["--test-sets=rts"], ["28px"]),
        (["--warmup-epochs=inf"], ["--warmup-epochs", "finite"]),
        (["--lr=nan"], ["--lr", "finite"]),
        (["--seed=-1"], ["--seed", ">= 0"]),
        (["--config", "missing.json"], ["cannot read config file"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words, data_root, cli):
    r = run_train(*args, "--wandb=False", cwd=tmp_path, cli=cli)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0]
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_missing_data_is_one_line_and_exit_2(tmp_path, cli):
    r = run_train("--data-root", str(tmp_path / "empty"), "--wandb=False", cwd=tmp_path, cli=cli,
                  env={"no_proxy": "*", "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"})
    assert r.returncode == 2
    assert "--data-root" in r.stderr and "Traceback" not in r.stderr


def test_help_lists_heads_and_defaults(tmp_path, cli):
    """Item 12: "none" and "affine" appear in the help whatever the registry holds; the list must be the registry's."""
    import variants

    r = run_train("--help", cwd=tmp_path, cli=cli)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert len(variants.names()) >= 7 and f"transformer head: {', '.join(variants.names())} (default: affine)" in text
    assert "--tps_grid TPS_GRID tps: control points per side (default: 4)" in text


def test_final_evaluation_uses_test_batch_size(tmp_path, monkeypatch, data_root):
    """Item 9: the full evaluation at the end ran at batch 1000 whatever --test-batch-size said."""
    import signal

    import train
    from common import evaluation
    from common.config import parse

    class Reached(Exception):
        pass

    seen = {}

    def fake_evaluate_model(model, cfg, device, *, sets, batch_size=1000, **kw):
        seen["batch_size"] = batch_size
        raise Reached

    monkeypatch.setattr(evaluation, "evaluate_model", fake_evaluate_model)
    monkeypatch.chdir(tmp_path)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(Reached):
            train.run(parse(["--epochs=1", "--train-limit=64", "--test-limit=50", "--batch-size=32", "--test-batch-size=7",
                             "--wandb=False", "--eval=full", "--run-name=b"], __import__("variants").names(), ["mnist"]))
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    assert seen["batch_size"] == 7


def test_a_damaged_env_json_is_kept_aside_and_said(tmp_path, capsys):
    import torch

    import train

    (tmp_path / "env.json").write_text('[{"epoch": 0,')
    train.record_environment(tmp_path, torch.device("cpu"), None)
    entries = json.loads((tmp_path / "env.json").read_text())
    assert len(entries) == 1 and entries[0]["device_type"] == "cpu"
    assert (tmp_path / "env.json.corrupt").read_text() == '[{"epoch": 0,'
    assert "env.json is not valid JSON" in capsys.readouterr().err
