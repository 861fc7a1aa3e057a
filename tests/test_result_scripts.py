"""Result scripts give the same numbers whatever order the file system lists run folders in."""
import contextlib
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import metric_agreement  # noqa: E402
from common.errors import UsageError  # noqa: E402


def test_ties_share_their_average_rank():
    assert metric_agreement.ranks([5, 7, 7, 1]) == [1.0, 2.5, 2.5, 0.0]
    assert metric_agreement.ranks([3, 3, 3]) == [1.0, 1.0, 1.0]


def fake_study(root: Path, n: int = 12, seed: int = 0) -> None:
    """``n`` run folders on rts with many tied errors and tied invariances (as 4-epoch runs on
    10,000 digits give)."""
    rng = random.Random(seed)
    for i in range(n):
        run = root / f"run-{i:02d}"
        (run / "eval").mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"seed": 1, "variant": "affine", "dataset": "rts"}))
        s = {"error": rng.choice([0.04, 0.05, 0.06]), "nll": rng.random(), "ece": rng.random(), "recovery": {"pixel_mse": rng.random()}}
        (run / "eval" / "eval.json").write_text(json.dumps({"dataset": "rts", "sets": {"rts": s}, "robustness": {
            "rotation_auc": rng.random(), "scale_auc": rng.random(), "invariance": rng.choice([0.8, 0.9])}}))


def table(root, monkeypatch, order, seed: int = 1) -> str:
    real = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pat: order(list(real(self, pat))))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        metric_agreement.main(root, seed)
    monkeypatch.setattr(Path, "glob", real)
    return out.getvalue()


def test_agreement_does_not_depend_on_the_listing_order(tmp_path, monkeypatch):
    """Item 11: ties were ranked in listing order; rts seed 1's invariance coefficient moved between
    +0.45 and +0.62 with it."""
    fake_study(tmp_path)
    tables = {table(tmp_path, monkeypatch, order) for order in (sorted, lambda xs: sorted(xs, reverse=True),
                                                                lambda xs: random.Random(3).sample(xs, len(xs)))}
    assert len(tables) == 1


@pytest.mark.skipif(not (ROOT / "results" / "gpu" / "sweeps" / "study2" / "runs").exists(), reason="needs the committed study-2 runs")
def test_the_committed_agreement_tables_are_what_the_script_prints(monkeypatch):
    for seed, name in ((1, "metric_agreement.md"), (2, "metric_agreement_seed2.md")):
        lines = (ROOT / "results" / "gpu" / name).read_text().splitlines()[1:]
        got = table(ROOT / "results" / "gpu" / "sweeps" / "study2" / "runs", monkeypatch, lambda xs: xs[::-1], seed).splitlines()
        assert got == lines


