"""Run a W&B sweep file locally, with no W&B server (a laptop on a plane, these machines).

    python sweep.py sweeps/study1.yaml              # every grid point, resumable
    python sweep.py sweeps/lr_random.yaml --count 8 # random search: 8 proposals
    python sweep.py sweeps/study1.yaml --dry-run    # print the commands, run nothing
    python sweep.py sweeps/study2.yaml --jobs 8     # 8 runs side by side (a GPU box)

With a server the same file runs on any number of machines:
    wandb sweep sweeps/study1.yaml   then   wandb agent ENTITY/PROJECT/SWEEP_ID

Each proposal is launched the way ``wandb agent`` launches it (the file's ``command`` with
``${env} ${interpreter} ${program} ${args}``, arguments as ``--key=value``, booleans as
``--key=True``), recorded offline by W&B, with its log under the sweep's folder. A run that dies is
reported and the sweep goes on. Each proposal has a fixed run folder named from its parameters, so
running the command again skips finished runs and resumes interrupted ones from their checkpoints.
Methods: grid and random (seeded, reproducible); bayes needs W&B's server.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from common import config as C
from common.config import Config
from common.errors import UsageError
from common.runs import Run, cli, keep_aside, read_json, writable_folder, write_json

# settings a sweep that varies them is choosing (epochs is also a study's question: study1.yaml)
RECIPE_KEYS = {"lr", "loc_lr", "batch_size", "optimizer", "momentum", "weight_decay", "sched", "warmup_epochs", "grad_clip",
               "label_smoothing", "ema", "ema_warmup", "pstn_kl", "pstn_prior"}
TOP_KEYS = {"program", "method", "metric", "parameters", "command", "name", "description", "early_terminate", "project", "entity", "run_cap"}
DISTRIBUTIONS = {"constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform_values", "q_log_uniform_values", "normal", "q_normal", "log_normal", "q_log_normal"}
CONFIG_KEYS = set(Config.__dataclass_fields__)


# --------------------------------------------------------------------------- validation
def load_sweep(path: Path) -> dict:
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        shipped = ", ".join(f"sweeps/{f.name}" for f in sorted((Path(__file__).resolve().parent / "sweeps").glob("*.yaml")))
        raise UsageError(f"cannot read sweep file {path} ({err.strerror}); pass a sweep file, e.g. one of {shipped}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"sweep file {path} is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    validate(spec, path)
    return spec


def validate(spec, path) -> None:
    """W&B's rules for a sweep config, checked before any run starts."""
    def bad(msg):
        raise UsageError(f"invalid sweep file {path}: {msg}")

    if not isinstance(spec, dict):
        bad("the top level must be a mapping with program, method and parameters")
    unknown = set(spec) - TOP_KEYS
    if unknown:
        bad(f"unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    for key in ("method", "parameters"):
        if key not in spec:
            bad(f"'{key}' is required")
    if Path(str(spec.get("program", "train.py"))).name != "train.py":
        bad(f"program must be train.py (this project's trainer; its flags are what the parameters name), not {spec['program']!r}")
    if spec["method"] not in ("grid", "random", "bayes"):
        bad(f"method must be grid, random or bayes, not {spec['method']!r}")
    if spec["method"] == "bayes" and not isinstance(spec.get("metric"), dict):
        bad("bayes needs a metric with name and goal")
    if "metric" in spec:
        m = spec["metric"]
        if not isinstance(m, dict) or "name" not in m or m.get("goal", "minimize") not in ("minimize", "maximize"):
            bad("metric must be a mapping with name and goal (minimize or maximize)")
    params = spec["parameters"]
    if not isinstance(params, dict) or not params:
        bad("parameters must be a non-empty mapping")
    for name, p in params.items():
        if name not in CONFIG_KEYS:
            bad(f"parameter {name!r} is not a train.py option (see python train.py --help)")
        if not isinstance(p, dict):
            bad(f"parameter {name!r} must be a mapping with value, values, or a distribution")
        kinds = [k for k in ("value", "values", "distribution") if k in p] + (["range"] if "min" in p and "distribution" not in p else [])
        if len(kinds) != 1:
            bad(f"parameter {name!r} needs exactly one of value, values, or min/max (with an optional distribution)")
        if "values" in p and (not isinstance(p["values"], list) or not p["values"]):
            bad(f"parameter {name!r}: values must be a non-empty list")
        dist = p.get("distribution")
        if dist is not None and dist not in DISTRIBUTIONS:
            bad(f"parameter {name!r}: unknown distribution {dist!r}")
        if ("min" in p) != ("max" in p):
            bad(f"parameter {name!r}: min and max go together")
        if spec["method"] == "grid" and ("min" in p or dist not in (None, "constant", "categorical")):
            bad(f"grid search needs value or values for every parameter; {name!r} is a distribution")
    if "command" in spec and not (isinstance(spec["command"], list) and all(isinstance(c, str) for c in spec["command"])):
        bad("command must be a list of strings")
    for name, p in params.items():  # every value through train.py's converters (YAML reads 1e-3 as a string)
        for v in p.get("values", []) + ([p["value"]] if "value" in p else []):
            try:
                C.convert(name, v, f"parameter {name}")
            except UsageError as err:
                bad(str(err))
        for key in ("min", "max", "q", "mu", "sigma"):
            if key in p:
                p[key] = number(p[key], lambda: bad(f"parameter {name!r}: {key}={p[key]!r} is not a number; write e.g. 0.001 or 1e-3"))
        if "min" in p and not p["min"] < p["max"]:
            bad(f"parameter {name!r}: min ({p['min']}) must be below max ({p['max']})")
    if spec["method"] == "bayes" and not holds_out(spec):  # its runs come from W&B's server: checked here, on the file
        bad(f"a bayes search {CHOOSES}")


CHOOSES = ("chooses a recipe, and a recipe is chosen on a validation split, never a test set: every run needs one; "
           "add `holdout: {value: 10000}` to its parameters (or --holdout=10000 to its command)")


def choosing(spec: dict) -> list[str]:
    """What makes the sweep a choice of recipe: its method if a search, else the recipe settings
    (``RECIPE_KEYS``) its grid varies; [] for a study (a grid over heads, sets, seeds, epochs)."""
    if spec["method"] != "grid":
        return [f"a {spec['method']} search"]
    tuned = sorted(k for k, p in spec["parameters"].items() if k in RECIPE_KEYS and len(p.get("values", [])) > 1)
    return [f"a grid over {', '.join(tuned)}"] if tuned else []


def holds_out(spec: dict) -> bool:
    """Does the file itself give every run a validation split (a non-zero ``holdout`` parameter,
    or ``--holdout=N`` / ``--holdout N`` in its command)? Used for bayes files, whose runs are
    proposed by W&B's server; other methods are checked run by run (``check_proposals``)."""
    p = spec["parameters"].get("holdout")
    if isinstance(p, dict):
        vals = p.get("values", [p.get("value")] if "value" in p else [p.get("min")])
        return all(str(v).strip() not in ("0", "None", "") for v in vals)
    cmd = [str(c) for c in spec.get("command", [])]
    flags = [c.split("=", 1)[1] for c in cmd if c.startswith("--holdout=")]
    flags += [cmd[i + 1] for i, c in enumerate(cmd[:-1]) if c == "--holdout"]
    return bool(flags) and all(f.strip() != "0" for f in flags)


def number(v, fail):
    """A sweep file's number: YAML 1.1 reads ``1e-3`` (no dot) as a string; ints stay ints (W&B
    infers int_uniform from integer bounds)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return fail()
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                v = float(v)
            except ValueError:
                return fail()
    return v if math.isfinite(v) else fail()


def run_configs(spec: dict, props: list[dict], extra: list[str], path) -> list:
    """The config each proposal's train.py will run with, resolved exactly as it will be (its
    command's flags, then its parameters as ``wandb.config``). Raises UsageError (one line)
    naming the first run that would fail."""
    import variants
    from common import data

    heads, sets = variants.names(), list(data.DATASETS)

    def resolved(params, flags):
        argv = command_for(spec, params, flags)
        return C.resolve(argv[argv.index(spec.get("program", "train.py")) + 1 :], heads, sets, sweep=params)

    def resolves(params, flags) -> bool:
        try:
            resolved(params, flags)
        except UsageError:
            return False
        return True
    out = []
    for params in props:
        try:
            out.append(resolved(params, extra))
        except UsageError as err:
            if extra and resolves(params, []):  # the run without the flags after -- is fine: the fault is theirs, not the file's
                raise UsageError(f"the train.py flags after -- ({shlex.join(extra)}) would fail the run {params}: {err}") from None
            raise UsageError(f"invalid sweep file {path}: the run {params} would fail: {err}") from None
    return out


def check_proposals(spec: dict, props: list[dict], extra: list[str], path) -> None:
    """Resolve every proposal's config (``run_configs``), and check that the sweep's metric is one
    each run logs and that every run of a sweep that chooses a recipe (``choosing``) holds out a
    validation split. Raises UsageError (one line) before any run starts."""
    metric = (spec.get("metric") or {}).get("name")
    for params, cfg in zip(props, run_configs(spec, props, extra, path)):
        if choosing(spec) and not cfg.holdout:  # each run as launched: the file's command, its parameters and extra flags
            raise UsageError(f"invalid sweep file {path}: {choosing(spec)[0]} {CHOOSES}")
        if metric and metric not in C.summary_metrics(cfg):
            logs = sorted(n for n in C.summary_metrics(cfg) if n.startswith("final/"))
            raise UsageError(f"invalid sweep file {path}: metric {metric!r} is never logged by the run {params} "
                             f"(it logs {', '.join(logs)}); name one every run logs, e.g. final/accuracy (each run's own set)")


# --------------------------------------------------------------------------- proposals
def grid(params: dict) -> list[dict]:
    names = list(params)
    axes = [p["values"] if "values" in p else [p["value"]] for p in params.values()]
    return [dict(zip(names, combo)) for combo in itertools.product(*axes)]


def sample(p: dict, rng: random.Random):
    if "value" in p:
        return p["value"]
    if "values" in p:
        return rng.choice(p["values"])
    lo, hi = p["min"], p["max"]
    dist = p.get("distribution") or ("int_uniform" if isinstance(lo, int) and isinstance(hi, int) else "uniform")
    if dist == "int_uniform":
        return rng.randint(lo, hi)
    if dist == "uniform":
        return rng.uniform(lo, hi)
    if dist == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if dist == "q_uniform":
        q = p.get("q", 1)
        return round(rng.uniform(lo, hi) / q) * q
    raise UsageError(f"distribution {dist!r} is not supported offline; use uniform, int_uniform, log_uniform_values or values")


def proposals(spec: dict, count: int | None, seed: int) -> list[dict]:
    if spec["method"] == "grid":
        props = grid(spec["parameters"])
        return props[:count] if count else props
    if spec["method"] == "bayes":
        raise UsageError("bayes proposals come from W&B's server; run it with `wandb sweep` + `wandb agent`, or use method: random here")
    n = count or spec.get("run_cap")
    if not n:
        raise UsageError("random search needs --count N (or run_cap in the sweep file)")
    rng = random.Random(seed)
    return [{k: sample(p, rng) for k, p in spec["parameters"].items()} for _ in range(n)]


def select(props: list[dict], where: list[str], parameters: dict) -> list[dict]:
    """The proposals matching every ``KEY=VALUE``, compared as train.py reads them (``coordconv=true``
    matches True, ``lr=1e-3`` matches 0.001; names ignore case)."""
    def typed(key, v, source=""):
        v = C.convert(key, v, source)
        return v.lower() if isinstance(v, str) else v

    for cond in where:
        key, sep, value = cond.partition("=")
        if not sep or key not in parameters:
            raise UsageError(f"--where {cond!r}: expected KEY=VALUE with KEY one of {', '.join(parameters)}")
        want = typed(key, value, f"--where {cond}")
        values = list(dict.fromkeys(fmt(p[key]) for p in props))
        props = [p for p in props if typed(key, p[key]) == want]
        if not props:
            raise UsageError(f"no proposal matches {' and '.join(where)}: {key} takes {', '.join(values)} here")
    return props


# --------------------------------------------------------------------------- launching
def fmt(v) -> str:
    return str(v)  # W&B passes Python's str(): True/False, 0.001, 5


def command_for(spec: dict, params: dict, extra: list[str]) -> list[str]:
    args = [f"--{k}={fmt(v)}" for k, v in params.items()] + extra
    out = []
    for tok in spec.get("command") or ["${env}", "${interpreter}", "${program}", "${args}"]:
        if tok == "${env}":
            continue  # the environment is passed to the child as it is
        elif tok == "${interpreter}":
            out.append(sys.executable)
        elif tok == "${program}":
            out.append(spec.get("program", "train.py"))
        elif tok == "${args}":
            out += args
        elif tok == "${args_no_hyphens}":
            out += [a[2:] for a in args]
        elif tok == "${args_no_boolean_flags}":
            out += [f"--{k}" if v is True else f"--{k}={fmt(v)}" for k, v in params.items() if v is not False] + extra
        else:
            out.append(tok)
    return out


def run_flags(root: Path, rid: str) -> list[str]:
    """Where sweep.py puts a proposal's run (the agent leaves these to train.py's defaults)."""
    return ["--out-dir", str(root / "runs"), "--run-name", rid, "--img", str(root / "runs" / rid / "stn.png")]


def write_params(path: Path, params: dict) -> Path:
    """The proposal's parameters in the file format ``wandb agent`` writes for each run (and names
    in $WANDB_SWEEP_PARAM_PATH): ``wandb.init`` loads it into ``wandb.config``, train.py resolves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("wandb_version: 1\n\n" + yaml.safe_dump({k: {"value": v} for k, v in params.items()}, sort_keys=False))
    return path


