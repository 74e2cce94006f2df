"""Shell completion as a pure function: commands, flags, files, VOS paths with escaping."""
from __future__ import annotations

import pytest

from ddb.commands import TABLE
from ddb.completer import LIMIT, Context, suggest
from ddb.vospath import parse_path
from fixtures import build
from vosfmt import open_shard
from vosfmt.image import list_shards


def texts(text, ctx):
    return [s.text for s in suggest(text, ctx)]


@pytest.fixture(scope="module")
def small_ctx(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("c"))
    build("small", root)
    sh = open_shard(list_shards(root)[0], db_root=root)
    yield Context(TABLE, sh)
    sh.close()


def test_command_names_and_builtins():
    ctx = Context(TABLE)
    assert texts("", ctx)[:4] == ["cd", "check", "clear", "close"]
    assert texts("dtx_a", ctx) == ["dtx_act_abort", "dtx_act_commit", "dtx_act_discard_invalid", "dtx_aggr"]
    assert texts("he", ctx) == ["help"] and texts("help va", ctx) == ["value_dump", "value_load"]
    assert all(s.start == -2 for s in suggest("dt", ctx))
    assert texts("zz", ctx) == []


def test_flags_only_before_positionals():
    ctx = Context(TABLE)
    assert texts("ls -", ctx) == ["-r", "--recursive", "-d", "--details", "-h", "--help"]
    assert texts("ls --r", ctx) == ["--recursive"]
    assert texts("ls -r -", ctx) == ["-d", "--details", "-h", "--help"]   # -r is --recursive
    assert texts("open -", ctx) == ["-w", "--write_mode", "-p", "--db_path", "-h", "--help"]
    assert texts("ls /x -", ctx) == []
    assert texts("bogus -", ctx) == []


def test_shard_file_paths(tmp_path):
    """DAOS ddb's listVosFiles vectors (compared as sets)."""
    for d in ("a", "ab", "aac", "aaad", "foo", "bar"):
        (tmp_path / d).mkdir()
        for f in ("vos-0", "vos-1", "vos-2", "vos-10", "vos-201", "vos-000", "vos-a", "rdb-pool", "rdb-666"):
            (tmp_path / d / f).write_text("")
    ctx = Context(TABLE)
    t = str(tmp_path)

    def got(prefix):
        return {s.text for s in suggest(f"open {prefix}", ctx)}

    assert got(f"{t}/z") == set()
    assert got(f"{t}/") == {f"{t}/{d}/" for d in ("a", "ab", "aac", "aaad", "foo", "bar")}
    assert got(f"{t}/a") == {f"{t}/{d}/" for d in ("a", "ab", "aac", "aaad")}
    assert got(f"{t}/aa") == {f"{t}/aac/", f"{t}/aaad/"}
    assert got(f"{t}/a/") == {f"{t}/a/{f}" for f in ("vos-0", "vos-1", "vos-2", "vos-10", "vos-201", "rdb-pool")}
    assert got(f"{t}/a/vos-1") == {f"{t}/a/vos-1", f"{t}/a/vos-10"}
    assert {s.text for s in suggest(f"value_dump /[0]/[0]/[0]/[0] {t}/a/vos-a", ctx)} == {f"{t}/a/vos-a"}
    assert {s.text for s in suggest(f"dev_list {t}/a", ctx)} == {f"{t}/{d}/" for d in ("a", "ab", "aac", "aaad")}
    odd = tmp_path / "with space"
    odd.mkdir()
    assert suggest(f"open {t}/with", ctx)[0].text == f"'{t}/with space/'"


def test_vos_levels(small_ctx):
    conts = texts("ls ", small_ctx)
    assert len(conts) == 2 and all(c.endswith("/") and len(c) == 37 for c in conts)
    assert texts("ls /", small_ctx) == ["/" + c for c in conts]
    objs = texts("ls /[1]/", small_ctx)
    assert len(objs) == 4 and all(o.startswith("/[1]/") and o.endswith(".0.0/") for o in objs)
    kv = texts("ls /[1]/[0]/", small_ctx)
    assert kv[:2] == ["/[1]/[0]/dkey-1/", "/[1]/[0]/dkey-2/"]
    assert texts("ls /[1]/[0]/dkey-1/", small_ctx) == ["/[1]/[0]/dkey-1/akey-1", "/[1]/[0]/dkey-1/akey-2/"]
    assert texts("ls /[1]/[0]/dkey-1/akey-2/", small_ctx) == ["/[1]/[0]/dkey-1/akey-2/{9-18}"]
    assert texts("ls /[1]/[0]/[", small_ctx) == [f"/[1]/[0]/[{i}]" for i in range(4)]
    assert texts("ls /[1]/[0]/p", small_ctx) == ["/[1]/[0]/pending/", "/[1]/[0]/punched-dkey/"]
    assert texts("ls /[1]/[0]/nosuch/", small_ctx) == []
    assert texts("value_load /etc/hosts /[1]/[0]/d", small_ctx) == ["/[1]/[0]/dkey-1/", "/[1]/[0]/dkey-2/"]