def test_metrics_table_shows_confidence_and_a_dash_for_reports_without_it(tmp_path):
    import metrics_table

    for i, conf in enumerate((0.905, None)):
        run = tmp_path / f"run-{i}"
        (run / "eval").mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"seed": 1, "dataset": "rts", "variant": ["tps", "affine"][i]}))
        s = {"error": 0.01, "error_ci95": [0.008, 0.012], "nll": 0.13, "ece": 0.1}
        if conf is not None:
            s["confidence"] = conf
        (run / "eval" / "eval.json").write_text(json.dumps({"variant": ["tps", "affine"][i], "dataset": "rts", "coordconv": False,
                                                            "sets": {"rts": s}, "robustness": {}}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        metrics_table.main([tmp_path], seed=1)
    rows = {line.split(" | ")[1]: line.split(" | ") for line in out.getvalue().splitlines()[2:]}
    assert rows["tps"][5] == "0.905" and rows["affine"][5] == "–"


def test_agreement_needs_three_runs(tmp_path, monkeypatch):
    fake_study(tmp_path, n=2)  # two points always correlate at +-1: no coefficient is printed for them
    row = table(tmp_path, monkeypatch, sorted).splitlines()[2]
    assert row.startswith("| rts | 2 |") and row.count("needs 3 runs") == 6


def test_external_table_pairs_our_set_with_the_independent_one(tmp_path, capsys):
    import study3_external_table

    (tmp_path / "runs" / "sw" / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "sw" / "runs" / "r1" / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "tps", "seed": 2}))
    (tmp_path / "ext" / "rts").mkdir(parents=True)
    (tmp_path / "ext" / "rts" / "sets.json").write_text(json.dumps({"r1": {
        "rts": {"accuracy": 0.99, "error": 0.01, "n": 10000}, "rts-ext": {"accuracy": 0.985, "error": 0.015, "n": 10000}}}))
    assert study3_external_table.main(["--root", str(tmp_path / "ext"), "--runs", str(tmp_path / "runs")]) == 0
    row = capsys.readouterr().out.splitlines()[2].split(" | ")
    assert row[:4] == ["| rts", "tps", "False", "2"] and row[4].startswith("1.00 (") and row[5] == "rts"
    assert row[6].startswith("1.50 (") and row[7] == "+0.50"
    # the short form docs/study3.md carries: the paper's set name, CoordConv and seed in the head's cell, a minus sign
    (tmp_path / "runs" / "sw" / "runs" / "r2").mkdir()
    (tmp_path / "runs" / "sw" / "runs" / "r2" / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "tps", "seed": 1, "coordconv": True}))
    (tmp_path / "ext" / "rts" / "sets.json").write_text(json.dumps({"r1": json.loads((tmp_path / "ext" / "rts" / "sets.json").read_text())["r1"], "r2": {
        "rts": {"accuracy": 0.99, "error": 0.01, "n": 10000}, "rts-ext": {"accuracy": 0.992, "error": 0.008, "n": 10000}},
        "r9": {"rts": {"accuracy": 0.99, "error": 0.01, "n": 10000}}}))  # a run no sweep holds: left out
    assert study3_external_table.main(["--docs", "--root", str(tmp_path / "ext"), "--runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(study3_external_table.DOCS_HEADER) and len(lines) == 4
    assert lines[2].startswith("| RTS | tps, seed 2 | 1.00 (") and lines[2].endswith(" | +0.50 |")
    assert lines[3].startswith("| RTS | tps, CoordConv | 1.00 (") and lines[3].endswith(" | −0.20 |")
    (tmp_path / "ext" / "rts" / "sets.json").write_text("{not json")
    assert study3_external_table.main(["--root", str(tmp_path / "ext"), "--runs", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_external_scores_accumulate_in_batches_and_only_new_models_are_scored(tmp_path, capsys):
    """study3_external.sh scores only the kept models missing from a set's reports, into a batch
    folder of their own; the tables read every batch (a later one wins for a run scored twice)."""
    import kept_models
    import study3_external_table

    def report(err):
        return {"rts": {"accuracy": 0.99, "error": 0.01, "n": 10000}, "rts-ext": {"accuracy": 1 - err, "error": err, "n": 10000}}

    for name in ("r1", "r2", "r3"):
        run = tmp_path / "study3" / "runs" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "tps", "seed": int(name[1])}))
        (run / "model.pt").write_bytes(b"")
    ext = tmp_path / "ext" / "rts"
    ext.mkdir(parents=True)
    (ext / "sets.json").write_text(json.dumps({"r1": report(0.02)}))  # the first reports, before batches
    (ext / "20261130T120000Z").mkdir()
    (ext / "20261130T120000Z" / "sets.json").write_text(json.dumps({"r2": report(0.03)}))
    assert kept_models.main(["--sweeps", str(tmp_path), "--dataset", "rts", "--unscored", str(ext)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "study3" / "runs" / "r3")]
    assert kept_models.main(["--sweeps", str(tmp_path), "--dataset", "rts", "--unscored", str(tmp_path / "ext" / "none")]) == 0
    assert len(capsys.readouterr().out.split()) == 3  # no reports yet: every model
    (ext / "20261130T130000Z").mkdir()
    (ext / "20261130T130000Z" / "sets.json").write_text(json.dumps({"r3": report(0.04), "r1": report(0.05)}))
    assert study3_external_table.main(["--root", str(tmp_path / "ext"), "--runs", str(tmp_path)]) == 0
    rows = [r.split(" | ") for r in capsys.readouterr().out.splitlines()[2:]]
    assert [(r[3], r[6].split()[0]) for r in rows] == [("1", "5.00"), ("2", "3.00"), ("3", "4.00")]
    (ext / "20261130T110000Z").mkdir()  # an older batch written last: stamps, not file dates, decide which score wins
    (ext / "20261130T110000Z" / "sets.json").write_text(json.dumps({"r3": report(0.09)}))
    assert study3_external_table.scored(ext)["r3"]["rts-ext"]["error"] == 0.04
    runs_dir = tmp_path / "study3" / "runs"
    assert kept_models.main(["--fingerprints", str(runs_dir / "r2"), str(runs_dir / "r3")]) == 0  # what study3_external.sh records
    (ext / "20261130T120000Z" / "models.json").write_text(capsys.readouterr().out)
    assert kept_models.main(["--sweeps", str(tmp_path), "--dataset", "rts", "--unscored", str(ext)]) == 0
    assert capsys.readouterr().out.split() == []  # the recorded weights are the current ones (whatever the file dates)
    (runs_dir / "r2" / "model.pt").write_bytes(b"retrained")  # r2 trained again under its name after its score
    assert kept_models.main(["--sweeps", str(tmp_path), "--dataset", "rts", "--unscored", str(ext)]) == 0
    assert capsys.readouterr().out.split() == [str(runs_dir / "r2")]
    (runs_dir / "r2" / "model.pt").unlink()
    with pytest.raises(UsageError, match="no model.pt in .*r2.*study3_pack"):
        kept_models.main(["--fingerprints", str(runs_dir / "r2")])
    (runs_dir / "r2" / "model.pt").write_bytes(b"")
    import study3_table  # README's bracket reads the batches too, also where a set has no first report
    (ext / "sets.json").unlink()
    assert study3_table.independent(tmp_path / "ext") == {"r1": 5.0, "r2": 3.0, "r3": 4.0}
    (ext / "compare").mkdir()  # a folder that is no batch (e.g. an evaluate.py --out by hand) is named, not merged
    assert study3_external_table.main(["--root", str(tmp_path / "ext"), "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compare" in err and "move it out" in err


def test_table_scripts_never_read_a_validation_run_as_a_test_result(tmp_path, capsys):
    """study_table.py leaves --holdout runs out; collect.py names their set as validation."""
    import collect
    import study_table

    for name, holdout, scored in (("final", 0, "rts"), ("search", 10000, "rts-val")):
        run = tmp_path / name
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"variant": "affine", "dataset": "rts", "coordconv": False, "epochs": 1,
                                                     "seed": 1, "holdout": holdout}))
        (run / "metrics.json").write_text(json.dumps([{"epoch": 1, "epoch_seconds": 3.0, "test_accuracy": 0.9}]))
        (run / "final.json").write_text(json.dumps({"params_head": 1, "params_classifier": 2,
                                                    "test": {scored: {"loss": 0.1, "accuracy": 0.99, "correct": 99, "n": 100}}}))
    groups = study_table.load(tmp_path)
    assert sum(len(v) for v in groups.values()) == 1
    collect.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| rts-val (validation) |" in out and "| rts |" in out


