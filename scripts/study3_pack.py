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
import sys
import tarfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.runs import Run, cli  # noqa: E402

KEEP = ("config.json", "metrics.json", "final.json", "stn.png")
WEIGHTS_OF = ("study3", "study3_coordconv", "study3_newheads")  # the recipe search's models are not kept


def slim(ckpt: Path) -> bytes:
    sd = torch.load(ckpt, map_location="cpu", weights_only=False)  # our own files; they may hold version objects
    buf = io.BytesIO()
    torch.save({"model": sd["model"], "config": sd["config"], "epoch": sd["epoch"]}, buf)
    return buf.getvalue()


def main(sweeps: Path, out: Path, partial: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    models: dict[str, tarfile.TarFile] = {}
    with tarfile.open(out / "study3_runs.tar.gz", "w:gz") as tar:
        for f in sorted(sweeps.glob("*/*.log")) + sorted(sweeps.glob("*/summary.json")):
            tar.add(f, arcname=str(f.relative_to(sweeps.parent)))
        for run in sorted(sweeps.glob("*/runs/*/")):
            for name in KEEP:
                if (run / name).exists():
                    tar.add(run / name, arcname=str((run / name).relative_to(sweeps.parent)))
            if partial and not (run / "final.json").exists() and (run / "checkpoint.pt").exists():  # to continue elsewhere
                key = Run(run).config["dataset"]
                if key not in models:
                    models[key] = tarfile.open(out / f"models-{key}.tar", "w")
                models[key].add(run / "checkpoint.pt", arcname=str((run / "checkpoint.pt").relative_to(sweeps.parent)))
            if run.parent.parent.name in WEIGHTS_OF and (run / "final.json").exists() and (run / "checkpoint.pt").exists():
                key = Run(run).config["dataset"]
                if key not in models:
                    models[key] = tarfile.open(out / f"models-{key}.tar", "w")
                blob = slim(run / "checkpoint.pt")
                info = tarfile.TarInfo(str((run / "model.pt").relative_to(sweeps.parent)))
                info.size = len(blob)
                models[key].addfile(info, io.BytesIO(blob))
    for t in models.values():
        t.close()
    for f in sorted(out.iterdir()):
        print(f"{f.name}: {f.stat().st_size / 2**20:.1f} MiB")


def in_place(sweeps: Path) -> None:
    for run in sorted(sweeps.glob("*/runs/*/")):
        if run.parent.parent.name in WEIGHTS_OF and (run / "final.json").exists() and (run / "checkpoint.pt").exists():
            if not (run / "model.pt").exists() or (run / "model.pt").stat().st_mtime < (run / "checkpoint.pt").stat().st_mtime:
                (run / "model.pt").write_bytes(slim(run / "checkpoint.pt"))
                print(f"kept {run / 'model.pt'}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/study3_pack.py SWEEPS_DIR (OUT_DIR | --in-place)")
    if sys.argv[2] == "--in-place":
        sys.exit(cli(lambda: in_place(Path(sys.argv[1]))))
    else:
        sys.exit(cli(lambda: main(Path(sys.argv[1]), Path(sys.argv[2]), partial=os.environ.get("PARTIAL") == "1")))
