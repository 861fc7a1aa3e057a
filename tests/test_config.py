"""One typed path: flags, wandb.config, sweep files and replayed config files reach a Config through
the same converters and checks, and a sweep's run gets the same config however it is launched."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sweep
import variants
from common import config as C
from common import data
from common.errors import UsageError
from common.runs import writable_folder

ROOT = Path(__file__).resolve().parents[1]
HEADS, SETS = variants.names(), list(data.DATASETS)
PLACEMENT = {"out_dir", "run_name", "img"}  # sweep.py chooses these; under the agent train.py's defaults do


def resolve(argv, **kw):
    return C.resolve(argv, HEADS, SETS, **kw)


# --------------------------------------------------------------------------- converters
@pytest.mark.parametrize("key, raw, want", [
    ("lr", "1e-3", 0.001), ("lr", 1e-3, 0.001), ("lr", 1, 1.0), ("lr", " 2E-3 ", 0.002),
    ("epochs", "5", 5), ("epochs", 5.0, 5), ("epochs", "1e1", 10), ("epochs", "4.0", 4),
    ("coordconv", "True", True), ("coordconv", "false", False), ("coordconv", True, True), ("coordconv", 0, False),
    ("dataset", "rts", "rts"), ("run_name", 5, "5"),
])
def test_convert_reads_every_spelling_of_a_value(key, raw, want):
    got = C.convert(key, raw)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("key, raw, words", [
    ("lr", "abc", "invalid float"), ("lr", True, "a number"), ("epochs", 5.5, "invalid int"), ("epochs", "ten", "invalid int"),
    ("coordconv", "maybe", "True or False"), ("lr", [1e-3], "single value"),
])
def test_convert_refuses_with_the_key_named(key, raw, words):
    with pytest.raises(UsageError) as e:
        C.convert(key, raw, "wandb.config")
    msg = str(e.value)
    assert msg.startswith(f"--{key.replace('_', '-')}=") and words in msg and "wandb.config" in msg and "\n" not in msg


@pytest.mark.parametrize("flag", ["--warmup-epochs=inf", "--lr=inf", "--lr=nan", "--grad-clip=nan", "--label-smoothing=nan",
                                  "--ema=nan", "--loc-lr=inf", "--momentum=-inf", "--weight-decay=nan"])
def test_non_finite_numbers_are_refused(flag):
    """Item 3: inf and nan passed every range check (nan compares False), and --warmup-epochs=inf
    ended in an OverflowError traceback in make_scheduler."""
    with pytest.raises(UsageError, match="not a finite number"):
        resolve([flag])


def test_every_float_key_is_checked_for_finiteness():
    for name, f in C.FIELDS.items():
        if C._kind(name) == "float":
            with pytest.raises(UsageError, match="finite"):
                C.validate(C.Config(**{name: math.inf}), HEADS, SETS)


def test_names_spelled_either_way_in_every_source(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"batch-size": 64, "test_batch_size": "500"}))
    a = resolve(["--config", str(f)])
    b = resolve(["--batch_size=64", "--test-batch-size", "500"])
    c = resolve([], sweep={"batch-size": "64", "--test_batch_size": 500.0})
    assert a == b == c and a.batch_size == 64 and a.test_batch_size == 500
    with pytest.raises(UsageError, match="not a train.py option"):
        resolve([], sweep={"batchsize": 64})


def test_layers_defaults_file_flags_sweep(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("lr: 1e-3\nepochs: 3\nseed: 5\n")
    cfg = resolve(["--config", str(f), "--epochs=2", "--seed=6"], sweep={"seed": 7})
    assert (cfg.lr, cfg.epochs, cfg.seed) == (0.001, 2, 7)


def test_cross_key_checks_happen_before_anything_runs():
    with pytest.raises(UsageError, match="--holdout"):
        resolve(["--holdout=100", "--test-sets=mnist"])
    with pytest.raises(UsageError, match="--run-name"):
        resolve(["--resume"])


def test_help_keeps_the_defaults():
    text = C.build_parser(HEADS).format_help()
    assert "(default: 4)" in text and "(default: cosine)" in text and "--config FILE" in text


# --------------------------------------------------------------------------- replay
def test_replayed_config_file_gives_the_same_config_and_flags_still_override(tmp_path):
    cfg = resolve(["--variant=tps", "--dataset=rts", "--lr=3e-3", "--coordconv", "--run-name=orig", "--out-dir", "elsewhere"])
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg.to_dict()))
    again = resolve(["--config", str(f)])
    assert {k: v for k, v in again.to_dict().items() if k not in C.NOT_REPLAYED} == \
           {k: v for k, v in cfg.to_dict().items() if k not in C.NOT_REPLAYED}
    assert again.run_name == "" and again.out_dir == "runs"  # a replay never writes into the original's folder
    assert resolve(["--config", str(f), "--epochs=2"]).epochs == 2


@pytest.mark.parametrize("text, words", [("{not json", "not valid JSON"), ('{"lr": "fast"}', "--lr='fast'"),
                                         ('{"lrr": 1}', "not a train.py option"), ("[1, 2]", "mapping")])
def test_bad_config_file_is_one_line(tmp_path, text, words):
    f = tmp_path / "config.json"
    f.write_text(text)
    with pytest.raises(UsageError) as e:
        resolve(["--config", str(f)])
    assert words in str(e.value) and "\n" not in str(e.value)


def test_old_run_folders_replay(tmp_path):
    """A config.json written before newer keys existed (or by study 2) replays with today's code."""
    runs = sorted((ROOT / "results").glob("*/sweeps/study2/runs/*/config.json"))[:3] + sorted((ROOT / "results").glob("**/config.json"))[:5]
    if not runs:  # a clone without results: an old-style file with keys missing
        f = tmp_path / "config.json"
        f.write_text(json.dumps({"variant": "affine", "dataset": "rts", "lr": 0.002, "epochs": 4, "seed": 1}))
        runs = [f]
    for f in runs:
        saved, cfg = json.loads(f.read_text()), resolve(["--config", str(f)]).to_dict()
        replayed = {k: v for k, v in saved.items() if k in cfg and k not in C.NOT_REPLAYED}
        assert len(replayed) >= 5, f
        assert {k: cfg[k] for k in replayed} == replayed, f  # every saved key comes back as it was; the rest take today's defaults


