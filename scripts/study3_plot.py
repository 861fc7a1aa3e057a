"""Study 3 at a glance: every finished seed's % test error, head by head, one panel per set.

    python scripts/study3_plot.py results/study3/sweeps --cut results/study3/gpu_unfinished -o docs/img/study3_errors.png

Per head: one filled dot per seed on our test set (spread sideways so that equal errors stay
visible), a bar at their mean, and to its right a hollow dot per seed on the independently made
test set of the same protocol (where the run was scored there). Dashed line: the paper's best
ST-CNN on that set; dotted: the paper's CNN (Jaderberg et al. 2015, Table 1 and section 4.1). Each
panel has its own y scale, not from zero. Glimpse on the 28-pixel sets is the affine model and is
left out; CoordConv twins sit at the right, marked "CC". The numbers: results/study3/table.md.
"""
from __future__ import annotations

import statistics as st
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study3_table as t  # noqa: E402


def points(done, ext: dict[str, float]) -> dict[str, list[tuple[str, list[float], list[float]]]]:
    """Per set (``t.SETS`` order, only sets with a finished run): (label, our errors, independent
    errors) per head in ``t.HEADS`` order, then the CoordConv twins labelled "<head> CC". Errors in
    % of the 10,000 test digits, one per finished seed; independent errors only for runs scored there."""
    out = {}
    for s in t.SETS:
        cells = []
        for cc in (False, True):
            for h in t.HEADS:
                rows = done.get((s, h, cc), [])
                if rows and not t.same_as_affine(h, s):
                    cells.append((h + (" CC" if cc else ""), [r["error"] for r in rows], [ext[r["run"]] for r in rows if r["run"] in ext]))
        if cells:
            out[s] = cells
    return out


def plot(pts, out: Path) -> None:
    """Draw ``points``' output into ``out``: a PNG at 110 dpi, 3.3 x 3.9 inches a set, side by side
    (its folder is made). Raises ValueError when ``pts`` holds no set."""
    if not pts:
        raise ValueError("no finished run to draw")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pts), figsize=(3.3 * len(pts), 3.9), squeeze=False)
    colour = {"none": "0.45", **{h: "C0" for h in t.CONVENTIONAL}, **{h: "C3" for h in t.NEW}}
    for ax, (s, cells) in zip(axes[0], pts.items()):
        for x, (label, ours, theirs) in enumerate(cells):
            c = "C2" if label.endswith(" CC") else colour.get(label, "C0")
            ax.plot([x - 0.3, x + 0.02], [st.mean(ours)] * 2, color=c, lw=2)
            ax.scatter([x - 0.14 + 0.07 * (i - (len(ours) - 1) / 2) for i in range(len(ours))], ours, color=c, s=14, zorder=3)
            ax.scatter([x + 0.18] * len(theirs), theirs, facecolors="none", edgecolors=c, s=14, zorder=3)
        best = t.paper_best(s)
        first = ax is axes[0][0]  # one legend entry each
        ax.axhline(best, color="k", ls="--", lw=0.8, label="paper's best ST-CNN" if first else None)
        ax.axhline(t.PAPER[(s, "none")], color="k", ls=":", lw=0.8, label="paper's CNN" if first else None)
        ax.set_xticks(range(len(cells)), [c[0] for c in cells], rotation=60, ha="right", fontsize=7)
        ax.set_title(t.SHORT[s], fontsize=10)
        ax.grid(axis="y", lw=0.3)
    axes[0][0].set_ylabel("% test error (dot: a seed; bar: their mean)")
    axes[0][0].scatter([], [], color="0.3", s=14, label="a seed, our test set")
    axes[0][0].scatter([], [], facecolors="none", edgecolors="0.3", s=14, label="a seed, independent test set")
    fig.legend(loc="upper right", ncol=4, fontsize=7, frameon=False)
    fig.suptitle("Study 3 (24 epochs, the paper's models). Grey: no transformer; blue: conventional heads; "
                 "red: new heads; green: CoordConv localisation net", fontsize=8, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = t.Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweeps", type=Path, help="the folder holding study3*/runs")
    ap.add_argument("--cut", type=Path, action="append", default=[], help="folders of runs cut short (not plotted; as study3_table.py)")
    ap.add_argument("--ext", type=Path, default=t.ROOT / "results/study3/external", help="the independent sets' reports")
    ap.add_argument("-o", "--out", type=Path, default=t.ROOT / "docs/img/study3_errors.png", help="the PNG to write")
    a = ap.parse_args(argv)
    t.runs.writable_folder(a.out.parent, "-o")  # before reading every run, not after
    done, _ = t.load(a.sweeps, a.cut)
    pts = points(done, t.independent(a.ext))
    if not pts:
        raise t.runs.UsageError(f"no finished study-3 run under {a.sweeps}: let a run finish (scripts/study3_cpu.sh), then draw")
    plot(pts, a.out)
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(t.runs.cli(main))
