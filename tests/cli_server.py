"""Run this project's commands for the tests without starting Python and importing torch each time.

A test that checks what a command prints for a bad flag or a damaged file used to start its own
interpreter, and each start imports torch again: about 4 s on a 2-core CPU, over a hundred of them a
run of the suite. The ``cli`` fixture (tests/conftest.py) sends each command line instead to one
long-lived child process (this file, ``--serve``), where the third-party imports are paid once, and
runs it there as ``python SCRIPT ARGS`` would:

- as ``__main__``, in the test's working folder and environment, with ``sys.argv`` and the script's
  folder first on ``sys.path``;
- file descriptors 1 and 2 point at fresh files, so everything the command (or a process it starts)
  writes is captured, and its exit status is its ``SystemExit`` code (1 and the traceback on stderr
  for an exception that escaped);
- this project's own modules are imported afresh (a script that lost an import or a path fails as it
  would alone), and ``sys.path``, ``os.environ``, the working folder, the signal handlers and the
  warning filters are put back after it.

Use it for commands that answer quickly (bad input, reports, tables). Tests of signals, of training,
of a sweep's child processes, of atexit handlers or threads left running, and of what Python reads
from the environment at its start (PYTHONPATH, PYTHONWARNINGS) start real processes; torch's process
state (threads, matmul precision) is shared by the commands of one server.
``STN_TEST_CLI=subprocess`` makes the fixture start a real interpreter per call instead, to check
that both give the same results.
"""
from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)


class CliServer:
    """The client: ``server(script, *args, cwd=None, env=None, timeout=120)`` runs one command line
    and returns a ``subprocess.CompletedProcess`` with text stdout and stderr, like
    ``subprocess.run([sys.executable, script, *args], capture_output=True, text=True)``. ``env``
    defaults to this process's environment at the call, ``cwd`` to its working folder. Raises
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the server is restarted)."""

    def __init__(self, real: bool = False):
        self.real, self.proc = real, None

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=ROOT, text=True)

    def __call__(self, script, *args, cwd=None, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
        argv = [str(script), *map(str, args)]
        cwd, env = str(cwd or os.getcwd()), dict(os.environ if env is None else env)
        if self.real:
            return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if not Path(cwd).is_dir():  # as subprocess.run would
            raise FileNotFoundError(f"no such working folder: {cwd}")
        if not (Path(cwd) / argv[0]).is_file():  # as Python answers it
            return subprocess.CompletedProcess([sys.executable, *argv], 2, "",
                                               f"{sys.executable}: can't open file {argv[0]!r}: [Errno 2] No such file or directory\n")
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": cwd, "env": env}) + "\n")
        self.proc.stdin.flush()
        reply = _readline(self.proc.stdout, timeout)
        if reply is None:
            self.close()
            raise subprocess.TimeoutExpired([sys.executable, *argv], timeout)
        if not reply:
            status = self.proc.wait()
            self.proc = None
            raise RuntimeError(f"the command server died (status {status}) running {' '.join(argv)}: a command that ends the "
                               "process (os._exit, a crash) needs a real process; run it with subprocess.run")
        status, out, err = json.loads(reply)
        return subprocess.CompletedProcess([sys.executable, *argv], status, out, err)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


REAL = CliServer(real=True)
"""The same call in a real process of its own: ``(cli or REAL)(script, ...)`` runs a command in the
``cli`` fixture's server when a test has it and in a fresh interpreter otherwise (training, signals)."""


def _readline(stream, timeout: float):
    """One line from ``stream``; "" when the server died, None when nothing came within ``timeout`` seconds."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return None
    return stream.readline()


# --------------------------------------------------------------------------- the server's side
def _own_modules() -> set[str]:
    """This project's modules now imported: those whose file is under the repository, not under
    the Python that runs it (test.sh puts its virtualenv inside the repository)."""
    root = str(ROOT) + os.sep
    python = tuple({str(q) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) for q in (Path(p), Path(p).resolve())})
    own = set()
    for name, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None) or ""
        if f.startswith(root) and not f.startswith(python) and "site-packages" not in f:
            own.add(name)
    return own


def _run(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[int, str, str]:
    path, environ, here, modules = list(sys.path), dict(os.environ), os.getcwd(), _own_modules()
    handlers = {s: signal.getsignal(s) for s in SIGNALS}
    saved = os.dup(1), os.dup(2)
    files = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    status = 0
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        script = Path(argv[0]).resolve()
        sys.argv, sys.path[0] = list(argv), str(script.parent)
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(files[0].fileno(), 1), os.dup2(files[1].fileno(), 2)
        with warnings.catch_warnings():
            try:
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    status = (e.code or 0) & 0xFF  # what the operating system keeps of it
                else:  # sys.exit("message"): Python prints it and exits with 1
                    print(e.code, file=sys.stderr)
                    status = 1
            except BaseException:  # noqa: BLE001 -- what an uncaught exception does to a real command
                traceback.print_exc()
                status = 1
    finally:
        for stream in {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}:  # a command may have swapped them
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        os.close(saved[0]), os.close(saved[1])
        for s, h in handlers.items():
            signal.signal(s, h)
        sys.path[:] = path
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(here)
        for name in _own_modules() - modules:
            del sys.modules[name]
    # as subprocess.run(text=True) reads them: universal newlines
    out, err = ((f.seek(0), f.read().decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n"))[1] for f in files)
    for f in files:
        f.close()
    return status, out, err


def serve() -> None:
    """Read one JSON request a line from the stdin it started with, answer one JSON line on the
    stdout it started with; between commands fds 0 and 1 are /dev/null, so nothing else reads the
    requests or writes into the replies."""
    import torch  # noqa: F401 -- the import every command pays for, paid once here

    requests, reply = os.fdopen(os.dup(0)), os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0), os.dup2(null, 1)
    streams = sys.stdin, sys.stdout, sys.stderr
    for line in requests:
        req = json.loads(line)
        result = _run(req["argv"], req["cwd"], req["env"])
        sys.stdin, sys.stdout, sys.stderr = streams  # a command that swapped them leaves no trace
        reply.write(json.dumps(result) + "\n")
        reply.flush()


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
