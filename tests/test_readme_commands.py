"""The README's two commands: CI runs exactly the test one, and both set up everything themselves."""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def two_commands() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_has_two_commands_that_install_everything():
    commands = two_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    for c in commands:                  # a fresh venv, then pip installs the project itself
        assert c.startswith("python3 -m venv .venv && .venv/bin/pip install -q ")
    assert "'.[test]'" in commands[1] and commands[1].endswith(".venv/bin/python -m pytest")


def test_ci_runs_exactly_the_readme_test_command():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        lines = [line.strip() for line in f]
    assert two_commands()[1] in lines


def test_the_sample_command_after_install(tmp_path):
    """The main job's steps after `pip install`, with this environment's python and ddb."""
    sample = two_commands()[0]
    build = re.search(r"\.venv/bin/ddb-fixtures (build demo [^&]+?)\s*&&", sample).group(1)
    ls = re.search(r"\.venv/bin/ddb (demo/\*/vos-0 .*)$", sample).group(1).split()
    subprocess.run([sys.executable, "-m", "ddb_fixtures", *build.split()], cwd=tmp_path, check=True,
                   capture_output=True)
    shard = glob.glob(str(tmp_path / ls[0]))
    assert len(shard) == 1
    p = subprocess.run([sys.executable, "-m", "ddb", shard[0], *ls[1:]], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Listing contents of '/'")
    assert any(line.lstrip().startswith(("RECX:", "AKEY:")) for line in p.stdout.splitlines())
