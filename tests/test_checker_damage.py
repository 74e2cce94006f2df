"""Damage the audit of issue 12 found the checker blind to, or unable to converge on.

Every test damages a built image through the public injectors (or raw file
edits, as an attacker would), then runs ``ddb check start`` as a user does:
``-n`` must find it, ``-y`` must repair it (or honestly leave it, exit 4),
and a second ``-n`` must be clean with the data outside the damage intact.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from fixtures import build, export_image
from fixtures.corrupt import NAMES, branch_pages, edit_node, inject
from vosfmt import open_shard
from vosfmt.constants import PAGE_SIZE
from vosfmt.image import list_shards
from vosfmt.usage import space_usage


def ddb(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check(root, mode):
    """(exit status, {problem name: count}) of one ``check start`` run."""
    r = ddb("--json", "check", "start", mode, "-D", root)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    doc = json.loads(r.stdout) if r.stdout.strip() else {"reports": []}
    names = {}
    for f in doc["reports"]:
        names[f["name"]] = names.get(f["name"], 0) + 1
    return r.exit_code, names


def repaired_clean(root):
    """-y fixes it, then -n is clean (the rule every repair must meet)."""
    code, names = check(root, "-y")
    assert code == 1, names
    code, after = check(root, "-n")
    assert code == 0, (names, after)
    return names


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    out = {}
    for name in ("small", "dtx", "unit"):
        root = str(tmp_path_factory.mktemp(name))
        build(name, root)
        out[name] = root
    return out


@pytest.fixture
def copy(presets, tmp_path):
    def get(name):
        dst = str(tmp_path / name)
        shutil.copytree(presets[name], dst)
        return dst
    return get


def pages_owned(root, shard_index, want):
    """Pages of a shard whose owner label satisfies ``want``."""
    path = list_shards(root)[shard_index]
    with open_shard(path, db_root=root) as sh:
        return path, sorted(p for p, o in space_usage(sh).pages.items() if want(o))


def zero_page(path, page):
    with open(path, "r+b") as f:
        f.seek(page * PAGE_SIZE)
        f.write(bytes(PAGE_SIZE))


# --- 8: whatever does not decode is a finding ------------------------------------------

def test_an_unreadable_dtx_record_list_is_a_finding_and_is_rebuilt(copy):
    root = copy("dtx")
    before = export_image(root)
    path, pages = pages_owned(root, 1, lambda o: o.endswith(" records"))
    zero_page(path, pages[0])
    code, names = check(root, "-n")
    assert code == 4 and names == {"DTX_RECORDS_UNREADABLE": 1}
    assert repaired_clean(root) == {"DTX_RECORDS_UNREADABLE": 1}
    assert export_image(root) == before        # the list came back whole, from the records


# --- 10: a rebuild converges in one run ------------------------------------------------

def test_the_unreadable_page_of_a_rebuilt_tree_is_freed_in_the_same_run(copy):
    root = copy("small")
    path, pages = pages_owned(root, 0, lambda o: o.count("/") == 1 and o.endswith(" tree node"))
    zero_page(path, pages[0])                   # a container's object tree
    names = repaired_clean(root)
    assert "TREE_NODE_UNREADABLE" in names


def test_a_node_cycle_is_damage_and_its_rebuild_leaks_nothing(copy):
    root = copy("unit")
    path = list_shards(root)[0]
    page, _owner = branch_pages(path, root)[0]

    def loop(node):
        node["kids"][1] = node["kids"][0]          # both entries lead to the same leaf
    edit_node(path, page, loop)
    code, names = check(root, "-n")
    assert code == 4 and "TREE_NODE_UNREADABLE" in names and "PAGE_DOUBLE_OWNED" not in names
    repaired_clean(root)


# --- 14: counts inside branch nodes ----------------------------------------------------

def test_a_wrong_branch_count_is_found_and_rebuilt_without_loss(copy):
    root = copy("unit")
    before = export_image(root)
    path = list_shards(root)[0]
    page, _owner = branch_pages(path, root)[0]

    def miscount(node):
        node["counts"][0] -= 1
    edit_node(path, page, miscount)
    code, names = check(root, "-n")
    assert code == 4 and names == {"TREE_COUNT_WRONG": 1}
    assert repaired_clean(root) == {"TREE_COUNT_WRONG": 1}
    assert export_image(root) == before
    r = ddb(path, "ls", "/[0]/[5]")
    assert r.exit_code == 0, r.stdout + r.stderr


# --- 17: a superblock copy that checksums but cannot be right ---------------------------

def edit_slot(path, slot, change):
    """Change one superblock copy's fields and write it back with a valid checksum."""
    from vosfmt.layout import SUPERBLOCK_SIZE
    from vosfmt.shard import decode_superblock, encode_superblock
    with open(path, "r+b") as f:
        f.seek(slot * PAGE_SIZE)
        sb = decode_superblock(f.read(SUPERBLOCK_SIZE), slot, path)
        change(sb)
        f.seek(slot * PAGE_SIZE)
        f.write(encode_superblock(sb))


def slots(path):
    with open_shard(path) as sh:
        return sh.sb.slot, 1 - sh.sb.slot


@pytest.mark.parametrize("which, change", [
    ("used", lambda sb: setattr(sb, "page_size", 1 << 30)),
    ("other", lambda sb: setattr(sb, "generation", (1 << 64) - 1)),
    ("other", lambda sb: setattr(sb, "generation", sb.generation + (1 << 40))),
    ("other", lambda sb: setattr(sb, "total_pages", 1 << 40)),
], ids=["page-size", "max-generation", "far-generation", "pages"])
def test_an_impossible_superblock_copy_falls_back_and_is_rewritten(copy, which, change):
    root = copy("small")
    before = export_image(root)
    path = list_shards(root)[0]
    used, other = slots(path)
    edit_slot(path, used if which == "used" else other, change)
    code, names = check(root, "-n")
    assert code == 4 and names == {"SB_COPY_DAMAGED": 1}
    assert repaired_clean(root) == {"SB_COPY_DAMAGED": 1}
    if which == "other":                        # the state in use was never in doubt
        assert export_image(root) == before


# --- 15: a record's own id against the key it is filed under ----------------------------

def test_an_object_filed_under_another_oid_is_found_and_renamed(copy):
    root = copy("small")
    before = export_image(root)
    inject(root, NAMES["RECORD_ID_MISMATCH"])
    code, names = check(root, "-n")
    assert code == 4 and names == {"RECORD_ID_MISMATCH": 1}
    assert repaired_clean(root) == {"RECORD_ID_MISMATCH": 1}
    assert export_image(root) == before


def test_a_container_filed_under_another_uuid_is_found_and_renamed(copy):
    import uuid
    root = copy("small")
    before = export_image(root)
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c = next(sh.containers())
        with sh.begin() as tx:
            o = tx._cont(c.rec.uuid)
            o.rec.uuid = uuid.uuid4().bytes
            o.dirty = True
    code, names = check(root, "-n")
    assert code == 4 and names == {"RECORD_ID_MISMATCH": 1}
    assert repaired_clean(root) == {"RECORD_ID_MISMATCH": 1}
    assert export_image(root) == before
    for line in ddb(path, "ls", "-r").stdout.splitlines()[1:]:     # every printed path resolves
        printed = line.split(") ", 1)[1]
        assert ddb(path, "ls", printed).exit_code == 0, line