# --------------------------------------------------------------------------- sweeps: one config per proposal
def agent_argv(spec: dict, params: dict) -> list[str]:
    """The command ``wandb agent`` builds for a proposal (W&B's own functions), without the interpreter and program."""
    from wandb.sdk.launch.sweeps import utils as wb

    vars_ = wb.create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    cmd = []
    for tok in wb.create_sweep_command(list(spec.get("command") or ["${env}", "${interpreter}", "${program}", "${args}"])):
        if tok.startswith("${") and tok.endswith("}"):
            cmd += {"env": [], "interpreter": ["python"], "program": [spec["program"]]}.get(tok[2:-1]) or vars_.get(tok[2:-1], [])
        else:
            cmd.append(tok)
    return cmd[cmd.index(spec["program"]) + 1 :]


def agent_param_file(path: Path, params: dict) -> Path:
    from wandb.sdk.lib import config_util

    config_util.save_config_file_from_dict(str(path), {k: {"value": v} for k, v in params.items()})
    return path


def shipped_proposals():
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):
        spec = sweep.load_sweep(path)
        for i, params in enumerate(sweep.proposals(spec, None if spec["method"] == "grid" else 8, 0)):
            yield path, spec, i, params


def test_every_shipped_proposal_resolves_the_same_under_sweep_py_and_wandb_agent(tmp_path):
    n = 0
    for path, spec, i, params in shipped_proposals():
        agent = resolve(agent_argv(spec, params), environ={C.SWEEP_PARAM_ENV: str(agent_param_file(tmp_path / "a.yaml", params))})
        ours_argv = sweep.command_for(spec, params, sweep.run_flags(tmp_path, "r"))
        ours_argv = ours_argv[ours_argv.index(spec["program"]) + 1 :]
        ours = resolve(ours_argv, environ={C.SWEEP_PARAM_ENV: str(sweep.write_params(tmp_path / "p" / "r.yaml", params))})
        strip = lambda c: {k: v for k, v in c.to_dict().items() if k not in PLACEMENT}
        assert strip(agent) == strip(ours), (path.name, params)
        for k, v in params.items():  # and what the file asked for is what the run gets
            assert getattr(ours, k) == C.convert(k, v), (path.name, k)
        n += 1
    assert n >= 400  # every grid point of every file (study 2 alone has 210)