def a_study(root: Path) -> Path:
    """A study folder with one finished, evaluated run, every file as train.py and evaluate.py
    write it, and an independent set's report."""
    run = root / "study3" / "runs" / "r1"
    (run / "eval").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset": "rts", "variant": "affine", "seed": 1, "coordconv": False, "epochs": 1,
                                                 "lr": 0.1, "batch_size": 8, "holdout": 10000}))
    (run / "metrics.json").write_text(json.dumps([{"epoch": 1, "epoch_seconds": 3.0, "test_accuracy": 0.9}]))
    (run / "final.json").write_text(json.dumps({"params_head": 1, "params_classifier": 2,
                                                "test": {"rts-val": {"loss": 0.1, "accuracy": 0.99, "correct": 99, "n": 100}}}))
    (run / "eval" / "eval.json").write_text(json.dumps({"dataset": "rts", "variant": "affine", "coordconv": False, "sets": {}}))
    (root / "ext" / "rts").mkdir(parents=True)
    ext = {"accuracy": 0.99, "error": 0.01, "n": 10000}
    (root / "ext" / "rts" / "sets.json").write_text(json.dumps({"r1": {"rts": ext, "rts-ext": ext}}))
    return run


SCRIPTS = {  # script: its arguments, and the files it reads
    "study3_table.py": (["{root}"], ["config.json", "metrics.json"]),
    "time_to_99.py": (["{runs}"], ["config.json", "metrics.json"]),
    "study_table.py": (["{runs}"], ["config.json"]),  # it leaves the (validation) run out before reading final.json
    "collect.py": (["{runs}"], ["config.json", "final.json", "metrics.json"]),
    "metrics_table.py": (["{runs}", "--seed", "1"], ["config.json", "eval/eval.json"]),
    "metric_agreement.py": (["{runs}"], ["config.json"]),  # it reads eval.json of runs of the seed asked for
    "study3_choose.py": (["{root}/study3"], ["config.json", "final.json"]),
    "study3_external_table.py": (["--runs", "{root}", "--root", "{root}/ext"], ["config.json", "../../../ext/rts/sets.json"]),
}
DAMAGE = {"cut off": ('{"dataset": "rts"', "is not valid JSON"), "wrong kind": ("[1]", "where a"),
          "misshapen": ('{"epoch": 1}', "is not as stn-lab writes it")}


