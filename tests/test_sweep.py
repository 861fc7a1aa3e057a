"""sweep.py runs W&B sweep files offline, the way the agent launches runs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")))
def test_shipped_sweep_files_are_valid(path):
    spec = sweep.load_sweep(path)
    assert spec["program"] == "train.py"
    if spec["method"] == "grid":
        assert len(sweep.proposals(spec, None, 0)) >= 2
    sweep.check_proposals(spec, sweep.proposals(spec, 4 if spec["method"] != "grid" else None, 0), [], path)  # every run as launched


def test_the_recipe_keys_are_train_py_options():
    from common.config import Config

    assert sweep.RECIPE_KEYS <= set(Config.__dataclass_fields__)  # a renamed option would silently leave the guard


@pytest.mark.parametrize("extra, ok", [([], True), (["--holdout=0"], False), (["--holdout=500"], True)])
def test_the_validation_split_is_checked_on_each_run_as_launched(extra, ok):
    """study3_rts_val.yaml (a grid over lr) holds out 10,000 digits in its command; a flag after
    `--` overrides it, and a run that would score on the test set is refused."""
    spec = sweep.load_sweep(ROOT / "sweeps" / "study3_rts_val.yaml")
    check = lambda: sweep.check_proposals(spec, sweep.proposals(spec, None, 0), extra, "f.yaml")  # noqa: E731
    if ok:
        check()
    else:
        with pytest.raises(sweep.UsageError, match="a grid over lr chooses a recipe"):
            check()


def test_a_bayes_file_is_checked_for_its_split_on_the_file():
    spec = {"method": "bayes", "metric": {"name": "final/accuracy", "goal": "maximize"}, "parameters": {"lr": {"min": 0.001, "max": 0.01}}}
    assert not sweep.holds_out(spec)
    assert sweep.holds_out({**spec, "command": ["${program}", "--holdout", "10000", "${args}"]})
    assert sweep.holds_out({**spec, "parameters": {**spec["parameters"], "holdout": {"value": 5000}}})


def test_study1_is_the_seed_grid():
    props = sweep.proposals(sweep.load_sweep(ROOT / "sweeps" / "study1.yaml"), None, 0)
    assert len(props) == 18
    assert {(p["coordconv"], p["epochs"]) for p in props} == {(c, e) for c in (False, True) for e in (5, 10, 25)}


@pytest.mark.parametrize("name", ["study1", "study1_position", "study2"])
def test_the_studies_recipe_is_pinned_whatever_train_py_defaults_to(name):
    """The studies ran at lr 2e-3; a resumed sweep must finish them at lr 2e-3, and the run ids
    (which name the folders already made) must not change."""
    spec = sweep.load_sweep(ROOT / "sweeps" / f"{name}.yaml")
    props = sweep.proposals(spec, None, 0)
    assert "lr" not in props[0]  # not a parameter: it would change every run id
    cmd = sweep.command_for(spec, props[0], [])
    assert "--lr=0.002" in cmd and cmd.index("--lr=0.002") < cmd.index(f"--seed={props[0]['seed']}")
    assert "epochs" in props[0]


def test_where_runs_a_slice_with_the_full_sweeps_run_ids():
    spec = sweep.load_sweep(ROOT / "sweeps" / "study2.yaml")
    full = sweep.proposals(spec, None, 0)
    part = sweep.select(full, ["seed=3", "dataset=rts", "coordconv=true"], spec["parameters"])
    assert len(part) == 7 and all(p["seed"] == 3 and p["dataset"] == "rts" and p["coordconv"] is True for p in part)
    by_hand = {sweep.run_id(p) for p in full if p["seed"] == 3 and p["dataset"] == "rts" and p["coordconv"] is True}
    assert {sweep.run_id(p) for p in part} == by_hand  # a slice fills the same folders the whole sweep would, all of them
    for bad in (["sed=3"], ["seed"], ["seed=9"]):
        with pytest.raises(sweep.UsageError):
            sweep.select(full, bad, spec["parameters"])
    with pytest.raises(sweep.UsageError, match="dataset takes rotated, rts, projective"):  # a misspelt value: the values it could be
        sweep.select(full, ["dataset=rotaed"], spec["parameters"])


def test_summary_of_a_slice_keeps_the_other_runs_lines(tmp_path, capsys):
    path = tmp_path / "summary.json"
    sweep.write_summary(path, [{"run": "a", "status": "ok"}, {"run": "b", "status": "stopped"}])
    sweep.write_summary(path, [{"run": "b", "status": "ok"}, {"run": "c", "status": "ok"}])
    assert json.loads(path.read_text()) == [{"run": "a", "status": "ok"}, {"run": "b", "status": "ok"}, {"run": "c", "status": "ok"}]
    path.write_text("{not json")
    sweep.write_summary(path, [{"run": "d", "status": "ok"}])
    assert json.loads(path.read_text()) == [{"run": "d", "status": "ok"}]
    assert (tmp_path / "summary.json.corrupt").read_text() == "{not json"  # kept aside, and said so
    assert "summary.json is not valid JSON" in capsys.readouterr().err


def test_a_corrupt_final_json_costs_its_own_metric_only(tmp_path, capsys):
    (tmp_path / "final.json").write_text(json.dumps({"test": {"rts": {"accuracy": 0.99}}}))
    assert sweep.metric_of(tmp_path, "final/rts/accuracy") == 0.99
    (tmp_path / "final.json").write_text('{"test": {"rts"')
    assert sweep.metric_of(tmp_path, "final/rts/accuracy") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "final.json is not valid JSON" in err


def test_agent_style_arguments():
    spec = {"program": "train.py", "command": ["${env}", "${interpreter}", "${program}", "${args}"]}
    cmd = sweep.command_for(spec, {"coordconv": True, "lr": 0.001, "variant": "tps"}, [])
    assert cmd[1:] == ["train.py", "--coordconv=True", "--lr=0.001", "--variant=tps"]


def test_a_search_with_a_validation_split_is_accepted_and_scores_on_it(tmp_path, cli):
    """The refusal above is of a search scored on a test set, not of random search: the shipped
    example holds out a validation split, and its runs are launched with it."""
    r = cli(str(ROOT / "sweep.py"), str(ROOT / "sweeps" / "lr_random.yaml"), "--dry-run", "--out-dir", str(tmp_path / "out"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    launched = [line for line in r.stdout.splitlines() if "train.py" in line]
    assert len(launched) == 8 and all("--holdout=10000" in line for line in launched)
    assert "8 runs checked (0 finished, would be skipped)" in r.stderr and "nothing run" in r.stderr


def test_random_search_is_seeded_and_in_range():
    spec = sweep.load_sweep(ROOT / "sweeps" / "lr_random.yaml")
    a, b = sweep.proposals(spec, 5, 0), sweep.proposals(spec, 5, 0)
    assert a == b and len(a) == 5
    assert all(3e-4 <= p["lr"] <= 1e-2 and p["loc_lr"] in (0.01, 0.1, 1.0) for p in a)


@pytest.mark.parametrize(
    "text, words",
    [
        ("method: grid\nparameters: [\n", "not valid YAML"),
        ("method: grid\nparameters:\n  lrr: {values: [1]}\n", "not a train.py option"),
        ("method: annealing\nparameters:\n  lr: {values: [1]}\n", "method must be"),
        ("method: grid\nparameters:\n  lr: {min: 0.1, max: 1.0}\n", "grid search needs"),
        ("method: grid\n", "'parameters' is required"),
        ("method: bayes\nparameters:\n  lr: {min: 0.1, max: 1.0}\n", "bayes needs a metric"),
        ("method: random\nrun_cap: 2\nparameters:\n  lr: {min: 0.001, max: 0.01}\n", "a random search chooses a recipe"),
        ("method: bayes\nmetric: {name: final/accuracy, goal: maximize}\nparameters:\n  lr: {min: 0.001, max: 0.01}\n",
         "a bayes search chooses a recipe"),
        ("method: grid\nparameters:\n  lr: {values: [0.001, 0.003]}\n  seed: {values: [1, 2]}\n", "a grid over lr chooses a recipe"),
        ("method: grid\nparameters:\n  lr: {values: [0.001, 0.003]}\n  holdout: {value: 0}\n", "never a test set"),
        ("method: grid\nparameters:\n  lr: {values: [0.001, 0.003]}\n  holdout: {values: [0, 1000]}\n", "every run needs one"),
        ("method: random\nrun_cap: 2\nparameters:\n  lr: {min: 0.01, max: 0.001}\n  holdout: {value: 1000}\n", "must be below max"),
        ("program: evaluate.py\nmethod: grid\nparameters:\n  seed: {values: [1, 2]}\n", "program must be train.py"),
    ],
)
def test_broken_sweep_file_starts_no_run(tmp_path, text, words, cli):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    r = cli(str(ROOT / "sweep.py"), str(f), "--out-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags, words", [(["--count", "-3"], "--count: -3 is out of range"), (["--jobs", "0"], "--jobs: 0 is out of range"),
                                          (["--out-dir", "{file}"], "pass --out-dir pointing at a writable folder"),
                                          (["--dry-run", "--out-dir", "{file}/sub"], "a-file is not a folder"), (["--count", "x"], "--count: 'x' is not a whole number")])
def test_bad_flags_start_no_run_and_say_so_in_one_line(tmp_path, capsys, flags, words, cli):
    f = tmp_path / "ok.yaml"
    f.write_text("method: grid\nparameters:\n  seed: {values: [1, 2]}\n")
    (tmp_path / "a-file").write_text("")
    argv = [str(f), "--out-dir", str(tmp_path / "out"), *[x.format(file=tmp_path / "a-file") for x in flags], "--", "--epochs=1"]
    r = cli(str(ROOT / "sweep.py"), *argv, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() and (tmp_path / "a-file").read_text() == ""


def test_a_bad_flag_after_the_double_dash_is_blamed_on_the_flags_not_the_file(tmp_path, cli):
    f = tmp_path / "ok.yaml"
    f.write_text("method: grid\nparameters:\n  seed: {values: [1, 2]}\n")
    r = cli(str(ROOT / "sweep.py"), str(f), "--dry-run", "--", "--train-limit=-5", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "flags after -- (--train-limit=-5)" in r.stderr and "invalid sweep file" not in r.stderr
    f.write_text("method: grid\nparameters:\n  seed: {values: [1, 2]}\n  train_limit: {value: -5}\n")  # the file's own fault stays the file's
    r = cli(str(ROOT / "sweep.py"), str(f), "--dry-run", "--", "--epochs=1", cwd=tmp_path)
    assert r.returncode == 2 and "invalid sweep file" in r.stderr, r.stderr


def test_a_missing_sweep_file_says_where_sweep_files_are(tmp_path, cli):
    r = cli(str(ROOT / "sweep.py"), str(tmp_path / "nosuch.yaml"), "--out-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2 and "cannot read sweep file" in r.stderr and "sweeps/study3.yaml" in r.stderr
    assert not (tmp_path / "out").exists()

@pytest.mark.slow
def test_tiny_grid_runs_reports_a_dead_run_and_resumes(tmp_path, data_root):
    spec = {"name": "tiny", "program": str(ROOT / "train.py"), "method": "grid",
            "metric": {"name": "final/mnist-val/accuracy", "goal": "maximize"},  # a grid over lr: on a validation split
            "parameters": {"variant": {"value": "affine"}, "coordconv": {"values": [False, True]}, "lr": {"values": [0.003, 1e6]},
                           "holdout": {"value": 200}},
            "command": ["${env}", "${interpreter}", "${program}", "${args}"]}
    f = tmp_path / "tiny.yaml"
    f.write_text(yaml.safe_dump(spec))
    cmd = [sys.executable, str(ROOT / "sweep.py"), str(f), "--out-dir", "out", "--jobs", "2", "--",
           "--epochs=1", "--train-limit=256", "--test-limit=100", "--batch-size=64", "--eval=basic", "--optimizer=sgd", "--loc-lr=1"]
    env = {**os.environ, "WANDB_DIR": str(tmp_path / "wb")}  # this test's W&B records only
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 1  # two of the four runs die (lr 1e6 diverges: exit 3) and are reported
    summary = json.loads((tmp_path / "out" / "tiny" / "summary.json").read_text())
    assert [s["status"][:14] for s in summary] == ["ok" if s["params"]["lr"] < 1 else "FAILED (exit 3" for s in summary]
    assert len(summary) == 4
    assert all(0 <= s["final/mnist-val/accuracy"] <= 1 for s in summary if s["status"] == "ok")
    # the agent's booleans arrived: one run's config has coordconv on
    configs = [json.loads(p.read_text()) for p in (tmp_path / "out" / "tiny" / "runs").glob("*/config.json")]
    assert {c["coordconv"] for c in configs} == {False, True}
    assert len(list((tmp_path / "wb" / "wandb").glob("offline-run-*"))) >= 2  # each finished run recorded offline
    done = sorted(p.parent for p in (tmp_path / "out" / "tiny" / "runs").glob("*/final.json"))
    assert len(done) == 2
    (done[0] / "final.json").write_text('{"test": {')  # damaged after it finished
    r2 = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r2.stdout.count("done (kept)") == 1  # finished runs are not run again; the damaged one is
    assert "final.json is not valid JSON" in r2.stderr and "running it again" in r2.stderr
    assert json.loads((done[0] / "final.json").read_text())["test"] and (done[0] / "final.json.corrupt").exists()


@pytest.mark.slow
def test_sigterm_stops_every_running_run_with_a_checkpoint_and_the_sweep_resumes(tmp_path, data_root):
    spec = {"name": "pre", "program": str(ROOT / "train.py"), "method": "grid",
            "parameters": {"seed": {"values": [1, 2, 3]}}, "command": ["${env}", "${interpreter}", "${program}", "${args}"]}
    f = tmp_path / "pre.yaml"
    f.write_text(yaml.safe_dump(spec))
    cmd = [sys.executable, str(ROOT / "sweep.py"), str(f), "--out-dir", "out", "--jobs", "2", "--",
           "--epochs=2", "--train-limit=3000", "--test-limit=100", "--batch-size=32", "--eval=basic", "--wandb=False", "--log-interval=1"]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    logs = tmp_path / "out" / "pre"
    t0 = time.time()
    while sum("Train Epoch: 1 " in lg.read_text() for lg in logs.glob("*.log")) < 2:  # both runs inside epoch 1
        assert p.poll() is None and time.time() - t0 < 300, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    statuses = [s["status"] for s in json.loads((logs / "summary.json").read_text())]
    assert [s.split(" ")[0] for s in statuses] == ["stopped", "stopped", "not"], statuses
    assert len(list((logs / "runs").glob("*/checkpoint.pt"))) == 2  # each stopped run checkpointed
    assert len(list(logs.glob("*.log"))) == 2  # the run that never started left nothing behind
    r = subprocess.run(cmd[:-1], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert all(s["status"] == "ok" for s in json.loads((logs / "summary.json").read_text()))
    resumed = [lg.read_text() for lg in logs.glob("*.log") if lg.read_text().count("$ ") == 2]
    assert len(resumed) == 2 and all("resuming" in text for text in resumed)


def test_a_damaged_final_json_is_resumed_if_it_can_be_and_never_trained_afresh(tmp_path, capsys):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    assert sweep.run_state(run)[0] == "new"
    (run / "final.json").write_text(json.dumps({"test": {"rts": {"accuracy": 0.99}}}))
    assert sweep.run_state(run)[0] == "finished"
    (run / "final.json").write_text('{"test": {')
    assert sweep.run_state(run)[0] == "damaged"
    runner = sweep.Runner(tmp_path, dict(os.environ), 1)
    status = runner.run(1, "r", run, [sys.executable, "-c", "open('ran', 'w')"])
    assert status.startswith("FAILED (final.json damaged, no checkpoint") and not (tmp_path / "ran").exists()
    assert (run / "final.json").read_text() == '{"test": {'  # its record is left as it was
    (run / "checkpoint.pt").write_bytes(b"")
    assert sweep.run_state(run)[0] == "damaged, resumable"
    runner.run(1, "r", run, [sys.executable, "-c", "pass"])
    assert not (run / "final.json").exists() and (run / "final.json.corrupt").read_text() == '{"test": {'
    assert "running it again from its checkpoint" in capsys.readouterr().err


def test_a_file_kept_aside_never_overwrites_an_earlier_one(tmp_path):
    from common.runs import keep_aside

    f = tmp_path / "summary.json"
    for text in ("first", "second"):
        f.write_text(text)
        keep_aside(f)
    assert (tmp_path / "summary.json.corrupt").read_text() == "first" and (tmp_path / "summary.json.corrupt.1").read_text() == "second"
