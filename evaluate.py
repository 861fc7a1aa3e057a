"""Evaluate a saved model on every test set it can take.

    python evaluate.py RUN_DIR                 # every test set of the model's image size
    python evaluate.py RUN_DIR --sets mnist,rotated --test-limit 2000

Prints a table and writes RUN_DIR/eval/{eval.json, eval.md, robustness.png}; logs them to the
run's W&B record (a Table and images) unless --wandb=False. Metrics: README, "Choosing metrics".
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from common import data
from common.config import Config, str2bool
from common.errors import UsageError
from common.evaluation import compatible_sets, evaluate_model, to_markdown, write_report
from common.tracking import Tracker
from common.trainer import build_model, pick_device


def load_model(path: Path, device):
    ckpt = path / "checkpoint.pt" if path.is_dir() else path
    if not ckpt.exists():
        raise UsageError(f"no checkpoint at {ckpt}; pass a run folder (it holds checkpoint.pt) or a .pt file")
    try:
        sd = torch.load(ckpt, map_location="cpu", weights_only=True)
        cfg = Config(**sd["config"])
    except Exception:
        raise UsageError(f"{ckpt} is corrupt or not a stn-lab checkpoint; retrain, or point at another run") from None
    model = build_model(cfg)
    try:
        model.load_state_dict(sd["model"])
    except RuntimeError:
        raise UsageError(f"{ckpt} does not fit the model its config describes ({cfg.variant}, {cfg.dataset}); was it written by another version?") from None
    model = model.to(device)
    if device.type == "cpu":  # the layout the trainer used, so the numbers match to the last bit
        model.to(memory_format=torch.channels_last)
    return model, cfg, sd.get("epoch")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("run", help="run folder (or checkpoint file)")
    ap.add_argument("--sets", default="", help="comma-separated test sets (default: every set of the model's image size)")
    ap.add_argument("--test-limit", type=int, default=0, help="first N images of each test set (0: all)")
    ap.add_argument("--curves", type=str2bool, nargs="?", const=True, default=True, help="robustness curves and invariance")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--wandb", type=str2bool, nargs="?", const=True, default=True, help="log to the run's W&B record")
    a = ap.parse_args(argv)
    try:
        device = pick_device(a.device)
        model, cfg, epoch = load_model(Path(a.run), device)
        size = data.image_size(cfg.dataset)
        sets = [s.strip() for s in a.sets.split(",") if s.strip()] or compatible_sets(size)
        for s in sets:
            if s not in data.DATASETS:
                raise UsageError(f"unknown test set {s!r}; choose from {', '.join(compatible_sets(size))}")
            if data.image_size(s) != size:
                raise UsageError(f"test set {s!r} is {data.image_size(s)}px; this model takes {size}px: choose from {', '.join(compatible_sets(size))}")
        report = evaluate_model(model, cfg.to_dict(), device, sets=sets, test_limit=a.test_limit, curves=a.curves)
        report["epoch"] = epoch
        run_dir = Path(a.run) if Path(a.run).is_dir() else Path(a.run).parent
        paths = write_report(report, run_dir / "eval")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_markdown(report))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if a.wandb:
        log_report(report, paths, run_dir, cfg)
    return 0


def log_report(report, paths, run_dir: Path, cfg: Config) -> None:
    wid = (run_dir / "wandb_id").read_text().strip() if (run_dir / "wandb_id").exists() else None
    tracker = Tracker(cfg.to_dict(), enabled=True, project=cfg.wandb_project, name=run_dir.name, run_id=wid)
    rows = [[n, r["accuracy"], r["error"], r["error_ci95"][0], r["error_ci95"][1], r["nll"], r["ece"]] for n, r in report["sets"].items()]
    tracker.table("eval/test_sets", ["test set", "accuracy", "error", "error_lo", "error_hi", "nll", "ece"], rows)
    if "png" in paths:
        tracker.image("eval/robustness", paths["png"])
    if "robustness" in report:
        tracker.summary({f"eval/{k}": report["robustness"][k] for k in ("rotation_auc", "scale_auc", "invariance")})
    tracker.finish()


if __name__ == "__main__":
    sys.exit(main())
