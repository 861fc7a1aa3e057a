"""Train and test a spatial-transformer classifier.

    python train.py --variant affine --dataset mnist --epochs 10
    python train.py --variant tps --coordconv --epochs=10 --dataset rts

Every option is listed by ``--help`` with its default (see common/config.py). A run writes its
resolved config, per-epoch metrics and final checkpoint into one run folder, draws
imgs/stn.png, and logs to W&B (offline unless configured otherwise).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

import variants
from common import data
from common.config import Config, parse, test_set_names, validate
from common.errors import UsageError
from common.models import count_params
from common.tracking import Tracker
from common.trainer import build_model, evaluate, fit, pick_device, seed_everything


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def make_run_dir(cfg: Config) -> Path:
    name = cfg.run_name or f"{cfg.variant}{'-cc' if cfg.coordconv else ''}-{cfg.dataset}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out_dir) / name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"cannot write the run folder {run_dir} ({err.strerror}); pass --out-dir pointing at a writable folder") from None
    return run_dir


def run(cfg: Config) -> dict:
    device = pick_device(cfg.device)
    torch.set_float32_matmul_precision("high")
    seed_everything(cfg.seed)
    root, cache = data.resolve_data_root(cfg.data_root), data.resolve_cache_dir(cfg.cache_dir)
    train_x, train_y = data.load_mnist(root, train=True)
    if cfg.train_limit:
        train_x, train_y = train_x[: cfg.train_limit], train_y[: cfg.train_limit]
    size = data.image_size(cfg.dataset)
    tests = {}
    for name in test_set_names(cfg):
        if data.image_size(name) != size:
            raise UsageError(f"test set {name!r} is {data.image_size(name)}px but the model takes {size}px ({cfg.dataset}); pick test sets of the same size")
        tests[name] = data.load_test_set(name, root, cache).head(cfg.test_limit)
    run_dir = make_run_dir(cfg)

    tracker = Tracker(cfg.to_dict(), enabled=cfg.wandb, project=cfg.wandb_project, name=run_dir.name)
    if tracker.run is not None:  # a sweep overrides values through wandb.config
        merged = {**cfg.to_dict(), **{k: v for k, v in tracker.config.items() if k in cfg.to_dict()}}
        cfg = validate(Config(**merged), variants.names(), list(data.DATASETS))
    write_json(run_dir / "config.json", cfg.to_dict())

    model = build_model(cfg).to(device)
    n_head, n_clf = count_params(model.transformer), count_params(model.classifier)
    print(f"{cfg.variant} on {cfg.dataset} ({size}x{size}), {device.type}: {n_head:,} head + {n_clf:,} classifier parameters", file=sys.stderr)
    tracker.summary({"params_head": n_head, "params_classifier": n_clf})
    stream = data.TrainStream(cfg.dataset, train_x, train_y, batch_size=cfg.batch_size, seed=cfg.seed, device=device)
    first = next(iter(tests.values()))
    history: list[dict] = []

    def on_epoch(row):
        history.append(row)
        tracker.log({f"train/loss": row["train_loss"], "test/loss": row["test_loss"], "test/accuracy": row["test_accuracy"],
                     "train/epoch_seconds": row["epoch_seconds"], "train/lr": row["lr"]}, step=row["epoch"])
        write_json(run_dir / "metrics.json", history)

    exit_code = 1
    try:
        fit(cfg, model, stream, first, device, on_epoch=on_epoch)
        results = {name: evaluate(model, ts, cfg.test_batch_size, device) for name, ts in tests.items()}
        for name, res in results.items():
            prefix = f"[{name}] " if len(results) > 1 else ""
            print(f"\n{prefix}{res.line()}")
        img = data.TestSet.head(first, 16).to(device)
        from common.viz import draw_stn

        fig = draw_stn(model, img.images.float().div(255), img.labels, cfg.img, title=f"{cfg.variant} on {cfg.dataset}")
        shutil.copyfile(fig, run_dir / "stn.png")
        torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "epoch": cfg.epochs}, run_dir / ".checkpoint.tmp")
        os.replace(run_dir / ".checkpoint.tmp", run_dir / "checkpoint.pt")
        final = {
            "run_dir": str(run_dir), "params_head": n_head, "params_classifier": n_clf,
            "seconds_per_epoch": sum(r["epoch_seconds"] for r in history) / len(history),
            "test": {n: {"loss": r.loss, "accuracy": r.accuracy, "correct": r.correct, "n": r.n} for n, r in results.items()},
        }
        write_json(run_dir / "final.json", final)
        tracker.image("stn", run_dir / "stn.png")
        tracker.summary({f"final/{n}/accuracy": r.accuracy for n, r in results.items()} | {f"final/{n}/loss": r.loss for n, r in results.items()})
        exit_code = 0
    finally:
        tracker.finish(exit_code)
    print(f"run folder: {run_dir}  (figure: {cfg.img})")
    return final


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse(argv, variants.names(), list(data.DATASETS))
        run(cfg)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
