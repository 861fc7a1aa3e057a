"""Weights & Biases, in one place. Offline by default: no account needed.

* ``--wandb=False`` or ``WANDB_MODE=disabled``: no W&B at all.
* No ``WANDB_MODE`` and no API key: runs offline and says where the run was written
  (upload later with ``wandb sync DIR``).
* An API key (``WANDB_API_KEY`` or ``wandb login``) and no ``WANDB_MODE``: runs online.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


class Tracker:
    open: set = set()  # started and not yet finished: ``close_all`` finishes them when a run ends in an error

    def __init__(self, config: dict, *, enabled: bool, project: str, name: str, group: str | None = None, run_id: str | None = None):
        self.run = None
        if not enabled or os.environ.get("WANDB_MODE") == "disabled":
            return
        if "WANDB_MODE" not in os.environ and not _has_api_key():
            os.environ["WANDB_MODE"] = "offline"
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_CONSOLE", "off")
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=project, name=name, group=group, config=config, id=run_id, resume="allow" if run_id else None)
        Tracker.open.add(self)
        # a sweep may override values: the trainer reads the resolved config back from here
        self.config = dict(self.run.config)

    @property
    def offline(self) -> bool:
        return self.run is not None and os.environ.get("WANDB_MODE") in ("offline", "dryrun")

    def log(self, metrics: dict, step: int | None = None) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in metrics.items() if v is not None}, step=step)

    def image(self, key: str, path: Path, step: int | None = None) -> None:
        if self.run is not None:
            self.run.log({key: self.wandb.Image(str(path))}, step=step)

    def table(self, key: str, columns: list[str], rows: list[list]) -> None:
        if self.run is not None:
            self.run.log({key: self.wandb.Table(columns=columns, data=rows)})

    def summary(self, values: dict) -> None:
        if self.run is not None:
            self.run.summary.update(values)

    def preempting(self) -> None:
        """Tell W&B (and a sweep) that this run stopped early and can be resumed."""
        if self.run is not None:
            self.run.mark_preempting()

    @classmethod
    def close_all(cls, exit_code: int) -> None:
        """Finish every W&B run still open (a run that ended in an error is marked finished, not left running)."""
        for tracker in list(cls.open):
            tracker.finish(exit_code)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None or self not in Tracker.open:
            return
        Tracker.open.discard(self)
        run_dir = Path(self.run.dir).parent
        self.run.finish(exit_code=exit_code)
        if self.offline:
            print(f"W&B run recorded offline in {run_dir} (upload with: wandb sync {run_dir})", file=sys.stderr)
