"""Study 3's kept models: the run folders under results/study3/sweeps/{study3,study3_coordconv,
study3_newheads}/runs that hold a model.pt, one per line (what study3_metrics.sh and
study3_external.sh evaluate).

    python scripts/kept_models.py                     # every kept model
    python scripts/kept_models.py --dataset rts       # those trained on one set

A damaged config.json is one line naming it, exit 2 (common/runs.py), not a silently skipped run.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import runs  # noqa: E402

SWEEPS = ("study3", "study3_coordconv", "study3_newheads")  # the recipe searches' models are not kept


def kept(sweeps: Path, dataset: str | None = None) -> list[runs.Run]:
    found = runs.find([sweeps / s / "runs" for s in SWEEPS if (sweeps / s / "runs").is_dir()], "model.pt")
    return [r for r in found if dataset is None or r.config["dataset"] == dataset]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=Path, default=Path("results/study3/sweeps"), help="the folder holding the sweeps (from the repository root)")
    ap.add_argument("--dataset", help="only models trained on this set")
    a = ap.parse_args(argv)
    for r in kept(a.sweeps, a.dataset):
        print(r.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(runs.cli(main))
