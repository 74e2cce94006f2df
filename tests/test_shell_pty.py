"""The real ddb in a pseudo-terminal: complete, list, dump, fail, go on, Ctrl-D.

Every step waits for the output that shows the shell is ready for it, never for
a while: the prompt is drawn once the cursor is shown again, and a completion
has been taken once its menu entry is highlighted.
"""
from __future__ import annotations

import os
import re
import shutil
import sys

import pexpect

from vosfmt.image import list_shards

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CURSOR_SHOWN = re.escape("\x1b[?25h")    # prompt_toolkit ends each redraw with this


def _spawn(args, home):
    exe = shutil.which("ddb", path=os.path.dirname(sys.executable))
    cmd, argv = (exe, args) if exe else (sys.executable, ["-m", "ddb", *args])
    env = {"HOME": str(home), "TERM": "xterm", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           "PROMPT_TOOLKIT_NO_CPR": "1"}     # pexpect answers no cursor position requests
    return pexpect.spawn(cmd, argv, encoding="utf-8", timeout=20, dimensions=(40, 220), env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _prompt(child) -> str:
    """Wait until the prompt is drawn and the shell reads keys; the output before the prompt."""
    child.expect("ddb:")
    before = child.before
    child.expect(CURSOR_SHOWN)
    return before


def test_interactive_session(built, tmp_path):
    shard = list_shards(built("small"))[0]
    child = _spawn([shard], tmp_path)
    try:
        _prompt(child)
        child.send("ls /[1]/[0]/dkey-")
        child.send("\t")                                 # completes to /[1]/[0]/dkey-1/
        child.expect(re.escape(";7m /[1]/[0]/dkey-1/"))  # highlighted: taken into the line
        child.send("\r")
        child.expect("Listing contents of 'DKEY: \\(/\\[1\\]/\\[0\\]/\\[0\\]\\)")
        listing = ANSI.sub("", _prompt(child))
        assert "/dkey-1/akey-1" in listing and "/dkey-1/akey-2" in listing
        child.send("value_dump /[1]/[0]/dkey-1/akey-1\r")
        child.expect("hello again, newer")
        _prompt(child)
        child.send("ls /[1]/[77]\r")
        child.expect("Object is invalid")
        child.expect(r"error:(\x1b\[0m)? DER_INVAL")   # "error:" is red on a terminal
        _prompt(child)
        child.send("version\r")                          # the shell went on after the error
        child.expect("ddb version")
        _prompt(child)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = (tmp_path / ".ddb_history").read_text().splitlines()   # DAOS ddb's format
    assert "ls /[1]/[0]/dkey-1/" in history[0] and history[-1] == "version"


def test_ctrl_c_twice(built, tmp_path):
    child = _spawn([list_shards(built("small"))[0]], tmp_path)
    try:
        _prompt(child)
        child.sendcontrol("c")
        child.expect("input Ctrl-c once more to exit")
        _prompt(child)
        child.sendcontrol("c")
        child.expect("interrupted")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1


def test_check_asks_on_a_terminal(built, tmp_path):
    from fixtures.corrupt import inject
    root = str(tmp_path / "img")
    shutil.copytree(built("small"), root)
    inject(root, "OBJ_MAX_WRITE_STALE")             # one object with a stale max write epoch
    inject(root, "BLOCKS_LEAKED")                   # and leaked NVMe blocks
    child = _spawn(["check", "start", "-D", root], tmp_path)
    try:
        child.expect("records max write epoch")
        child.expect("0: TRUST_TARGET: Raise the object's max write epoch")
        child.expect("Choice")
        child.send("a\r")                            # the suggestion, for every finding of the class
        child.expect("Return them to the VEA free map")
        child.expect("Choice")
        child.send("0\r")
        child.expect("STORAGE IMAGE WAS MODIFIED")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1
