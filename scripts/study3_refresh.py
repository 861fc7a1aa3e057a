"""Bring every study-3 table and figure up to date with the run folders, after a run lands.

    python scripts/study3_refresh.py        # the CPU queue (scripts/study3_cpu.sh) runs it after each run

Writes results/study3/table.md (scripts/study3_table.py), replaces the copies of its tables in
docs/study3.md (the cell-by-cell table) and README.md (the headline table), each found by its
header row and ending at the first blank line, and redraws docs/img/study3_errors.png
(scripts/study3_plot.py). Hand-written text around them is left as it is: re-read it. Exits 2
with one line if a document has lost its table's header row (nothing is written then).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study3_plot  # noqa: E402
import study3_table as t  # noqa: E402

DOCS_HEADER = "| head | R ours | R paper |"
README_HEADER = "| | R | RTS | P | E | TC |"


def splice(text: str, header: str, table: str, name: str) -> str:
    """``text`` with the markdown table that starts at the line beginning ``header`` (and ends at
    the first blank line) replaced by ``table``. Raises UsageError when ``header`` is not there."""
    i = text.find("\n" + header)
    if i < 0:
        raise t.runs.UsageError(f"{name} has no line starting {header!r}: put the table's header row back "
                                "(git checkout the file) and run again")
    j = text.find("\n\n", i + 1)
    return text[:i + 1] + table.strip("\n") + (text[j:] if j >= 0 else "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=t.ROOT, help="the checkout to refresh (default: this one)")
    a = ap.parse_args(argv)
    sweeps, cut = a.root / "results/study3/sweeps", a.root / "results/study3/gpu_unfinished"
    cuts = ["--cut", str(cut)] if cut.is_dir() else []
    ext = ["--ext", str(a.root / "results/study3/external")]
    full, head = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(full):
        t.main([str(sweeps), *cuts])
    with contextlib.redirect_stdout(head):
        t.main([str(sweeps), "--headline", *cuts, *ext])
    docs, readme = a.root / "docs/study3.md", a.root / "README.md"
    new_docs = splice(docs.read_text(), DOCS_HEADER, full.getvalue().split("\n\n")[1], "docs/study3.md")
    new_readme = splice(readme.read_text(), README_HEADER, head.getvalue(), "README.md")
    (a.root / "results/study3/table.md").write_text(full.getvalue())
    docs.write_text(new_docs)
    readme.write_text(new_readme)
    study3_plot.main([str(sweeps), *cuts, *ext, "-o", str(a.root / "docs/img/study3_errors.png")])
    return 0


if __name__ == "__main__":
    raise SystemExit(t.runs.cli(main))
