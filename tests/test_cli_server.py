"""tests/cli_server.py runs a command as its own process would, and nothing of one command reaches the next."""
import subprocess
import textwrap
from pathlib import Path

import pytest

from cli_server import CliServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def servers():
    server, real = CliServer(), CliServer(real=True)
    yield server, real
    server.close()


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_output_and_exit_status_are_a_real_processs(tmp_path, servers):
    cases = [
        script(tmp_path, "a.py", """\
            import os, sys
            print("to stdout"); sys.stdout.flush()
            os.write(1, b"to fd 1\\r\\n")
            print("to stderr", file=sys.stderr)
            sys.exit(3)
            """),
        script(tmp_path, "b.py", "import sys\nprint('partial')\nsys.exit('error: a message')\n"),
        script(tmp_path, "c.py", "import sys\nprint(sys.argv[1:], __name__)\nraise SystemExit(None)\n"),
        script(tmp_path, "d.py", "import sys\nsys.exit(258)\n"),
    ]
    for path in cases:
        got, want = (s(path, "x", "--flag=1", cwd=tmp_path) for s in servers)
        assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr), path.name
    server, real = servers
    crash = script(tmp_path, "e.py", "raise ValueError('boom')\n")
    got, want = server(crash, cwd=tmp_path), real(crash, cwd=tmp_path)
    assert got.returncode == want.returncode == 1 and "ValueError: boom" in got.stderr and "Traceback" in got.stderr
    got, want = server("nosuch.py", cwd=tmp_path), real("nosuch.py", cwd=tmp_path)
    assert got.returncode == want.returncode == 2 and "can't open file" in got.stderr and "can't open file" in want.stderr


def test_one_command_leaves_nothing_behind_for_the_next(tmp_path, servers):
    server, _ = servers
    (tmp_path / "elsewhere").mkdir()
    dirty = script(tmp_path, "dirty.py", f"""\
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})  # as our scripts find the project's modules
        import common.errors
        os.environ["LEAKED"] = "1"
        sys.path.append("/leaked")
        os.chdir({str(tmp_path / "elsewhere")!r})
        signal.signal(signal.SIGTERM, lambda *a: None)
        sys.stdout = open(os.devnull, "w")
        """)
    look = script(tmp_path, "look.py", f"""\
        import os, signal, sys
        print(os.environ.get("LEAKED"), "/leaked" in sys.path or {str(ROOT)!r} in sys.path, os.path.basename(os.getcwd()),
              signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "common.errors" in sys.modules, "torch" in sys.modules)
        """)
    assert server(dirty, cwd=tmp_path).returncode == 0
    # our modules are imported afresh; torch, imported once by the server, is what it saves
    assert server(look, cwd=tmp_path).stdout == f"None False {tmp_path.name} True False True\n"
    assert server(look, cwd=tmp_path, env={"LEAKED": "set by the caller"}).stdout.startswith("set by the caller ")


def test_a_command_that_ends_the_server_is_said_and_the_next_gets_a_new_one(tmp_path, servers):
    server, _ = servers
    with pytest.raises(RuntimeError, match="command server died"):
        server(script(tmp_path, "exit.py", "import os\nos._exit(5)\n"), cwd=tmp_path)
    assert server(script(tmp_path, "ok.py", "print('fine')\n"), cwd=tmp_path).stdout == "fine\n"
    with pytest.raises(subprocess.TimeoutExpired):
        server(script(tmp_path, "hang.py", "import time\ntime.sleep(60)\n"), cwd=tmp_path, timeout=2)
    assert server(tmp_path / "ok.py", cwd=tmp_path).stdout == "fine\n"
