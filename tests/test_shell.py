"""The shell loop: pipe input with prompt_toolkit, scripted stdin, built-ins, history."""
from __future__ import annotations

import io
import os

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from ddb.commands import TABLE
from ddb.output import Output
from ddb.session import Session
from ddb.shell import HISTORY_MAX, Shell, _trim, run_shell
from vosfmt.image import list_shards


@pytest.fixture
def shard(built):
    return list_shards(built("small"))[0]


def _session(shard=None):
    s = Session(Output())
    if shard:
        s.open(shard)
    return s


def test_repl_with_pipe_input(shard, capsys):
    s = _session(shard)
    with create_pipe_input() as inp:
        inp.send_text("ls /[1]\rbogus\rvalue_dump /[1]/[0]/dkey-1/akey-1\rquit\r")
        with create_app_session(input=inp, output=DummyOutput()):
            rc = run_shell(s, TABLE, input=inp, output=DummyOutput())
    out = capsys.readouterr().out
    assert rc == 0
    assert "Listing contents of 'CONT: (/[1])" in out
    assert "error: command not found" in out
    assert "Value (size: 18):\nhello again, newer" in out
    s.close()


def test_ctrl_c_twice_exits_1_and_ctrl_d_exits_0(shard, capsys):
    with create_pipe_input() as inp:
        inp.send_text("\x03\x03")
        with create_app_session(input=inp, output=DummyOutput()):
            assert run_shell(_session(), TABLE, input=inp, output=DummyOutput()) == 1
    out = capsys.readouterr().out
    assert "input Ctrl-c once more to exit" in out and "interrupted" in out
    with create_pipe_input() as inp:
        inp.send_text("\x03version\r\x04")
        with create_app_session(input=inp, output=DummyOutput()):
            assert run_shell(_session(), TABLE, input=inp, output=DummyOutput()) == 0
    assert "ddb version" in capsys.readouterr().out


def test_continuation_lines(shard, capsys):
    with create_pipe_input() as inp:
        inp.send_text("ls \\\r/[1]\rexit\r")
        with create_app_session(input=inp, output=DummyOutput()):
            run_shell(_session(shard), TABLE, input=inp, output=DummyOutput())
    assert "Listing contents of 'CONT: (/[1])" in capsys.readouterr().out


def test_scripted_stdin_continues_after_errors(shard, capsys):
    rc = run_shell(_session(shard), TABLE,
                   stdin=io.StringIO("ls /[9]\nversion\n# comment\nls /[0]\n"))
    out = capsys.readouterr().out
    assert rc == 1                                     # something failed
    assert "Container is invalid\nerror: DER_INVAL(-1003)" in out
    assert "ddb version" in out and "Listing contents of 'CONT: (/[0])" in out
    assert run_shell(_session(shard), TABLE, stdin=io.StringIO("version\n")) == 0


def test_help_groups(capsys):
    sh = Shell(_session(), TABLE)
    sh.run_line("help")
    out = capsys.readouterr().out
    assert out.startswith("Commands:\n  cd ")
    assert "\nsmd\n  smd       " in out and "\nvos\n  close " in out
    assert "  quit, q  exit the shell" in out
    sh.run_line("help ls")
    assert "  ls [flags] [path]" in capsys.readouterr().out
    sh.run_line("help nope")
    assert "error: command not found" in capsys.readouterr().out


def test_cd_pwd_and_relative_paths(shard, capsys):
    sh = Shell(_session(shard), TABLE)
    sh.run_line("cd /[1]/[0]")
    sh.run_line("pwd")
    cwd = capsys.readouterr().out.strip()
    assert cwd.startswith("/") and cwd.endswith(".0.0") and "[" not in cwd
    sh.run_line("ls")
    assert capsys.readouterr().out.startswith("Listing contents of 'OBJ: (/[1]/[0])")
    sh.run_line("ls ./dkey-1")
    assert "/dkey-1'" in capsys.readouterr().out.splitlines()[0]
    sh.run_line("ls /[0]")                              # absolute paths keep DAOS's meaning
    assert capsys.readouterr().out.startswith("Listing contents of 'CONT: (/[0])")
    sh.run_line("cd ..")
    sh.run_line("pwd")
    assert capsys.readouterr().out.count("/") == 1
    sh.run_line("cd /[7]")
    assert "error:" in capsys.readouterr().out


def test_history_is_capped(tmp_path):
    p = tmp_path / "h"
    p.write_bytes(b"".join(b"cmd %d\n" % i for i in range(3 * HISTORY_MAX)))
    _trim(str(p))
    lines = p.read_bytes().splitlines()
    assert len(lines) == HISTORY_MAX and lines[-1] == b"cmd %d" % (3 * HISTORY_MAX - 1)


def test_shell_from_the_entry_point_with_scripted_stdin(shard):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-m", "ddb", shard], input="ls /[1]\nbogus\nversion\n",
                       capture_output=True, text=True, timeout=60, cwd=root)
    assert p.returncode == 1 and "error: command not found" in p.stdout and "ddb version" in p.stdout


def test_history_file_is_daos_ddbs_format(tmp_path):
    """One line per entry, oldest first (DAOS ddb's linenoise-style file): both tools can
    share ~/.ddb_history."""
    from ddb.shell import CappedHistory
    p = tmp_path / ".ddb_history"
    p.write_text("ls /[0]\nvos_dump\n\n")                  # written by DAOS ddb
    h = CappedHistory(str(p))
    assert list(h.load_history_strings()) == ["vos_dump", "ls /[0]"]   # newest first
    h.store_string("ls \\\n/[1]")                          # a continued line is one entry
    h.store_string("version")
    assert p.read_text() == "ls /[0]\nvos_dump\n\nls \\ /[1]\nversion\n"