@pytest.mark.parametrize("script, file", [(s, f) for s, (_, files) in SCRIPTS.items() for f in files])
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_file_is_one_line_naming_it_in_every_results_script(tmp_path, script, file, damage, cli):
    run = a_study(tmp_path)
    text, words = DAMAGE[damage]
    if file == "metrics.json" and damage == "wrong kind":
        text = "{}"  # a list is its right kind
    if file == "metrics.json" and damage == "misshapen":
        text = "[1]"
    if file.endswith("sets.json") and damage == "misshapen":
        return  # its rows are read as they come
    (run / file).write_text(text)
    args, _ = SCRIPTS[script]
    argv = [a.format(root=tmp_path, runs=run.parent) for a in args]
    r = cli(str(ROOT / "scripts" / script), *argv, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert f"{(run / file).resolve().name}" in r.stderr and words in r.stderr, r.stderr


@pytest.mark.parametrize("script, file, key", [
    ("collect.py", "final.json", "params_head"), ("time_to_99.py", "config.json", "lr"),
    ("study_table.py", "final.json", "test"), ("study3_external_table.py", "../../../ext/rts/sets.json", "n"),
])
def test_a_file_a_key_short_is_one_line_naming_file_and_key(tmp_path, script, file, key, cli):
    """Any key a script reads, missing from a file that is otherwise as written, is named with the file."""
    run = a_study(tmp_path)
    if script == "study_table.py":
        cfg = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**cfg, "holdout": 0}))  # a test run, whose final.json study_table reads
    data = json.loads((run / file).read_text())
    if file.endswith("sets.json"):
        del data["r1"]["rts"][key]
    else:
        del data[key]
    (run / file).write_text(json.dumps(data))
    args, _ = SCRIPTS[script]
    argv = [a.format(root=tmp_path, runs=run.parent) for a in args]
    r = cli(str(ROOT / "scripts" / script), *argv, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, (r.stdout, r.stderr)
    assert Path(file).name in r.stderr and (f"no {key!r}" in r.stderr or f"({key}" in r.stderr or key in r.stderr), r.stderr


def test_the_study_above_reads_cleanly(tmp_path, cli):
    """The damage tests start from folders every script reads without a fault."""
    run = a_study(tmp_path)
    for script, (args, _) in SCRIPTS.items():
        argv = [a.format(root=tmp_path, runs=run.parent) for a in args]
        r = cli(str(ROOT / "scripts" / script), *argv, cwd=tmp_path)
        assert r.returncode == 0 and r.stderr == "" and r.stdout.count("\n") >= 2, (script, r.stdout, r.stderr)


def test_a_run_folder_without_config_is_named(tmp_path, cli):
    run = a_study(tmp_path)
    (run / "config.json").unlink()
    r = cli(str(ROOT / "scripts" / "time_to_99.py"), str(run.parent))
    assert r.returncode == 2 and "has no config.json" in r.stderr and "Traceback" not in r.stderr


def test_kept_models_are_the_study_sweeps_runs_with_weights(tmp_path):
    import kept_models

    for sweep, name, ds, weights in (("study3", "a", "rts", True), ("study3", "b", "rts", False), ("study3_newheads", "c", "cluttered", True),
                                     ("study3_recipe", "d", "rts", True)):  # a recipe candidate's weights are not a kept model
        run = tmp_path / sweep / "runs" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"dataset": ds, "variant": "affine", "seed": 1}))
        if weights:
            (run / "model.pt").write_bytes(b"")
    assert [r.name for r in kept_models.kept(tmp_path)] == ["a", "c"]
    assert [r.name for r in kept_models.kept(tmp_path, "rts")] == ["a"]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_folder_without_runs_is_one_line_not_an_empty_table(tmp_path, script, where, cli):
    root = tmp_path / "nope"
    if where == "empty":
        (root / "study3").mkdir(parents=True)
    args, _ = SCRIPTS[script]
    argv = [a.format(root=root, runs=root / "study3") for a in args]
    r = cli(str(ROOT / "scripts" / script), *argv, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == "", (r.stdout, r.stderr)


def test_time_to_accuracy_refuses_a_percent_and_a_misspelt_set(tmp_path, cli):
    run = a_study(tmp_path)
    for flag, words in ((["--target", "99.5"], "not a fraction"), (["--dataset", "rst"], "not a dataset")):
        r = cli(str(ROOT / "scripts" / "time_to_99.py"), str(run.parent), *flag)
        assert r.returncode == 2 and words in r.stderr


def test_a_reader_that_stops_early_is_no_traceback(tmp_path):
    run = a_study(tmp_path)
    p = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "time_to_99.py"), str(run.parent), str(run.parent)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # as `| head -0` would
    assert "Traceback" not in p.stderr.read() and p.wait() == 0


