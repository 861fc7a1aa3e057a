"""Run folders as the results scripts read them: one reader for every script under ``scripts/``.

A run folder (``train.py --out-dir D --run-name N`` writes ``D/N``) holds

- ``config.json``: the run's resolved config, a mapping of ``Config`` keys;
- ``metrics.json``: a list, one row per finished epoch (``epoch``, ``train_loss``, ``test_loss``,
  ``test_accuracy``, ``epoch_seconds``, ``lr``, and ``eval_set``: the set behind the two
  ``test_`` columns, which for a ``--holdout`` run is its validation split);
- ``final.json`` once the run has finished (``test``: ``{set: {loss, accuracy, correct, n}}``,
  parameter counts);
- ``eval/eval.json`` once ``evaluate.py`` has scored it.

Reading them here means a missing or corrupt file is one line (``UsageError``) that names the
file and what to do, never a traceback, and a ``--holdout`` run reads as a validation result in
every table (``Run.validation``, ``Run.scored_on``).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

from .errors import UsageError


def read_json(path: Path, kind: type | tuple[type, ...] = dict):
    """The JSON value in ``path``, which must be a ``kind`` (dict, list, or a tuple of them). Raises UsageError (one
    line: the file, what is wrong, what to do) if it cannot be read, is not JSON or is another kind."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read {path} ({err.strerror}); check the path") from None
    try:
        obj = json.loads(text)
    except ValueError:
        raise UsageError(f"{path} is not valid JSON (cut off while written?); rerun the command that wrote it, "
                         "or move its run folder out of the way") from None
    if not isinstance(obj, kind):
        wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{path} holds a JSON {type(obj).__name__}, not the {wanted} that run folders hold; "
                         "rerun the command that wrote it, or move its run folder out of the way")
    return obj


class Run:
    """One run folder; each file is read once, when first asked for."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    def _file(self, name: str, kind: type):
        f = self.path / name
        return read_json(f, kind) if f.exists() else None

    @cached_property
    def config(self) -> dict:
        cfg = self._file("config.json", dict)
        if cfg is None:
            raise UsageError(f"{self.path} has no config.json: not a run folder written by train.py; move it out of the results folder")
        return cfg

    @cached_property
    def epochs(self) -> list[dict]:
        """metrics.json's rows, [] before the first epoch has finished."""
        return self._file("metrics.json", list) or []

    @cached_property
    def final(self) -> dict | None:
        """final.json, None while the run is unfinished (or was cut short)."""
        return self._file("final.json", dict)

    @cached_property
    def eval(self) -> dict | None:
        """eval/eval.json, None until evaluate.py has scored the run."""
        return self._file("eval/eval.json", dict)

    @property
    def finished(self) -> bool:
        return (self.path / "final.json").exists()

    @property
    def validation(self) -> bool:
        """A ``--holdout`` run: it was scored on its validation split, never on a test set."""
        return bool(self.config.get("holdout"))

    @property
    def scored_on(self) -> str:
        """The set behind its scores: ``"validation: rts-val"`` or ``"test: rts"``."""
        cfg = self.config
        name = (self.epochs[-1].get("eval_set") if self.epochs else None) or (
            f"{cfg.get('dataset')}-val" if self.validation else cfg.get("dataset", "?"))
        return f"{'validation' if self.validation else 'test'}: {name}"

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def find(roots: Path | str | Iterable[Path | str], holding: str = "config.json") -> list[Run]:
    """The run folders directly under each root that hold the file ``holding`` (e.g.
    ``final.json``: the finished ones), in name order within each root."""
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    return [Run(Path(root) / f.relative_to(root).parts[0]) for root in roots for f in sorted(Path(root).glob(f"*/{holding}"))]


def cli(main: Callable[[], int | None]) -> int:
    """Run a results script's ``main``: a UsageError becomes one line on stderr and exit status 2."""
    try:
        return main() or 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
