"""Pack study 3's sweep folders for the trip back from a GPU box (at most 8 files of 16 MiB).

    python scripts/study3_pack.py SWEEPS_DIR OUT_DIR
    python scripts/study3_pack.py SWEEPS_DIR --in-place   # model.pt beside each finished run's checkpoint

Writes OUT_DIR/study3_runs.tar.gz (every run's config.json, metrics.json, final.json, stn.png
and logs, no checkpoints) and, for every finished run, its weights and config as ``model.pt``
(what ``evaluate.py`` reads) in OUT_DIR/models-<dataset>.tar. Unfinished runs come back
without weights (they restart on the machine that continues the sweep), unless PARTIAL=1: then
their whole checkpoint.pt travels in the same tar, to be resumed elsewhere.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import tarfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.config import Parser  # noqa: E402
from common.errors import UsageError  # noqa: E402
from common.runs import Run, cli, writable_folder  # noqa: E402
from common.trainer import read_checkpoint  # noqa: E402
from kept_models import SWEEPS as WEIGHTS_OF  # noqa: E402  (the sweeps whose models are kept)

KEEP = ("config.json", "metrics.json", "final.json", "stn.png")


def slim(ckpt: Path) -> bytes:
    sd = read_checkpoint(ckpt, keys=("model", "config", "epoch"))
    buf = io.BytesIO()
    torch.save({"model": sd["model"], "config": sd["config"], "epoch": sd["epoch"]}, buf)
    return buf.getvalue()


def keepable(run: Path) -> bool:
    """A finished run of a study sweep whose weights are kept (model.pt from its checkpoint)."""
    return run.parent.parent.name in WEIGHTS_OF and (run / "final.json").exists() and (run / "checkpoint.pt").exists()


def check(sweeps: Path) -> None:
    if not any(sweeps.glob("*/runs/*/config.json")):
        raise UsageError(f"no run folders under {sweeps}/*/runs; pass the folder that holds the sweeps (e.g. results/study3/sweeps)")


def main(sweeps: Path, out: Path, partial: bool = False) -> None:
    """Write the archives in a hidden folder of OUT_DIR, then move them in: a fault halfway (a
    corrupt checkpoint or config: one line, exit 2) leaves no half archive under a final name, and
    a folder with no runs replaces nothing."""
    check(sweeps)
    stage = out / ".packing"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    models: dict[str, tarfile.TarFile] = {}
    with tarfile.open(stage / "study3_runs.tar.gz", "w:gz") as tar:
        for f in sorted(sweeps.glob("*/*.log")) + sorted(sweeps.glob("*/summary.json")):
            tar.add(f, arcname=str(f.relative_to(sweeps.parent)))
        for run in sorted(sweeps.glob("*/runs/*/")):
            for name in KEEP:
                if (run / name).exists():
                    tar.add(run / name, arcname=str((run / name).relative_to(sweeps.parent)))
            if partial and not (run / "final.json").exists() and (run / "checkpoint.pt").exists():  # to continue elsewhere
                key = Run(run).config["dataset"]
                if key not in models:
                    models[key] = tarfile.open(stage / f"models-{key}.tar", "w")
                models[key].add(run / "checkpoint.pt", arcname=str((run / "checkpoint.pt").relative_to(sweeps.parent)))
            if keepable(run):
                key = Run(run).config["dataset"]
                if key not in models:
                    models[key] = tarfile.open(stage / f"models-{key}.tar", "w")
                blob = slim(run / "checkpoint.pt")
                info = tarfile.TarInfo(str((run / "model.pt").relative_to(sweeps.parent)))
                info.size = len(blob)
                models[key].addfile(info, io.BytesIO(blob))
    for t in models.values():
        t.close()
    for f in sorted(stage.iterdir()):
        f.replace(out / f.name)
        print(f"{f.name}: {(out / f.name).stat().st_size / 2**20:.1f} MiB")
    stage.rmdir()


def in_place(sweeps: Path) -> int:
    """model.pt beside every finished kept run whose checkpoint is newer; 1 if some checkpoint
    could not be read (each named on stderr; the others are still kept)."""
    check(sweeps)
    failed = 0
    for run in sorted(sweeps.glob("*/runs/*/")):
        if keepable(run):
            if not (run / "model.pt").exists() or (run / "model.pt").stat().st_mtime < (run / "checkpoint.pt").stat().st_mtime:
                try:
                    blob = slim(run / "checkpoint.pt")
                except UsageError as err:
                    print(f"error: {err}", file=sys.stderr)
                    failed = 1
                    continue
                tmp = run / ".model.pt.tmp"
                tmp.write_bytes(blob)
                tmp.replace(run / "model.pt")  # a reader never sees half a model
                print(f"kept {run / 'model.pt'}")
    return failed


def from_command_line() -> int | None:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweeps", metavar="SWEEPS_DIR", type=Path, help="the folder of study 3's sweep folders")
    ap.add_argument("out", metavar="OUT_DIR", type=Path, nargs="?", help="where the tar files go (PARTIAL=1: with unfinished runs' checkpoints)")
    ap.add_argument("--in-place", action="store_true", help="instead of OUT_DIR: write model.pt beside each finished run's checkpoint")
    a = ap.parse_args()
    if a.in_place == (a.out is not None):
        raise UsageError("give OUT_DIR or --in-place, one of the two (see --help)")
    if a.out is not None:
        writable_folder(a.out, "OUT_DIR")
    return in_place(a.sweeps) if a.in_place else main(a.sweeps, a.out, partial=os.environ.get("PARTIAL") == "1")


if __name__ == "__main__":
    sys.exit(cli(from_command_line))