def _saved(tmp_path, variant):
    import torch

    from common.config import Config
    from variants import build_model

    d = tmp_path / variant
    d.mkdir()
    cfg = Config(variant=variant, dataset="rotated", wandb=False, classifier="paper", loc_net="paper")
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.to_dict(), "epoch": 0}, d / "model.pt")
    return d


def test_pstn_probe_scores_the_draws_and_leaves_the_model_as_it_was(tmp_path, capsys):
    import pstn_probe

    run = _saved(tmp_path, "pstn")
    assert pstn_probe.main([str(run), "--n", "64"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "draws |" not in line and "---" not in line]
    assert len(rows) == 6 and rows[0].startswith("| fixed test draws") and "KL to the prior:" in out
    # an untrained head predicts its initial sd, exp(0.5 * log 0.05^2) = 0.05, for every parameter
    assert "median 0.050" in out


def test_pstn_probe_scores_other_draws_and_puts_the_models_own_back(tmp_path):
    import pstn_probe
    import torch

    from common import data
    from evaluate import load_model

    model, _, _ = load_model(_saved(tmp_path, "pstn"), torch.device("cpu"))
    with torch.no_grad():
        model.transformer.fc.weight.normal_(0, 0.3)  # a head whose draws matter
    own = model.transformer.test_eps.clone()
    g = torch.Generator().manual_seed(0)
    ts = data.TestSet("rotated", torch.randint(0, 256, (64, 1, 28, 28), generator=g, dtype=torch.uint8), torch.arange(64) % 10, {})
    stats, rows = pstn_probe.probe(model, ts)
    assert torch.equal(model.transformer.test_eps, own)
    assert [r[0] for r in rows][:2] == ["fixed test draws (reported)", "mean warp only"] and len(rows) == 6
    assert len({round(r[2], 6) for r in rows}) == 6  # each set of draws gives its own NLL
    assert stats["kl"] > 0


def test_pstn_probe_refuses_another_head_in_one_line(tmp_path, cli):
    run = _saved(tmp_path, "affine")
    r = cli(str(ROOT / "scripts" / "pstn_probe.py"), str(run), "--n", "8")
    assert r.returncode == 2 and "holds a model of the affine head" in r.stderr and "Traceback" not in r.stderr
