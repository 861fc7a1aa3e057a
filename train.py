"""Train and test a spatial-transformer classifier.

    python train.py --variant affine --dataset mnist --epochs 10
    python train.py --variant tps --coordconv --epochs=10 --dataset rts

Every option is listed by ``--help`` with its default (see common/config.py). A run writes its
resolved config, per-epoch metrics and final checkpoint into one run folder, draws
imgs/stn.png, and logs to W&B (offline unless configured otherwise).
"""
from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

import torch

import variants
from common import data
from common.config import RUNTIME_KEYS, Config, convert, parse, scored_prefix, test_set_names
from common.errors import UsageError
from common.runs import keep_aside, read_json, writable_folder, write_json
from common.models import count_params
from common.tracking import Tracker
from common.trainer import Diverged, Stopped, Trainer, evaluate, pick_device, read_checkpoint, seed_everything


def make_run_dir(cfg: Config) -> Path:
    name = cfg.run_name or f"{cfg.variant}{'-cc' if cfg.coordconv else ''}-{cfg.dataset}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    return writable_folder(Path(cfg.out_dir) / name, "--out-dir")


def load_checkpoint(path: Path, cfg: Config) -> dict:
    sd = read_checkpoint(path, keys=("model", "optimizer", "config", "epoch"),
                         fix="move it aside to start this run afresh, or pick another --run-name")
    diff = cfg.differs(sd["config"])
    if diff:
        was = ", ".join(f"{k}={sd['config'].get(k)!r}" for k in diff)
        raise UsageError(f"{path.parent} holds a checkpoint of a different config ({was}); pick another --run-name or rerun with those values")
    return sd


def check_wandb_config(cfg: Config, wb: dict) -> None:
    """W&B's copy of the config must be the run's: the sweep's values were resolved before
    anything was loaded (``common.config.resolve`` reads the file ``wandb agent`` names), so a
    difference means W&B got a value from somewhere else; refused rather than logged twice."""
    mine = cfg.to_dict()
    for k, v in wb.items():
        if k in mine and k not in RUNTIME_KEYS and convert(k, v, "wandb.config") != mine[k]:
            raise UsageError(f"wandb.config sets {k}={v!r} but this run resolved {k}={mine[k]!r} from its flags and sweep parameters; "
                             f"pass it as --{k.replace('_', '-')} or in the sweep's parameters")


def record_environment(run_dir: Path, device, resume_from: dict | None) -> None:
    """Append this start's environment (``common.runenv``) to ``env.json``: one entry per start or
    resume, with the epoch and update it started from."""
    from common import runenv

    path = run_dir / "env.json"
    entries = []
    if path.exists():
        try:
            entries = read_json(path, list, fix="this start's entry begins a new file")
        except UsageError as err:  # kept aside, never overwritten unseen
            print(f"warning: {err}; the old file is kept as {keep_aside(path).name}", file=sys.stderr)
    at = {"epoch": resume_from["epoch"], "step": resume_from["step"]} if resume_from else {"epoch": 0, "step": 0}
    write_json(path, entries + [{**at, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **runenv.environment(device)}])


def install_stop_handlers(trainer: Trainer) -> dict:
    """SIGINT/SIGTERM: finish the current step, checkpoint, exit. A second SIGINT stops at once."""
    got = {}

    def handler(signum, frame):
        if trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        got["signal"] = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return got