def test_every_shipped_sweep_names_a_metric_each_of_its_runs_logs():
    """Item 10: study1_position maximised final/cluttered/accuracy, which its rts runs never log."""
    for path, spec, i, params in shipped_proposals():
        metric = (spec.get("metric") or {}).get("name")
        if metric:
            argv = sweep.command_for(spec, params, [])
            cfg = resolve(argv[argv.index(spec["program"]) + 1 :], sweep=params)
            assert metric in C.summary_metrics(cfg), (path.name, params, metric)


def test_a_metric_some_runs_never_log_is_refused_before_any_run(tmp_path, cli):
    f = tmp_path / "s.yaml"
    f.write_text("method: grid\nprogram: train.py\nmetric: {name: final/cluttered/accuracy, goal: maximize}\n"
                 "parameters:\n  dataset: {values: [rts, cluttered]}\n")
    r = cli(str(ROOT / "sweep.py"), str(f), "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 2 and "never logged" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_random_sweep_with_yaml_string_bounds_samples(tmp_path, cli):
    """Item 2: PyYAML reads 1e-4 as a string; sampling died with TypeError (even --dry-run)."""
    f = tmp_path / "r.yaml"
    f.write_text("method: random\nprogram: train.py\nparameters:\n  lr: {distribution: log_uniform_values, min: 1e-4, max: 1e-2}\n"
                 "  warmup_epochs: {values: [1e-1, 5e-1]}\n  holdout: {value: 10000}\n")
    spec = sweep.load_sweep(f)
    props = sweep.proposals(spec, 20, 0)
    assert all(1e-4 <= p["lr"] <= 1e-2 for p in props)
    r = cli(str(ROOT / "sweep.py"), str(f), "--count", "3", "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3 and r.stdout.count("--warmup_epochs=") == 3


@pytest.mark.parametrize("param, words", [("lr: {values: [1e-3, -1]}", "--lr=-1.0 is out of range"),
                                          ("lr: {values: [abc]}", "invalid float"),
                                          ("warmup_epochs: {value: .inf}", "finite"),
                                          ("lr: {min: 1e-4, max: fast}", "not a number")])
def test_a_bad_sweep_value_stops_the_sweep_before_any_run(tmp_path, param, words, cli):
    f = tmp_path / "s.yaml"
    f.write_text(f"method: random\nprogram: train.py\nparameters:\n  {param}\n  holdout: {{value: 10000}}\n")
    r = cli(str(ROOT / "sweep.py"), str(f), "--count", "2", "--out-dir", str(tmp_path / "out"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- end to end, as the agent launches
TINY = ["--epochs=1", "--train-limit=256", "--test-limit=100", "--batch-size=64", "--eval=basic", "--img=x.png"]


@pytest.mark.slow
def test_agent_launched_runs_and_sweep_py_write_the_same_config_json(tmp_path, data_root):
    """Items 1 and 8. The file's lr 1e-3 reaches wandb.config as the string '1e-3' (the run died with
    a TypeError); a command without ${args} hands the seed, test limit and run name to the run
    through wandb.config alone (the run trained with the command line's and named its folder from
    it, while config.json recorded the sweep's)."""
    prog = str(ROOT / "train.py")
    spec_text = (f"name: e2e\nmethod: grid\nprogram: {prog}\nparameters:\n  lr: {{values: [1e-3]}}\n  seed: {{value: 2}}\n"
                 f"  test_limit: {{value: 60}}\ncommand: {json.dumps(['${env}', '${interpreter}', '${program}', *TINY, '${args}'])}\n")
    f = tmp_path / "e2e.yaml"
    f.write_text(spec_text)
    spec = yaml.safe_load(spec_text)
    (params,) = sweep.proposals(spec, None, 0)
    assert params["lr"] == "1e-3"  # what PyYAML hands W&B

    def agent(cwd: Path, spec: dict, extra_params: dict | None = None):
        cwd.mkdir()
        p = {**params, **(extra_params or {})}
        env = {**os.environ, C.SWEEP_PARAM_ENV: str(agent_param_file(cwd / "params.yaml", p))}
        return subprocess.run([sys.executable, *[prog], *agent_argv(spec, p)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)

    r1 = agent(tmp_path / "agent", spec)
    assert r1.returncode == 0, r1.stderr
    assert "Traceback" not in r1.stderr and "W&B run recorded offline" in r1.stderr  # the W&B run was finished
    (run1,) = (tmp_path / "agent" / "runs").iterdir()
    # item 8: no ${args}: the values reach the run only through wandb.config
    no_args = {**spec, "command": [t for t in spec["command"] if t != "${args}"]}
    r2 = agent(tmp_path / "agent2", no_args, {"run_name": "from-sweep"})
    assert r2.returncode == 0, r2.stderr
    run2 = tmp_path / "agent2" / "runs" / "from-sweep"
    assert run2.is_dir() and [p.name for p in (tmp_path / "agent2" / "runs").iterdir()] == ["from-sweep"]
    assert json.loads((run2 / "metrics.json").read_text())[0]["test_n"] == 60  # the sweep's test limit, not the default
    r3 = subprocess.run([sys.executable, str(ROOT / "sweep.py"), str(f), "--out-dir", str(tmp_path / "sw")], cwd=tmp_path,
                        capture_output=True, text=True, timeout=600)
    assert r3.returncode == 0, r3.stderr
    (run3,) = (tmp_path / "sw" / "e2e" / "runs").iterdir()
    configs = [json.loads((r / "config.json").read_text()) for r in (run1, run2, run3)]
    strip = lambda c: {k: v for k, v in c.items() if k not in PLACEMENT}
    assert strip(configs[0]) == strip(configs[1]) == strip(configs[2])
    assert configs[0]["lr"] == 0.001 and configs[0]["seed"] == 2 and configs[0]["test_limit"] == 60
    # same seed, same data, same config: the three runs trained the same
    losses = [json.loads((r / "metrics.json").read_text())[0]["test_loss"] for r in (run1, run2, run3)]
    assert losses[0] == losses[1] == losses[2]


HELP_DEFAULTS = ["evaluate.py", "sweep.py", "bench.py", "scripts/export_testset.py", "scripts/make_external_sets.py"]
COMMANDS = ["train.py", "evaluate.py", "sweep.py", "bench.py"] + sorted(f"scripts/{p.name}" for p in (ROOT / "scripts").glob("*.py"))
# every whole-number flag with a least value, in every command that has one (train.py's own keys are
# checked by validate(), tested above): the value is refused while the command line is read
RANGES = [("sweep.py", ["sweeps/study3.yaml", "--count=-3"], "--count: -3"), ("sweep.py", ["sweeps/study3.yaml", "--jobs=0"], "--jobs: 0"),
          ("bench.py", ["--steps=0"], "--steps: 0"), ("bench.py", ["--workers=-1"], "--workers: -1"),
          ("evaluate.py", ["results/study3/sweeps/study3/runs/x", "--test-limit=-1"], "--test-limit: -1"),
          ("scripts/export_testset.py", ["rts", "--limit=-5"], "--limit: -5"), ("scripts/head_costs.py", ["--rounds=0"], "--rounds: 0"),
          ("scripts/pstn_probe.py", ["x", "--n=0"], "--n: 0"), ("scripts/make_external_sets.py", ["--seed=-1"], "--seed: -1"),
          ("scripts/make_external_rts.py", ["--limit=-1"], "--limit: -1")]


@pytest.fixture(scope="module")
def cli_results(cli, tmp_path_factory):
    """What every command line below prints, keyed by (script, *args). No MNIST where the data root
    points: a command that ignored its flags, or checked them after loading, would fail on the data."""
    no_data = {**os.environ, "STN_DATA_ROOT": str(tmp_path_factory.mktemp("cli") / "no-mnist")}
    wide = {**no_data, "COLUMNS": "1000"}  # help: one line per option; the range errors run at the default width
    calls = [((s, "--help"), wide) for s in COMMANDS] + [((s, "--no-such-flag"), wide) for s in COMMANDS] + [((s, *a), no_data) for s, a, _ in RANGES]
    return {c: cli(*c, cwd=ROOT, env=env) for c, env in calls}


@pytest.mark.parametrize("script", HELP_DEFAULTS)
def test_help_states_each_default_once_and_never_an_empty_one(script, cli_results):
    r = cli_results[script, "--help"]
    assert r.returncode == 0 and "options:" in r.stdout, r.stderr
    twice = [line for line in r.stdout.splitlines() if line.count("(default") > 1 or "(default: )" in line or "(default: None)" in line]
    assert not twice, twice


@pytest.mark.parametrize("script", COMMANDS)
def test_every_command_has_help_and_refuses_an_unknown_flag_in_one_line(script, cli_results):
    """Every command line (each script's argparse, a shared ``common.config.Parser`` but for the
    standalone make_external_*.py) prints --help and does nothing else, and answers a flag it does
    not know with one line on stderr and exit status 2, not a usage block or a traceback."""
    r = cli_results[script, "--help"]
    assert r.returncode == 0 and r.stdout.startswith("usage:") and not r.stderr, (r.stdout[-300:], r.stderr[-300:])
    r = cli_results[script, "--no-such-flag"]
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "--help" in r.stderr, r.stderr[-500:]


@pytest.mark.parametrize("script, args, words", RANGES, ids=[f"{s}:{a[-1]}" for s, a, _ in RANGES])
def test_a_count_below_its_least_is_one_line_before_any_work(script, args, words, cli_results):
    r = cli_results[(script, *args)]
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-500:]
    assert f"argument {words} is out of range: it must be >= " in r.stderr, r.stderr


def test_writable_folder_makes_the_folder_or_says_which_flag_to_change(tmp_path):
    assert writable_folder(tmp_path / "a" / "b", "--out").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []  # no scratch file left
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=r"cannot write .*file/sub .*; pass --out pointing at a writable folder"):
        writable_folder(tmp_path / "file" / "sub", "--out")


def test_writable_folder_for_a_dry_run_looks_and_writes_nothing(tmp_path):
    assert writable_folder(tmp_path / "a" / "b", "--out-dir", make=False) == tmp_path / "a" / "b" and not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="file is not a folder.*pass --out-dir"):
        writable_folder(tmp_path / "file" / "sub", "--out-dir", make=False)


def test_writable_folder_writes_into_a_folder_that_is_there(tmp_path, monkeypatch):
    """A folder that exists but refuses files (read-only, full) is found by the scratch file, not by mkdir."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(UsageError, match="Permission denied.*pass --out-dir"):
        writable_folder(tmp_path, "--out-dir")