def run_id(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]


def run_state(run_dir: Path) -> tuple[str, UsageError | None]:
    """Where a proposal's run folder stands: ``"new"`` (no final.json: runs, or resumes from its
    checkpoint), ``"finished"``, ``"damaged, resumable"`` (final.json unreadable, checkpoint.pt
    there: rerun, it resumes and rewrites final.json) or ``"damaged"`` (no checkpoint: not run);
    with the reader's error for a damaged one."""
    if not (run_dir / "final.json").exists():
        return "new", None
    try:
        Run(run_dir).final
        return "finished", None
    except UsageError as err:
        return ("damaged, resumable" if (run_dir / "checkpoint.pt").exists() else "damaged"), err


def metric_of(run_dir: Path, name: str | None):
    if not name or not (run_dir / "final.json").exists():
        return None
    try:
        fin = Run(run_dir).final
    except UsageError as err:  # the summary of every other run still gets written
        print(f"warning: {err}", file=sys.stderr)
        return None
    flat = {f"final/{s}/{k}": v for s, t in fin["test"].items() for k, v in t.items()}
    flat |= {f"final/{k}": v for k, v in next(iter(fin["test"].values())).items()}  # the run's own test set
    return flat.get(name)


class Runner:
    """Launches runs and keeps them killable as one: SIGTERM/SIGINT to the sweep is passed on to
    every running train.py (which checkpoints and exits) and no further run starts, so a
    preempted sweep resumes where it stopped."""

    def __init__(self, root: Path, env: dict, total: int):
        self.root, self.env, self.total = root, env, total
        self.param_dir = Path(tempfile.mkdtemp(prefix=f"sweep-{root.name}-params-"))  # the agent's per-run files; removed by close()
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def install_signal_handlers(self) -> None:
        def handler(signum, frame):
            with self.lock:
                self.stopping = True
                for child in self.children:
                    child.send_signal(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handler)

    def run(self, i: int, rid: str, run_dir: Path, cmd: list[str], params: dict | None = None) -> str:
        state, err = run_state(run_dir)
        if state == "finished":
            return "done (kept)"
        if state == "damaged":  # finished, then damaged, and no checkpoint: training it afresh would overwrite its record
            print(f"error: {err}; no checkpoint.pt to resume from: restore final.json, or move the run folder away to train "
                  "it afresh", file=sys.stderr)
            return "FAILED (final.json damaged, no checkpoint)"
        if state == "damaged, resumable":
            print(f"warning: {err}; running it again from its checkpoint (the damaged file: {keep_aside(run_dir / 'final.json').name})",
                  file=sys.stderr)
        line = shlex.join(cmd)
        log = self.root / f"{rid}.log"
        with self.lock:
            if self.stopping:
                return "not started (sweep stopped)"
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(log, "a")
        with fh:
            with self.lock:
                print(f"[{i}/{self.total}] {line}", file=sys.stderr)
                fh.write(f"$ {line}\n")
                fh.flush()
                t0 = time.time()
                # its own session: a Ctrl-C at the terminal reaches the sweep, which passes it on once
                env = self.env if params is None else {**self.env, C.SWEEP_PARAM_ENV: str(write_params(self.param_dir / f"{rid}.yaml", params))}
                child = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
                self.children.add(child)
            rc = child.wait()
            with self.lock:
                self.children.discard(child)
        if rc == 0:
            print(f"  [{i}/{self.total}] done in {time.time() - t0:.0f} s", file=sys.stderr)
            return "ok"
        if self.stopping:
            print(f"  run {rid} stopped (exit {rc}); run the sweep again to resume it", file=sys.stderr)
            return f"stopped (exit {rc}; run the sweep again to resume)"
        print(f"  run {rid} failed with exit code {rc}; see {log}; going on", file=sys.stderr)
        return f"FAILED (exit {rc}, see {log})"


