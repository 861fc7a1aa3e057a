"""Evaluate a saved model on every test set it can take, ours or yours.

    python evaluate.py RUN_DIR                 # every test set of the model's image size
    python evaluate.py RUN_DIR --sets mnist,rotated --test-limit 2000
    python evaluate.py RUN_DIR --sets all --test-file ext=digits.npz --test-file mnist_c/
    python evaluate.py RUN_A RUN_B --test-file digits.npz --out compare/   # runs side by side

Prints a table and writes RUN_DIR/eval/{eval.json, eval.md, robustness.png} and the per-set
report RUN_DIR/eval/{sets.md, sets.json, sets.png} (with several runs: the side-by-side report
in --out); logs them to each run's W&B record (Tables and images) when it has one (its
wandb_id file; --wandb starts one for a run trained without W&B, --wandb=False logs nothing).
--test-file reads .npz/.npy/.pt files, MNIST-C folders and ImageFolders of PNGs
(common/testfiles.py, docs/robustness.md); every file is checked before anything is written.
Metrics: README, "Choosing metrics".
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

from common import data, runs
from common.config import Config, HelpFormatter, Parser, at_least, str2bool
from common.errors import UsageError
from common import testfiles
from common.evaluation import compatible_sets, evaluate_model, scope, to_markdown, write_report, write_sets_report
from common.tracking import Tracker
from common.trainer import pick_device, read_checkpoint
from variants import build_model


def unfinished(run_dir: Path) -> bool:
    """A run folder train.py started (it writes config.json first) that has no final.json yet."""
    run = runs.Run(run_dir)
    return (run_dir / "config.json").exists() and not run.finished


def load_model(path: Path, device, *, data_root: str = "", cache_dir: str = ""):
    """(model, config, epoch) of a run folder or checkpoint file; ``data_root`` / ``cache_dir``,
    when given, replace the run's own (MNIST and the test-set cache on this machine). A run that has
    not finished is scored with a warning on stderr (its weights mid-training); UsageError (one
    line) for a path with no weights, or weights this version cannot read."""
    if not path.exists():
        raise UsageError(f"no run folder or file at {path}; pass a run folder (it holds checkpoint.pt or model.pt) or a .pt file")
    ckpt = path / "checkpoint.pt" if path.is_dir() else path
    if path.is_dir() and not ckpt.exists() and (path / "model.pt").exists():  # kept weights (results/study3), no optimizer
        ckpt = path / "model.pt"
    if not ckpt.exists():
        if path.is_dir() and unfinished(path):
            raise UsageError(f"{path} is a run that has not finished (no final.json) and holds no weights here (no checkpoint.pt: "
                             "it stayed on the machine that trained it); run its train.py or sweep command there to finish it, "
                             "or pick a finished run (it holds model.pt)")
        raise UsageError(f"no checkpoint at {ckpt}; pass a run folder (it holds checkpoint.pt or model.pt) or a .pt file")
    sd = read_checkpoint(ckpt)
    try:
        cfg = Config(**sd["config"])
    except TypeError:
        raise UsageError(f"{ckpt} holds a config this version does not know; was it written by another version of stn-lab?") from None
    if ckpt.name == "checkpoint.pt" and unfinished(ckpt.parent):
        part = " and part of the next" if sd.get("partial") is not None else ""
        print(f"warning: {ckpt.parent} has not finished (no final.json): scoring its weights after {sd.get('epoch', 0)} of its "
              f"{cfg.epochs} epochs{part}, not its final model; to finish it (if nothing is training it now), run its train.py or "
              "sweep command again: it resumes from this checkpoint", file=sys.stderr)
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("data_root", data_root), ("cache_dir", cache_dir)) if v})
    model = build_model(cfg)
    try:
        model.load_state_dict(sd["model"])
    except RuntimeError:
        raise UsageError(f"{ckpt} does not fit the model its config describes ({cfg.variant}, {cfg.dataset}); was it written by another version?") from None
    model = model.to(device)
    if device.type == "cpu":  # the layout the trainer used, so the numbers match to the last bit
        model.to(memory_format=torch.channels_last)
    return model, cfg, sd.get("epoch")


def earlier_scope(path: Path) -> str | None:
    """``scope`` of the report at ``path``; None when there is none, "unreadable" when damaged."""
    if not path.exists():
        return None
    try:
        return scope(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "unreadable"


def pick_sets(spec: str, size: int) -> list[str]:
    """Our test sets named by ``--sets`` for a model of input ``size``: a comma list, ``all``
    (every set that fits: the smaller ones are padded), ``none``, or empty (the model's size)."""
    if spec.strip() == "none":
        return []
    if spec.strip() == "all":
        return compatible_sets(size, padded=True)
    sets = [s.strip() for s in spec.split(",") if s.strip()] or compatible_sets(size)
    fits = ", ".join(compatible_sets(size, padded=True))
    for s in sets:
        if s not in data.DATASETS:
            raise UsageError(f"unknown test set {s!r}; choose from {fits} (or all, none)")
        if data.image_size(s) > size:
            raise UsageError(f"test set {s!r} is {data.image_size(s)}px; this model takes {size}px and larger sets are not resized: choose from {fits}")
    return sets


def read_test_files(specs: list[str]) -> tuple[dict[str, data.TestSet], dict[str, str]]:
    """``[NAME=]PATH`` -> (name -> TestSet, name -> path); every file is read and checked here."""
    sets, sources = {}, {}
    for spec in specs:
        name, path = spec.split("=", 1) if "=" in spec and not Path(spec).exists() else (None, spec)
        for n, ts in testfiles.read(path, name).items():
            if n in sets or n in data.DATASETS:
                what = "one of our test sets" if n in data.DATASETS else "another --test-file"
                raise UsageError(f"{path}: its name {n!r} is taken by {what}; name it with --test-file NAME=PATH")
            sets[n], sources[n] = ts, str(path)
    return sets, sources


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    ap.add_argument("run", nargs="+", help="run folder(s) (or checkpoint files)")
    ap.add_argument("--sets", default="", help="our test sets: comma-separated, 'all' (smaller ones padded), 'none' (default: every set of the model's image size)")
    ap.add_argument("--test-file", action="append", default=[], metavar="[NAME=]PATH",
                    help="a test set from a file or folder (.npz, .npy, .pt, MNIST-C, ImageFolder); repeatable")
    ap.add_argument("--out", default="", help="folder for the side-by-side report of the runs (sets.md, sets.json, sets.png, curves.png); needed with several runs")
    ap.add_argument("--test-limit", type=at_least(0), default=0, help="first N images of each test set (0: all)")
    ap.add_argument("--curves", type=str2bool, nargs="?", const=True, default=True, help="robustness curves and invariance")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--data-root", default="", help="MNIST root (default: the run's own, else $STN_DATA_ROOT, else ./data)")
    ap.add_argument("--cache-dir", default="", help="where fixed test sets are cached (default: the run's own, else $STN_CACHE_DIR, else ./cache)")
    ap.add_argument("--wandb", type=str2bool, nargs="?", const=True, default=None,
                    help="log to the run's W&B record (default: when the run has one, a wandb_id file; --wandb starts one otherwise)")
    ap.add_argument("--holdout-runs", type=str2bool, nargs="?", const=True, default=False,
                    help="also score runs trained with --holdout (recipe candidates) on test sets; off, they are refused, so a recipe is never chosen on a test set")
    a = ap.parse_intermixed_args(argv)  # runs may come after the flags
    try:
        if len(a.run) > 1 and not a.out:
            raise UsageError(f"{len(a.run)} runs need --out DIR for their side-by-side report")
        device = pick_device(a.device)
        files, sources = read_test_files(a.test_file)  # every file checked before any work
        jobs = []
        for run in a.run:
            model, cfg, epoch = load_model(Path(run), device, data_root=a.data_root, cache_dir=a.cache_dir)
            size = data.image_size(cfg.dataset)
            sets = pick_sets(a.sets, size)
            if cfg.holdout and not a.holdout_runs and (files or sets):
                raise UsageError(f"{run} was trained with --holdout={cfg.holdout}: a recipe candidate, chosen on its validation split "
                                 "(final.json); scoring it on test sets would choose on them. Train the chosen recipe without --holdout "
                                 "and evaluate that run, or pass --holdout-runs to score it anyway")
            for ts in files.values():
                testfiles.check_fits(ts, size)  # a larger set is refused now, before any work
            if not sets and not files:
                raise UsageError("--sets=none and no --test-file: nothing to evaluate")
            run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
            jobs.append((run_dir, model, cfg, epoch, sets))
        check_writable([j[0] / "eval" for j in jobs], a.out)  # before any scoring, not after
        labels = [j[0].name for j in jobs]
        if len(set(labels)) < len(labels):
            labels = [str(j[0]) for j in jobs]
        done = {}
        for label, (run_dir, model, cfg, epoch, sets) in zip(labels, jobs):
            report = evaluate_model(model, cfg.to_dict(), device, sets=sets, test_limit=a.test_limit, curves=a.curves, files=files)
            report["epoch"] = epoch
            for n, src in sources.items():
                report["sets"][n]["source"] = src
            earlier = earlier_scope(run_dir / "eval" / "eval.json")
            paths = write_report(report, run_dir / "eval")
            paths.update({f"sets_{k}": p for k, p in write_sets_report({label: report}, run_dir / "eval").items()})
            print(to_markdown(report))
            print(f"wrote {', '.join(str(p) for p in paths.values())}")
            if earlier not in (None, scope(report)):  # the report is a function of the model: it can be made again, but say so
                print(f"note: replaced the earlier report in {run_dir / 'eval'} ({earlier}); a report is made from the model "
                      f"and can be made again (python evaluate.py {run_dir}: every set of its size, with curves)")
            done[label] = (report, paths, run_dir, cfg)
        if a.out:
            side = write_sets_report({k: v[0] for k, v in done.items()}, Path(a.out))
            print((Path(a.out) / "sets.md").read_text())
            print(f"wrote {', '.join(str(p) for p in side.values())}")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a read-only run folder: the reports written so far are whole (atomic)
        print(f"error: cannot write {err.filename} ({err.strerror}); make the run folder writable and run again", file=sys.stderr)
        return 2
    for report, paths, run_dir, cfg in done.values():
        if a.wandb or (a.wandb is None and (run_dir / "wandb_id").exists()):
            log_report(report, paths, run_dir, cfg)
    return 0


def check_writable(eval_dirs: list[Path], out: str) -> None:
    """Make and probe ``--out`` and each run's ``eval/`` folder; raises UsageError naming the first
    that cannot be written, after removing the (empty) folders this check made."""
    folders = [(Path(out), "--out", "")] if out else []
    folders += [(d, "", "make the run folder writable, or evaluate a copy of it") for d in eval_dirs]
    made = []
    try:
        for folder, flag, fix in folders:
            new = not folder.exists()
            runs.writable_folder(folder, flag, fix)
            if new:
                made.append(folder)
    except UsageError:
        for folder in reversed(made):
            folder.rmdir()
        raise


def log_report(report, paths, run_dir: Path, cfg: Config) -> None:
    wid = (run_dir / "wandb_id").read_text().strip() if (run_dir / "wandb_id").exists() else None
    tracker = Tracker(cfg.to_dict(), enabled=True, project=cfg.wandb_project, name=run_dir.name, run_id=wid)
    rows = [[n, r["accuracy"], r["error"], r["error_ci95"][0], r["error_ci95"][1], r["nll"], r["ece"]] for n, r in report["sets"].items()]
    tracker.table("eval/test_sets", ["test set", "accuracy", "error", "error_lo", "error_hi", "nll", "ece"], rows)
    if "png" in paths:
        tracker.image("eval/robustness", paths["png"])
    if "sets_png" in paths:
        tracker.image("eval/sets", paths["sets_png"])
    if "robustness" in report:
        keys = ("rotation_auc", "scale_auc", "invariance", "translation_auc")
        tracker.summary({f"eval/{k}": report["robustness"][k] for k in keys if k in report["robustness"]})
    tracker.finish()


if __name__ == "__main__":
    sys.exit(runs.cli(main))