def run(cfg: Config) -> dict:
    device = pick_device(cfg.device)
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.benchmark = device.type == "cuda"  # fixed shapes: let cuDNN pick its fastest convolutions
    seed_everything(cfg.seed)
    size = data.image_size(cfg.dataset)
    for name in test_set_names(cfg) if not cfg.holdout else []:
        if data.image_size(name) != size:
            raise UsageError(f"test set {name!r} is {data.image_size(name)}px but the model takes {size}px ({cfg.dataset}); pick test sets of the same size")
    if cfg.variant == "none" and cfg.coordconv:
        print("note: --variant none has no localisation net, so --coordconv changes nothing; --coordconv-classifier puts CoordConv in the classifier", file=sys.stderr)
    model = variants.build_model(cfg, warn=True).to(device)  # first: a head or classifier that cannot be built stops the run before anything is read or written
    root, cache = data.resolve_data_root(cfg.data_root), data.resolve_cache_dir(cfg.cache_dir)
    train_x, train_y = data.load_mnist(root, train=True)
    tests = {}
    if cfg.holdout:  # choose recipes here: the test sets are never loaded
        train_x, train_y, val = data.validation_split(cfg.dataset, train_x, train_y, cfg.holdout)
        tests[val.name] = val.head(cfg.test_limit)
    if cfg.train_limit:
        train_x, train_y = train_x[: cfg.train_limit], train_y[: cfg.train_limit]
    for name in test_set_names(cfg) if not cfg.holdout else []:
        tests[name] = data.load_test_set(name, root, cache).head(cfg.test_limit)
    run_dir = make_run_dir(cfg)
    writable_folder(Path(cfg.img).resolve().parent, fix="pass --img a path in a writable folder")  # the figure is drawn after training: its folder is checked now
    ckpt_path = run_dir / "checkpoint.pt"
    resume_from = None
    if ckpt_path.exists():
        resume_from = load_checkpoint(ckpt_path, cfg)
    elif cfg.resume:
        raise UsageError(f"nothing to resume: {run_dir} holds no checkpoint.pt; drop --resume to start afresh")

    wandb_id = (run_dir / "wandb_id").read_text().strip() if (run_dir / "wandb_id").exists() else None
    tracker = Tracker(cfg.to_dict(), enabled=cfg.wandb, project=cfg.wandb_project, name=run_dir.name, run_id=wandb_id)
    if tracker.run is not None:
        (run_dir / "wandb_id").write_text(tracker.run.id)
        check_wandb_config(cfg, tracker.config)
    write_json(run_dir / "config.json", cfg.to_dict())
    record_environment(run_dir, device, resume_from)

    n_head, n_clf = count_params(model.transformer), count_params(model.classifier)
    print(f"{cfg.variant} on {cfg.dataset} ({size}x{size}), {device.type}: {n_head:,} head + {n_clf:,} classifier parameters", file=sys.stderr)
    tracker.summary({"params_head": n_head, "params_classifier": n_clf})
    stream = data.TrainStream(cfg.dataset, train_x, train_y, batch_size=cfg.batch_size, seed=cfg.seed, device=device)
    first = next(iter(tests.values()))

    def on_epoch(row):
        scored = scored_prefix(cfg)  # a recipe search's charts never read as test results
        tracker.log({"train/loss": row["train_loss"], f"{scored}/loss": row["test_loss"], f"{scored}/accuracy": row["test_accuracy"],
                     "train/epoch_seconds": row["epoch_seconds"], "train/lr": row["lr"]}, step=row["epoch"])
        write_json(run_dir / "metrics.json", trainer.history)

    trainer = Trainer(cfg, model, stream, first, device, checkpoint=ckpt_path, on_epoch=on_epoch)
    if resume_from is not None:
        notes = trainer.load_state_dict(resume_from)
        print(f"resuming {run_dir} after epoch {trainer.epoch}" + (" (inside the next epoch)" if trainer.partial else ""), file=sys.stderr)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    got = install_stop_handlers(trainer)
    exit_code = 1
    try:
        trainer.run()
        results = {name: evaluate(model, ts, cfg.test_batch_size, device) for name, ts in tests.items()}
        for name, res in results.items():
            prefix = f"[{name}] " if len(results) > 1 else ""
            print(f"\n{prefix}{res.line()}")
        img = first.head(16).to(device)
        from common.viz import draw_stn

        fig = draw_stn(model, img.images.float().div(255), img.labels, cfg.img, title=f"{cfg.variant} on {cfg.dataset}")
        if fig.resolve() != (run_dir / "stn.png").resolve():
            shutil.copyfile(fig, run_dir / "stn.png")
        hist = trainer.history
        final = {
            "run_dir": str(run_dir), "params_head": n_head, "params_classifier": n_clf,
            "seconds_per_epoch": sum(r["epoch_seconds"] for r in hist) / len(hist),
            "test": {n: {"loss": r.loss, "accuracy": r.accuracy, "correct": r.correct, "n": r.n} for n, r in results.items()},
        }
        if cfg.eval == "full" and cfg.holdout:
            print("note: --holdout: the full evaluation (which reads the test sets) is skipped", file=sys.stderr)
        if cfg.eval == "full" and not cfg.holdout:
            from common.evaluation import evaluate_model, write_report

            report = evaluate_model(model, cfg.to_dict(), device, sets=list(tests), batch_size=cfg.test_batch_size, test_limit=cfg.test_limit)
            final["eval"] = {k: str(v) for k, v in write_report(report, run_dir / "eval").items()}
            rb = report["robustness"]
            print(f"robustness: rotation AUC {rb['rotation_auc']:.4f}, scale AUC {rb['scale_auc']:.4f}, invariance {rb['invariance']:.4f} "
                  f"(details: {run_dir / 'eval' / 'eval.md'})")
            tracker.summary({f"eval/{k}": rb[k] for k in ("rotation_auc", "scale_auc", "invariance")})
            if "png" in final["eval"]:
                tracker.image("eval/robustness", Path(final["eval"]["png"]))
        write_json(run_dir / "final.json", final)
        tracker.image("stn", run_dir / "stn.png")
        own = results[first.name]  # the first test set (the training set's own by default): one metric name for every sweep
        tracker.summary({f"final/{n}/accuracy": r.accuracy for n, r in results.items()} | {f"final/{n}/loss": r.loss for n, r in results.items()}
                        | {"final/accuracy": own.accuracy, "final/loss": own.loss})
        exit_code = 0
    except Stopped as stop:
        sig = signal.Signals(got.get("signal", signal.SIGINT))
        tracker.preempting()
        exit_code = 128 + sig.value
        print(f"{sig.name}: {stop}; checkpoint in {ckpt_path}; run the same command to continue", file=sys.stderr)
        raise SystemExit(exit_code) from None
    finally:
        tracker.finish(exit_code)
    print(f"run folder: {run_dir}  (figure: {cfg.img})")
    return final


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up in log files too
    try:
        cfg = parse(argv, variants.names(), list(data.DATASETS))
        run(cfg)
    except Diverged as err:
        print(f"error: {err} (the last good checkpoint is kept)", file=sys.stderr)
        Tracker.close_all(3)
        return 3
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        Tracker.close_all(2)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