def write_summary(path: Path, rows: list[dict]) -> None:
    """Merge ``rows`` into the sweep's summary.json by run id: a slice (``--where``, ``--count``)
    updates its own runs and keeps the others' lines."""
    merged: dict[str, dict] = {}
    if path.exists():
        try:
            merged = {r["run"]: r for r in read_json(path, list, fix="its rows are rebuilt as each slice runs again")}
        except (UsageError, TypeError, KeyError) as err:  # kept aside, never overwritten unseen
            aside = keep_aside(path)
            print(f"warning: {err if isinstance(err, UsageError) else f'{path} holds rows without a run id'}; "
                  f"kept as {aside.name} and started afresh", file=sys.stderr)
    merged.update({r["run"]: r for r in rows})
    write_json(path, list(merged.values()))


def main(argv=None) -> int:
    ap = C.Parser(description=__doc__.split("\n\n")[0], formatter_class=C.HelpFormatter)
    ap.add_argument("sweep", help="a W&B sweep YAML file")
    ap.add_argument("--count", type=C.at_least(0), default=0, help="number of runs (random: required unless run_cap; grid: the first N)")
    ap.add_argument("--out-dir", default="sweeps_out", help="folder for the sweep's runs and logs")
    ap.add_argument("--seed", type=int, default=0, help="random search: proposal seed")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--jobs", type=C.at_least(1), default=1, help="runs at a time (a GPU box runs several small runs side by side)")
    ap.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="run only the proposals whose parameter KEY is VALUE (repeatable); run ids are the full sweep's, "
                         "so slices run on different machines fill one sweep")
    ap.epilog = "Extra train.py flags for every run go after --, e.g. -- --train-limit=1000"
    argv = sys.argv[1:] if argv is None else list(argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    a.extra = argv[cut + 1 :]
    try:
        spec = load_sweep(Path(a.sweep))
        props = select(proposals(spec, a.count, a.seed), a.where, spec["parameters"])
        check_proposals(spec, props, a.extra, a.sweep)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    name = spec.get("name") or Path(a.sweep).stem
    root = Path(a.out_dir) / name
    env = {**os.environ, "WANDB_RUN_GROUP": name}
    if "WANDB_MODE" not in env and not env.get("WANDB_API_KEY"):
        env["WANDB_MODE"] = "offline"
    if a.jobs > 1 and "OMP_NUM_THREADS" not in env:  # share the cores: oversubscribed runs were 10x slower here
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // a.jobs))
    try:  # the sweep's folder, made and written to before any run starts (a dry run only looks)
        writable_folder(root, "--out-dir", make=not a.dry_run)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metric = (spec.get("metric") or {}).get("name")
    jobs, finished = [], 0
    for i, params in enumerate(props, 1):
        rid = f"{name}-{run_id(params)}"
        run_dir = root / "runs" / rid
        cmd = command_for(spec, params, run_flags(root, rid) + a.extra)
        if a.dry_run:
            state, _ = run_state(run_dir)
            finished += state == "finished"
            note = {"finished": "finished: would be skipped", "damaged, resumable": "final.json damaged: would resume from its checkpoint",
                    "damaged": "final.json damaged, no checkpoint: would not run"}.get(state)
            print(shlex.join(cmd) + (f"   # {note}" if note else ""))
        else:
            jobs.append((i, rid, params, run_dir, cmd))
    if a.dry_run:
        print(f"sweep {name}: {len(props)} runs checked ({finished} finished, would be skipped), folder {root}; nothing run",
              file=sys.stderr)
        return 0
    print(f"sweep {name}: {len(props)} runs ({spec['method']}, {a.jobs} at a time), folder {root}", file=sys.stderr)
    runner = Runner(root, env, len(props))
    runner.install_signal_handlers()

    def launch(job):
        i, rid, params, run_dir, cmd = job
        return runner.run(i, rid, run_dir, cmd, params)

    try:
        with ThreadPoolExecutor(max_workers=a.jobs) as pool:
            statuses = list(pool.map(launch, jobs))
    finally:
        shutil.rmtree(runner.param_dir, ignore_errors=True)
    results = [(rid, params, status, metric_of(run_dir, metric)) for (_, rid, params, run_dir, _), status in zip(jobs, statuses)]
    keys = list(spec["parameters"])
    print(f"\n| run | {' | '.join(keys)} | {metric or 'metric'} | status |")
    print("|---" * (len(keys) + 3) + "|")
    for rid, params, status, value in results:
        v = "" if value is None else f"{value:.4f}"
        print(f"| {rid} | {' | '.join(str(params[k]) for k in keys)} | {v} | {status} |")
    write_summary(root / "summary.json", [{"run": r, "params": p, "status": s, metric or "metric": v} for r, p, s, v in results])
    return 0 if all(s.startswith(("ok", "done")) for _, _, s, _ in results) else 1


if __name__ == "__main__":
    sys.exit(cli(main))
