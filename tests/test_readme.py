"""The README's ddb session is real: every command in it prints exactly what it shows."""
from __future__ import annotations

import os
import re
import shlex

from click.testing import CliRunner

from ddb.cli import cli
from vosfmt.image import list_shards

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _session():
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"```console\n(.*?)```", text, re.S).group(1)
    cmds, cur = [], None
    for line in block.splitlines():
        if line.startswith("$ "):
            cur = [line[2:], []]
            cmds.append(cur)
        else:
            cur[1].append(line)
    return cmds


def test_readme_session(built, tmp_path):
    shard = list_shards(built("small"))[0]
    cmds = _session()
    assert len(cmds) >= 4
    for cmd, expected in cmds:
        words = shlex.split(cmd)
        assert words[0] == "ddb" and words[1] == "demo/*/vos-0"
        args = [shard] + [w.replace("/tmp/", str(tmp_path) + "/") for w in words[2:]]
        r = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        want = "\n".join(expected).replace("/tmp/", str(tmp_path) + "/")
        assert r.stdout.rstrip("\n") == want


def test_readme_problem_table_is_the_checkers():
    """Every problem the checker can report has its README row, with its code, name and class."""
    from ddb.checker.problems import PROBLEMS
    text = open(os.path.join(ROOT, "README.md")).read()
    rows = {m.group(2): (int(m.group(1), 16), m.group(3))
            for m in re.finditer(r"^\| (0x[0-9a-f]{6}) \| (\w+) \| (\w+)", text, re.M)}
    assert rows == {p.name: (p.code, p.cls.name) for p in PROBLEMS}


def _layout_table_paths() -> set[str]:
    """Files the README's code-layout table names: ``dir/`` then bare ``name.py`` in the same
    row means ``dir/name.py``."""
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## Layout of the code", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        where = row.split(" | ", 1)[0]
        prefix = ""
        for token in re.findall(r"`([^`]+)`", where):
            if token.endswith("/"):
                prefix = token
            elif "/" in token:
                named.add(token)
            else:
                named.add(prefix + token)
    return named


def test_layout_table_names_every_module():
    modules = set()
    for package in ("vosfmt", "ddb", "fixtures", "bench"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
            rel = os.path.relpath(dirpath, ROOT)
            modules |= {f"{rel}/{f}" for f in files if f.endswith(".py")}
    named = _layout_table_paths()
    assert sorted(modules - named) == []
    assert sorted(p for p in named if p.endswith(".py") and p not in modules
                  and not p.startswith("tests/")) == []
