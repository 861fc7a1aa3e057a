"""Study 3's kept models: the run folders under results/study3/sweeps/{study3,study3_coordconv,
study3_newheads}/runs that hold a model.pt, one per line (what study3_metrics.sh and
study3_external.sh evaluate).

    python scripts/kept_models.py                     # every kept model
    python scripts/kept_models.py --dataset rts       # those trained on one set
    python scripts/kept_models.py --newer results/study3/external/table.md --datasets
                                                      # the sets of models kept since that file was written
    python scripts/kept_models.py --dataset rts --unscored results/study3/external/rts
                                                      # those not yet scored on that independent set
    python scripts/kept_models.py --fingerprints RUN...  # {run: sha256 of its model.pt}, JSON (a batch's models.json)

A damaged config.json is one line naming it, exit 2 (common/runs.py), not a silently skipped run.
"""
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402
from common.data import DATASETS  # noqa: E402
from study3_external_table import reports  # noqa: E402

SWEEPS = ("study3", "study3_coordconv", "study3_newheads")  # the recipe searches' models are not kept


def kept(sweeps: Path, dataset: str | None = None) -> list[runs.Run]:
    """The kept models' run folders (each config read and checked), those trained on ``dataset``
    if given. Raises UsageError for a folder without the study's sweeps or an unknown dataset."""
    roots = [sweeps / s / "runs" for s in SWEEPS if (sweeps / s / "runs").is_dir()]
    if not roots:
        raise runs.UsageError(f"no study-3 sweeps ({', '.join(SWEEPS)}) under {sweeps}; pass --sweeps results/study3/sweeps")
    if dataset is not None and dataset not in DATASETS:
        raise runs.UsageError(f"--dataset {dataset!r} is not a dataset; pick one of {', '.join(DATASETS)}")
    return [r for r in runs.find(roots, "model.pt") if r.config["dataset"] == (dataset or r.config["dataset"])]


def fingerprint(run: Path) -> str:
    """The first 16 hex digits of the sha256 of the run folder's model.pt: which weights a score is of."""
    return hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()[:16]


def unscored(found: list[runs.Run], folder: Path) -> list[runs.Run]:
    """The runs of ``found`` with no score in ``folder``'s reports (study3_external_table.reports), or
    whose latest score is of other weights (its batch's models.json names another fingerprint: the
    run was trained again under its name). Reports without a models.json count as of the current weights."""
    latest = {}  # run -> fingerprint its latest score was of (None: not recorded)
    for f, report in reports(folder):
        fps = runs.read_json(f.parent / "models.json", fix=f"delete {f.parent} to score its runs again") if (f.parent / "models.json").exists() else {}
        latest.update({run: fps.get(run) for run in report})
    return [r for r in found if r.name not in latest or latest[r.name] not in (None, fingerprint(r.path))]


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=Path, default=Path("results/study3/sweeps"),
                    help="the folder holding the sweeps (default: results/study3/sweeps, from the repository root, where the scripts run)")
    ap.add_argument("--dataset", help="only models trained on this set")
    ap.add_argument("--newer", type=Path, help="only models written after this file (every model if it does not exist)")
    ap.add_argument("--unscored", type=Path, metavar="FOLDER",
                    help="only models without a score of their current weights in FOLDER's [<batch>/]sets.json (scripts/study3_external.sh's reports on one set)")
    ap.add_argument("--fingerprints", nargs="+", type=Path, metavar="RUN", help="print {run: sha256 of its model.pt} of these run folders as JSON, nothing else")
    ap.add_argument("--datasets", action="store_true", help="print the sets they were trained on, once each, not the folders")
    a = ap.parse_args(argv)
    if a.fingerprints:
        missing = [str(r) for r in a.fingerprints if not (r / "model.pt").is_file()]
        if missing:
            raise runs.UsageError(f"no model.pt in {', '.join(missing)}; run scripts/study3_pack.py results/study3/sweeps --in-place first")
        print(json.dumps({r.name: fingerprint(r) for r in a.fingerprints}, indent=1))
        return 0
    found = kept(a.sweeps, a.dataset)
    if a.newer is not None and a.newer.exists():
        found = [r for r in found if (r.path / "model.pt").stat().st_mtime > a.newer.stat().st_mtime]
    if a.unscored is not None:
        found = unscored(found, a.unscored)
    for line in dict.fromkeys(r.config["dataset"] for r in found) if a.datasets else (r.path for r in found):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(runs.cli(main))