def test_completed_keys_parse_back_to_their_bytes(small_ctx):
    import shlex
    for s in suggest("ls /[1]/[0]/dkey-2/", small_ctx):
        word = shlex.split(s.text)[0]                   # what the shell hands to the command
        parts = parse_path(word.rstrip("/"))
        key = parts[3].value
        dkey = small_ctx.shard.container_at(1).object_at(0).dkey(b"dkey-2")
        assert dkey.akey(key).key == key
    quoted = suggest("ls '/[1]/[0]/dkey-2/a", small_ctx)
    assert [s.text for s in quoted] == ["'/[1]/[0]/dkey-2/a key\\/with slash'"]


def test_no_shard_means_no_vos_completion():
    assert texts("ls /", Context(TABLE)) == []


def test_bounded_work_on_a_huge_level(tmp_path):
    root = str(tmp_path / "wide")
    n = 100_000
    build({"containers": [{"objects": [{"oid": "1.1.0.0", "dkeys": [{"key": "d", "akeys": [
        {"key": f"akey-{i:06d}", "sv": [{"epoch": 1, "hex": "00"}]} for i in range(n)]}]}]}]}, root)
    with open_shard(list_shards(root)[0]) as sh:
        ctx = Context(TABLE, sh)
        for text in ("ls /[0]/[0]/d/", "ls /[0]/[0]/d/akey-0999", "ls /[0]/[0]/d/[", "ls /[0]/[0]/d/zz"):
            base = sh.df.reads
            out = suggest(text, ctx)
            assert len(out) <= LIMIT
            assert sh.df.reads - base < 200                # bounded page reads per keystroke (no clock)
        assert texts("ls /[0]/[0]/d/akey-09999", ctx) == [f"/[0]/[0]/d/akey-09999{i}" for i in range(10)]


def test_only_flags_the_command_has_and_has_not_been_given():
    ctx = Context(TABLE)
    assert texts("open -p -", ctx) == []                       # -p's value comes next
    assert texts("open -p /db -", ctx) == ["-w", "--write_mode", "-h", "--help"]
    assert texts("open --db_path=/db -", ctx) == ["-w", "--write_mode", "-h", "--help"]
    assert texts("vea_update -", ctx) == ["-h", "--help"]
    assert texts("check -", ctx) == ["-h", "--help"]


def test_check_subcommands_and_their_flags():
    ctx = Context(TABLE)
    assert texts("check ", ctx) == ["disable", "enable", "get-policy", "query", "repair", "set-policy",
                                    "start", "stop"]
    assert texts("check st", ctx) == ["start", "stop"]
    query = texts("check query -", ctx)
    assert "--help" in query and "--yes" not in query          # query's own flags, not start's
    assert "-n" not in texts("check start -n -", ctx) and "-y" in texts("check start -n -", ctx)
    assert texts("check start -D ", ctx) == []
    assert texts("check nosuch -", ctx) == []


def test_system_image_files_are_named(tmp_path, monkeypatch):
    """In a system image: rank-<R> folders are directories labelled with their rank, a pool's
    rdb-pool completes beside its vos-N, and system_dump's -D completes directories only."""
    pool = "12345678-1234-1234-1234-123456789012"
    for d in ("rank-0", "rank-12", "rank-01", f"rank-0/{pool}", "ms/0"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("vos-0", "vos-1", "rdb-pool", "rdb-666"):
        (tmp_path / "rank-0" / pool / f).write_text("")
    (tmp_path / "notes").write_text("")
    monkeypatch.chdir(tmp_path)
    ctx = Context(TABLE)

    def got(text):
        return [(s.text, s.meta) for s in suggest(text, ctx)]

    assert got("open rank-") == [("rank-0/", "engine rank 0"), ("rank-01/", ""),
                                 ("rank-12/", "engine rank 12")]
    assert got(f"open rank-0/{pool}/") == [(f"rank-0/{pool}/rdb-pool", "pool service replica"),
                                           (f"rank-0/{pool}/vos-0", "target 0"),
                                           (f"rank-0/{pool}/vos-1", "target 1")]
    assert [t for t, _ in got(f"rm_pool rank-0/{pool}/r")] == [f"rank-0/{pool}/rdb-pool"]
    assert [t for t, _ in got("system_dump -D ")] == ["ms/", "rank-0/", "rank-01/", "rank-12/"]
    assert [t for t, _ in got("system_dump --sys_root rank-1")] == ["rank-12/"]
    assert texts("system_dump -", ctx) == ["-D", "--sys_root", "-h", "--help"]
    assert texts("system_dump -D ms -", ctx) == ["-h", "--help"]
