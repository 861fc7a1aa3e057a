"""One table of study 3's kept models on our test sets and on the independently made ones
(scripts/study3_external.sh writes results/study3/external/<set>/[<batch>/]sets.json, one batch per
scoring of newly kept models; this reads them all).

    python scripts/study3_external_table.py > results/study3/external/table.md
    python scripts/study3_external_table.py --docs   # the short form docs/study3.md carries

% error with its 95% Wilson interval on each set, and the change from ours to theirs: a model
that had learned our generator's quirks would lose accuracy on theirs beyond the intervals.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from common import runs  # noqa: E402
from common.config import Parser  # noqa: E402
from common.metrics import wilson_interval  # noqa: E402
from study_table import DATASET_ORDER, HEAD_ORDER, SHORT, rank  # noqa: E402


DOCS_HEADER = "| set | head | ours"  # the docs/study3.md table's header row starts so (scripts/study3_refresh.py finds it by this)
BATCH = re.compile(r"\d{8}T\d{6}Z")  # scripts/study3_external.sh names each batch by its UTC stamp


def reports(folder: Path) -> list[tuple[Path, dict]]:
    """The reports on one independent set, oldest first: ``folder``/sets.json (a set's first
    scoring) then ``folder``/<UTC stamp>/sets.json, each {run: {set: {"accuracy", "error", "n"}, ...}}.
    Raises UsageError (one line, what to do) for a file that is not JSON or a folder that is not a batch."""
    stray = [p.name for p in folder.iterdir() if p.is_dir() and not BATCH.fullmatch(p.name)] if folder.is_dir() else []
    if stray:
        raise runs.UsageError(f"{folder} holds {', '.join(stray)}, not a batch of scripts/study3_external.sh "
                              "(named YYYYMMDDTHHMMSSZ); move it out of that folder")
    first = [folder / "sets.json"] if (folder / "sets.json").exists() else []
    files = first + sorted(folder.glob("*/sets.json"), key=lambda f: f.parent.name)  # stamps sort by time
    fix = {f: f"delete {f} (and its sets.md) and rerun scripts/study3_external.sh to score its runs again" for f in files}
    return [(f, runs.read_json(f, fix=fix[f])) for f in files]


def scored(folder: Path) -> dict[str, dict]:
    """Every run scored on one independent set (``reports`` merged); a later batch wins for a run
    scored twice (a model trained again under the same name). Raises UsageError as ``reports``."""
    out = {}
    for _, report in reports(folder):
        out.update(report)
    return out


def cell(s: dict) -> str:
    lo, hi = wilson_interval(round(s["accuracy"] * s["n"]), s["n"])
    return f"{100 * s['error']:.2f} ({100 * (1 - hi):.2f}–{100 * (1 - lo):.2f})"


def main(argv=None) -> int:
    """The table on stdout; 0, or 2 with one line on stderr when a file cannot be read."""
    return runs.cli(lambda: table(argv))


def table(argv) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="results/study3/external", help="folder of <set>/[<batch>/]sets.json (default: results/study3/external)")
    ap.add_argument("--runs", default="results/study3/sweeps", help="folder of sweeps/runs (for each run's config)")
    ap.add_argument("--docs", action="store_true", help="the short form docs/study3.md carries: one row per run on the "
                    "independent set made under the protocol it was trained on (e.g. 'TC | iterative, seed 2')")
    a = ap.parse_args(argv)
    configs = {r.name: r.config for r in runs.find(Path(a.runs).glob("*/runs"))}
    runs.require(configs, f"{a.runs}/*/runs", "run folders (--runs: the folder that holds the sweeps)")
    rows = []
    for folder in sorted(p for p in Path(a.root).iterdir() if p.is_dir()) if Path(a.root).is_dir() else []:
        for run, sets in scored(folder).items():  # one folder per independent set: <set> or a variant of it
            cfg = configs.get(run)
            if cfg is None or cfg["dataset"] not in sets:
                continue
            for name, theirs in sets.items():
                if name.endswith("-ext"):
                    rows.append((rank(cfg["dataset"], DATASET_ORDER), rank(cfg["variant"], HEAD_ORDER), folder.name, cfg, run,
                                 sets[cfg["dataset"]], theirs))
    if not rows:
        print(f"error: no side-by-side reports under {a.root}; run scripts/study3_external.sh first", file=sys.stderr)
        return 2
    rows = sorted(rows, key=lambda r: r[:3] + (bool(r[3].get("coordconv")), r[3]["seed"], r[4]))  # Conv, then CoordConv, seed by seed
    if a.docs:
        print(DOCS_HEADER + " (95% CI) | independent set (95% CI) | change |\n|---|---|---|---|---|")
        for *_, folder, cfg, run, ours, theirs in (r for r in rows if r[2] == r[3]["dataset"]):
            head = cfg["variant"] + (", CoordConv" if cfg.get("coordconv") else "") + (f", seed {cfg['seed']}" if cfg["seed"] != 1 else "")
            change = f"{100 * (theirs['error'] - ours['error']):+.2f}".replace("-", "−")  # a minus sign, as in the prose
            print(f"| {SHORT.get(cfg['dataset'], cfg['dataset'])} | {head} | {cell(ours)} | {cell(theirs)} | {change} |")
        return 0
    print("| set | head | CoordConv | seed | % error, our test set (95% CI) | independent set | % error there (95% CI) | change (points) | run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for *_, folder, cfg, run, ours, theirs in rows:
        print(f"| {cfg['dataset']} | {cfg['variant']} | {cfg.get('coordconv', False)} | {cfg['seed']} | {cell(ours)} | {folder} | {cell(theirs)} | "
              f"{100 * (theirs['error'] - ours['error']):+.2f} | {run} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
