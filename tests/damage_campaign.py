"""The damage campaign: one seeded damage per case, then what ddb and its checker make of it.

For every case (preset, seed): copy a pristine built image, apply
``fixtures.damage.damage(root, seed)``, then

1. run the read-only commands (``ls -r``, ``superblock_dump``, ``dtx_stat``,
   ``vea_dump``, ``dtx_dump`` per container, ``value_dump`` of a sample of
   values, ``smd``) and ``check start -n``: none may print an internal error
   or a traceback or die of a signal, and the image's files must keep their
   bytes, mtimes and names;
2. if ``check -n`` said clean, what ddb shows (those transcripts, and every
   value through ``fixtures`` export) must equal the pristine image's --
   unless the damaged image is itself self-consistent ("undetectable");
3. ``check start -y`` then ``check start -n``: clean, or ``-y`` honestly
   exited 4; after a clean second run, data outside the damage's scope must
   be unchanged and the read-only commands must still run without crashing.

Outcomes: ok-clean, ok-honest-4, ok-refused (an unknown incompatible feature: ``check``
refuses the shard with exit 8 and writes nothing, as e2fsck does), undetectable: <why>,
and the failures INTERNAL-ERROR, READONLY-WRITE, UNCLEAN-SECOND-RUN, MISSED, DATA-LOSS-OUTSIDE.

    python tests/damage_campaign.py --presets small,unit,posix,dtx --seeds 0-99 [--jsonl OUT]

Each failure prints its reproducer (build, damage, check). ddb runs as a
subprocess (``python -m ddb``), so a crash or a signal cannot take the
campaign down and the exit status is the real one.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [p for p in (REPO,) if p not in sys.path]

from fixtures import build  # noqa: E402
from fixtures.damage import damage  # noqa: E402
from fixtures.export import export_container  # noqa: E402
from vosfmt import VosError, open_shard  # noqa: E402
from vosfmt import errors as vos_errors  # noqa: E402
from vosfmt.constants import DTX_LID_ABORTED, DTX_LID_COMMITTED, DTX_LID_SOLO_FLAG  # noqa: E402
from vosfmt.image import list_shards  # noqa: E402

SEPARATOR = "version"              # a command whose one output line splits the transcript
VALUE_SAMPLE = 16                  # values read back by value_dump per shard (plus in-scope ones)
TIMEOUT = 300
#: what ddb says when it refuses a shard with incompatible features it does not know
REFUSED_MARK = "unsupported incompatible features"
FAILURES = ("INTERNAL-ERROR", "READONLY-WRITE", "UNCLEAN-SECOND-RUN", "MISSED", "DATA-LOSS-OUTSIDE")
BASE_COMMANDS = ("ls -r", "superblock_dump", "dtx_stat", "vea_dump")
VOS_ERRORS = {n for n, c in vars(vos_errors).items()
              if isinstance(c, type) and issubclass(c, vos_errors.VosError)}
#: what a crash prints: ddb's internal-error line, a traceback, or the one-line form
#: run_command gives any non-VosError met on an open shard ("cannot read ... the shard
#: may be damaged") -- still a decoder or command bug, only worded as damage
CRASH_MARKS = ("internal error", "Traceback (most recent call last)",
               "run with --debug for a traceback")


# --- running ddb ----------------------------------------------------------------------

class Run:
    """One ddb process: argv, exit status, output; ``crash`` names a crash, if any."""

    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def crash(self) -> str | None:
        if self.rc is None:
            return "timeout"
        if self.rc < 0:
            return f"killed by signal {-self.rc}"
        for mark in CRASH_MARKS:
            for text in (self.err, self.out):
                if mark in text:
                    line = next(ln for ln in text.splitlines() if mark in ln or "Error" in ln)
                    return line.strip()[:300]
        return None


def where(args, env) -> str:
    """Whose code a crash is, from a rerun with --debug (which shows the traceback):
    the innermost product frame, or -- when a vosfmt error escaped -- the innermost
    ddb frame, since vosfmt raising its own errors on damage is right and letting
    them escape is the caller's bug. "file:line in function"."""
    r = ddb(["--debug", *args], env=env)
    frames = [(os.path.relpath(f, REPO), n, fn)
              for f, n, fn in re.findall(r'File "([^"]+)", line (\d+), in (\S+)', r.err)
              if os.path.abspath(f).startswith(REPO + os.sep) and "/tests/" not in f]
    exc = re.findall(r"^(?:\w+\.)*(\w+): ", r.err, re.M)
    if exc and exc[-1] in VOS_ERRORS:
        frames = [f for f in frames if f[0].startswith("ddb")] or frames
    return "%s:%s in %s" % frames[-1] if frames else "no traceback"


def ddb(args, stdin: str | None = None, env=None) -> Run:
    argv = [sys.executable, "-m", "ddb", *args]
    try:
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT,
                           cwd=REPO, env=env, errors="replace")
        return Run(args, p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        return Run(args, None, str(e.stdout or ""), str(e.stderr or ""))


def _env(home: str) -> dict:
    env = dict(os.environ, HOME=home, NO_COLOR="1")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


# --- what an image looks like to ddb -----------------------------------------------------

class Plan:
    """The read-only commands run against every version of one preset's image, derived
    once from the pristine image so the damaged one is asked exactly the same."""

    def __init__(self, shard_rel: str, containers: int, values: list):
        self.shard_rel = shard_rel
        self.containers = containers
        self.values = values              # (printed path, vos path prefix) of sampled values

    def commands(self, dst: str, scope: list) -> list:
        """(key, command line, file it writes or None); the key names the command
        without its scratch output file, so transcripts of two runs compare by key."""
        cmds = [(c, c, None) for c in BASE_COMMANDS]
        cmds += [(c, c, None) for c in (f"dtx_dump /[{i}]" for i in range(self.containers))]
        chosen = self.values[:VALUE_SAMPLE]
        chosen += [v for v in self.values[VALUE_SAMPLE:] if _in_scope(v, scope)][:8]
        for i, p in enumerate(chosen):
            out = os.path.join(dst, f"v{i}")
            key = f"value_dump {shlex.quote(p)}"
            cmds.append((key, f"{key} {shlex.quote(out)}", out))
        return cmds


def _in_scope(path: str, scope: list) -> bool:
    return any(s == "*" or path == s or path.startswith(s + "/") for s in scope)


def plan_for(root: str, home: str) -> list:
    """One Plan per shard, from the pristine image's ``ls -r``."""
    plans = []
    for shard in list_shards(root):
        r = ddb([shard, "ls", "-r"], env=_env(home))
        assert r.rc == 0, r.err
        values, containers = [], 0
        for line in r.out.splitlines():
            word = line.strip().split(" ", 1)[0]
            if word == "CONT:":
                containers += 1
            if word in ("AKEY:", "RECX:") and (len(line) - len(line.lstrip())) >= 3:
                printed = line.split(") ", 1)[1]
                if word == "AKEY:" and len(line) - len(line.lstrip()) == 3:
                    continue                    # the akey itself; its values follow one deeper
                if printed not in values:
                    values.append(printed)
        spread = values[:: max(1, len(values) // VALUE_SAMPLE)]
        rest = [v for v in values if v not in spread]
        plans.append(Plan(os.path.relpath(shard, root), containers, spread + rest))
    return plans


def transcript(root: str, plan: Plan, dst: str, scope: list, env) -> tuple[dict, list]:
    """({key: normalized output}, crashes) of the plan's commands, run in one
    non-interactive shell (restarted after a crash, so one crash hides no other)."""
    shard = os.path.join(root, plan.shard_rel)
    cmds = plan.commands(dst, scope)
    segments, crashes = [], []
    while len(segments) < len(cmds):
        todo = cmds[len(segments):]
        lines = "".join(f"{line}\n{SEPARATOR}\n" for _, line, _ in todo)
        r = ddb([shard], stdin=lines, env=env)
        parts = _split(_normalize(r.out, root, dst))
        if r.crash:
            key, line, _ = todo[min(max(len(parts) - 1, 0), len(todo) - 1)]
            crashes.append(f"{key}: {r.crash} [{where([shard, *shlex.split(line)], env)}]")
        if len(parts) <= 1 and not r.out.count("ddb version"):
            segments.append(_normalize(r.out + r.err, root, dst).strip())    # could not open
            segments += ["(not run)"] * (len(cmds) - len(segments))
            break
        done = parts[:-1] if not r.crash else parts[:-1] + [f"CRASH {r.crash}"]
        segments += done[:len(todo)]
        if not r.crash:
            break
    for i, (_, _, out) in enumerate(cmds[:len(segments)]):
        if out:
            segments[i] += f" sha256={_sha(out)}"
    return {key: seg for (key, _, _), seg in zip(cmds, segments)}, crashes


def _sha(path: str) -> str:
    if not os.path.exists(path):
        return "-"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _normalize(text: str, root: str, dst: str | None) -> str:
    if dst:
        text = text.replace(dst, "<DST>")
    return text.replace(root, "<ROOT>")


def _split(text: str) -> list:
    out, cur = [], []
    for line in text.splitlines():
        if line.startswith("ddb version "):
            out.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    out.append("\n".join(cur))
    return out


def observe(root: str, plans: list, scope: list, work: str, env) -> dict:
    """Everything ddb shows of an image through the read-only commands, and their crashes."""
    shown, crashes = {}, []
    for plan in plans:
        dst = tempfile.mkdtemp(dir=work, prefix="dst")
        segs, cr = transcript(root, plan, dst, scope, env)
        shown[plan.shard_rel] = segs
        crashes += [f"{plan.shard_rel}: {c}" for c in cr]
        shutil.rmtree(dst)
    r = ddb(["smd", root], env=env)
    shown["smd"] = {"smd": _normalize(r.out + r.err, root, None)}
    if r.crash:
        crashes.append(f"smd: {r.crash}")
    return {"shown": shown, "crashes": crashes}


def export_parts(root: str) -> dict:
    """The image's data as comparable parts: per object, per container's DTX tables, SMD.
    A shard that cannot be read contributes an ``error`` part instead."""
    parts = {}
    for path in list_shards(root):
        rel = os.path.relpath(path, root)
        try:
            with open_shard(path, db_root=root) as sh:
                for c in sh.containers():
                    ce = export_container(sh, c)
                    for o in ce.pop("objects"):
                        parts[(rel, ce["uuid"], o["oid"])] = o
                    parts[(rel, ce["uuid"], "#container")] = ce
        except VosError as e:
            parts[(rel, "#error")] = str(e).replace(root, "<ROOT>")
    try:
        from vosfmt.smd import SysDb
        with SysDb(root) as db:
            parts[("smd",)] = {"devices": sorted(str(d) for d in db.devices()),
                               "pools": sorted(repr(p) for p in db.pools().items())}
    except VosError as e:
        parts[("smd",)] = f"error: {e}".replace(root, "<ROOT>")
    return parts


def files_state(root: str) -> dict:
    """Bytes, size and mtime of every file and the names of every directory under root
    (``check -n`` keeps its report outside the image, so nothing is left out)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            if os.path.isdir(p):
                out[rel] = "dir"
                continue
            st = os.stat(p)
            out[rel] = (_sha(p), st.st_size, st.st_mtime_ns)
    return out


def _state_diff(a: dict, b: dict) -> list:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# --- scope and consistency ------------------------------------------------------------------

def damaged_shard(desc: dict) -> str | None:
    f = desc.get("shard") or desc["file"]
    return f if "/vos-" in f else None


def part_in_scope(key: tuple, desc: dict) -> bool:
    """May this part of the image change because of this damage?"""
    scope = desc.get("scope") or []
    if key == ("smd",):
        return "smd" in scope or desc["kind"].startswith("blob_")
    if key[0] != damaged_shard(desc):
        return False
    if "*" in scope or key[1] == "#error":
        return "*" in scope
    cont, what = key[1], key[2]
    for s in scope:
        parts = s.split("/")
        if len(parts) >= 2 and parts[1] == cont and (len(parts) == 2 or what in (parts[2], "#container")):
            return True
    return False


def self_consistent(p, root: str, parts: dict, shown: dict, scope: list) -> str | None:
    """None when the damaged image is a valid image in its own right: every shard reads,
    its space is accounted for, and a fresh image built from its exported content has
    the same content and looks the same to every read-only command (so keys sit where
    lookups find them and records agree with their keys). Else what is inconsistent.

    ``vea_dump``, blob ids and DTX local ids are left out of the comparison: the
    builder chooses them; they are not content."""
    from fixtures import export_image
    from vosfmt.usage import space_usage
    if any(k[-1] == "#error" for k in parts):
        return "a shard does not read"
    for path in list_shards(root):
        with open_shard(path, db_root=root) as sh:
            u = space_usage(sh)
            if u.page_conflicts or u.block_conflicts or u.leaked_pages or u.free_and_used_pages \
                    or u.free_and_used_blocks:
                return "space not accounted for"
    again = os.path.join(p.work, "rebuilt")
    try:
        img = export_image(root)
        build(img, again)
        rebuilt = export_image(again)
        if _content(img) != _content(rebuilt):
            return "content differs once rebuilt (order or representation)"
        fresh = observe(again, p.plans, scope, p.work, p.env)["shown"]
    except Exception as e:          # noqa: BLE001 -- any failure means "not representable"
        return f"content does not rebuild ({type(e).__name__}: {str(e)[:100]})"
    finally:
        shutil.rmtree(again, ignore_errors=True)
    diff = [d for d in _shown_diff(_content_view(shown, p), _content_view(fresh, p))]
    return f"reads differently from its rebuilt content: {diff[:3]}" if diff else None


def _content(img: dict) -> str:
    """An export's containers without DTX local ids (the builder assigns those); a
    solo-marked id (bit 31) means committed, as no id does."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()
                    if not (k == "lid" and isinstance(v, int) and v & DTX_LID_SOLO_FLAG)}
        return [strip(v) for v in x] if isinstance(x, list) else x
    text = json.dumps(strip([x["containers"] for x in img["pools"]]), sort_keys=True)
    return re.sub(r'"lid": \d+', '"lid": 0', text)


def _content_view(shown: dict, p) -> dict:
    """The transcripts without what the builder chooses: vea_dump, blob ids, DTX local ids."""
    out = {}
    for plan in p.plans:
        segs = shown.get(plan.shard_rel, {})
        out[plan.shard_rel] = {k: re.sub(r"\n\s*Local ID: \d+", "", v) for k, v in segs.items()
                               if k != "vea_dump"}
    out["smd"] = {k: re.sub(r"0x[0-9a-f]+", "<blob id>", v) for k, v in shown.get("smd", {}).items()}
    return out


#: Fields of which every value makes a valid image: content (keys, inline value bytes,
#: epochs and minor epochs, DTX commit times, free-extent ages, versions, hashes) or
#: padding. Nothing else in the image says what they should be, so a rewrite of one,
#: checksum recomputed, is a different valid image: undetectable by design. Every
#: other field is structure (sizes, counts, offsets, pages, flags, enums, magic) or is
#: repeated elsewhere (a record's oid or uuid against its key, a child's tree class)
#: and so must be caught.
FREE_FIELDS = {"key", "data", "epoch", "minor", "punch_minor", "update_minor", "age", "cmt_time",
               "hae", "newest_aggregated", "global_stable_epoch", "sync_epoch", "ver",
               "dkey_hash", "pad", "reserved"}
#: ilog / record local ids that need no DTX entry: committed, aborted, and any id with
#: the solo bit (31), which upstream VOS counts as committed after a restart
FREE_LIDS = {DTX_LID_COMMITTED, DTX_LID_ABORTED}


def _free_lid(lid) -> bool:
    return isinstance(lid, int) and (lid in FREE_LIDS or bool(lid & DTX_LID_SOLO_FLAG))


def undetectable_reason(desc: dict, pristine, root: str | None = None) -> str | None:
    """Why a self-consistent difference is undetectable by design; None if it is not."""
    name = (desc.get("inner_field") or desc.get("field") or "").rsplit(".", 1)[-1]
    if desc.get("crc_recomputed") and desc["kind"] != "blob_header_field":
        if name in FREE_FIELDS or (name in ("tx_id", "dtx_lid") and _free_lid(desc.get("new"))):
            return f"undetectable: consistent rewrite ({name})"
        if name in HOLE_FIELDS and root is not None and _hole_field(root, desc):
            return f"undetectable: consistent rewrite ({name} of a hole)"
        return None
    owner = desc.get("owner") or ""
    cont = owner.split("/")[1] if owner.startswith("/") else None
    if desc["kind"] in ("flip", "blob_data_flip") and "@" in owner and pristine.csum.get(cont) == "off":
        return "undetectable: unchecksummed value data"
    return None


#: An extent's fields that are a hole's content. A punched range's length (``nr``) and
#: record size (``rsize``) are repeated nowhere: a hole has no data (``nr * rsize`` bytes
#: of it) and no checksums (one per chunk of those bytes), the tree key holds only its
#: start, and our format keeps the record size per extent (upstream's per-tree
#: ``tr_inob`` has no counterpart: extents of one array may differ in it), so any value
#: makes a valid hole. For an extent with data both are repeated and must be caught.
HOLE_FIELDS = {"nr", "rsize"}


def _hole_field(root: str, desc: dict) -> bool:
    """Is the damaged field part of an extent record that is a hole (``HOLE_FIELDS``)?"""
    from fixtures.damage_image import read_page
    from fixtures.located import meta_fields
    from vosfmt.constants import AddrFlags
    field = desc.get("inner_field") or desc.get("field") or ""
    flags = field.rsplit(".", 1)[0] + ".aflags"
    try:
        fs = meta_fields(read_page(os.path.join(root, desc["file"]), desc["page"]), desc["page"])
    except Exception:               # noqa: BLE001 -- a page that does not parse: not a hole
        return False
    return any(f.name == flags and f.value & AddrFlags.HOLE for f in fs)


# --- one case --------------------------------------------------------------------------------

class Pristine:
    """A preset built once, and everything ddb shows of it."""

    def __init__(self, preset: str, base: str, scale: float = 1.0):
        self.preset, self.scale = preset, scale
        self.root = os.path.join(base, f"pristine-{preset}")
        build(preset, self.root, seed=0, scale=scale)
        self.home = os.path.join(base, "home")
        os.makedirs(self.home, exist_ok=True)
        self.env = _env(self.home)
        self.plans = plan_for(self.root, self.home)
        self.parts = export_parts(self.root)
        self.csum = {k[1]: v["csum"] for k, v in self.parts.items() if k[-1] == "#container"}
        self.work = os.path.join(base, "work")
        os.makedirs(self.work, exist_ok=True)
        self.view = os.path.join(base, f"view-{preset}")      # what the pristine image shows
        shutil.copytree(self.root, self.view)
        self._shown = {}
        r = ddb(["check", "start", "-n", "-D", self.view], env=self.env)
        assert r.rc == 0, f"pristine {preset} is not clean: {r.out}{r.err}"

    def shown(self, scope: list) -> dict:
        """What the read-only commands show of the pristine image (a case's scope picks
        which values are read back, so the pristine answers are kept per scope)."""
        key = tuple(scope)
        if key not in self._shown:
            self._shown[key] = observe(self.view, self.plans, scope, self.work, self.env)["shown"]
        return self._shown[key]

    def case_dir(self) -> str:
        return os.path.join(self.work, "case")


def reproducer(preset: str, seed: int, kind: str, scale: float = 1.0) -> str:
    sc = f" --scale {scale}" if scale != 1.0 else ""
    return (f"python -m fixtures build X --preset {preset}{sc} && "
            f"python -m fixtures damage X --seed {seed} --kind {kind} && ddb check start -n -D X")


def run_case(pristine: Pristine, seed: int, kind: str | None = None) -> dict:
    root = pristine.case_dir()
    if os.path.exists(root):
        shutil.rmtree(root)
    shutil.copytree(pristine.root, root)
    try:
        desc = damage(root, seed, kind)
        return dict(_judge(pristine, root, desc), preset=pristine.preset, seed=seed, damage=desc,
                    reproduce=reproducer(pristine.preset, seed, desc["kind"], pristine.scale))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _judge(p: Pristine, root: str, desc: dict) -> dict:
    env, scope = p.env, desc.get("scope") or []
    problems = collections.defaultdict(list)
    before = files_state(root)
    seen = observe(root, p.plans, scope, p.work, env)
    problems["INTERNAL-ERROR"] += [f"read-only: {c}" for c in seen["crashes"]]
    changed = _state_diff(before, files_state(root))
    if changed:
        problems["READONLY-WRITE"].append(f"read-only commands changed {changed}")
    n1 = ddb(["check", "start", "-n", "-D", root], env=env)
    if n1.crash:
        at = where(["check", "start", "-n", "-D", root], env)
        problems["INTERNAL-ERROR"].append(f"check -n: {n1.crash} [{at}]")
    changed = _state_diff(before, files_state(root))
    if changed:
        problems["READONLY-WRITE"].append(f"check -n changed {changed}")
    outcome = {"check_n": n1.rc, "check_n_out": _tail(n1)}
    if refused(n1):
        return _judge_refused(root, before, env, problems, outcome)
    if n1.rc == 0:
        diff = _shown_diff(p.shown(scope), seen["shown"])
        parts = export_parts(root)
        diff += [f"data {k}" for k in sorted(set(p.parts) | set(parts), key=str)
                 if p.parts.get(k) != parts.get(k)]
        if diff:
            why = self_consistent(p, root, parts, seen["shown"], scope)
            reason = undetectable_reason(desc, p, root) if why is None else None
            if why is None and reason is None:
                why = f"the changed field {desc.get('inner_field') or desc.get('field')} is " \
                      "structure or repeated elsewhere, so the change is detectable"
            if reason:
                outcome["undetectable"] = reason
            else:
                problems["MISSED"].append(f"check -n clean, but {why}; differs: {diff[:6]}")
    y = ddb(["check", "start", "-y", "-D", root], env=env)
    n2 = ddb(["check", "start", "-n", "-D", root], env=env)
    outcome.update(check_y=y.rc, check_n2=n2.rc, check_y_out=_tail(y), check_n2_out=_tail(n2))
    for name, r in (("check -y", y), ("second check -n", n2)):
        if r.crash:
            problems["INTERNAL-ERROR"].append(f"{name}: {r.crash}")
    if n2.rc != 0 and y.rc != 4:
        problems["UNCLEAN-SECOND-RUN"].append(f"-y exit {y.rc}, then -n exit {n2.rc}")
    if n2.rc == 0:
        _after_repair(p, root, desc, problems)
    outcome["problems"] = {k: v for k, v in problems.items() if v}
    outcome["outcome"] = _classify(outcome, y.rc, n2.rc)
    return outcome


def refused(r: Run) -> bool:
    """ddb declined the shard as written with incompatible features it does not know: it
    cannot tell a newer writer from damage, so it must not touch it (e2fsck refuses
    unknown incompat features the same way)."""
    return r.rc == 8 and REFUSED_MARK in r.out + r.err


def _judge_refused(root: str, before: dict, env, problems, outcome: dict) -> dict:
    """A refusal is accepted ("ok-refused") only when ``check -y`` refuses too and nothing
    in the image was written."""
    y = ddb(["check", "start", "-y", "-D", root], env=env)
    outcome.update(check_y=y.rc, check_y_out=_tail(y), refused=True)
    if y.crash:
        problems["INTERNAL-ERROR"].append(f"check -y: {y.crash}")
    if not refused(y):
        problems["UNCLEAN-SECOND-RUN"].append(f"check -n refused the image, check -y exit {y.rc}")
    changed = [k for k in _state_diff(before, files_state(root)) if not k.startswith("daos_sys/check")]
    if changed:
        problems["READONLY-WRITE"].append(f"a refused image was written: {changed}")
    outcome["problems"] = {k: v for k, v in problems.items() if v}
    outcome["outcome"] = _classify(outcome, y.rc, None)
    return outcome


def _after_repair(p: Pristine, root: str, desc: dict, problems) -> None:
    """After a clean second run: nothing outside the scope lost, and ddb still reads it."""
    parts = export_parts(root)
    lost = [k for k in sorted(set(p.parts) | set(parts), key=str)
            if p.parts.get(k) != parts.get(k) and not part_in_scope(k, desc)]
    errors = [k for k in parts if k[-1] == "#error"]
    if errors:
        problems["MISSED"].append(f"clean after repair, but unreadable: {[parts[k] for k in errors]}")
    elif lost:
        problems["DATA-LOSS-OUTSIDE"].append(f"changed outside {desc.get('scope')}: {lost[:6]}")
    seen = observe(root, p.plans, desc.get("scope") or [], p.work, p.env)
    problems["INTERNAL-ERROR"] += [f"after repair: {c}" for c in seen["crashes"]]


def _classify(outcome: dict, y_rc, n2_rc) -> str:
    for name in FAILURES:
        if outcome["problems"].get(name):
            return name
    if outcome.get("undetectable"):
        return outcome["undetectable"]
    if outcome.get("refused"):
        return "ok-refused"
    return "ok-honest-4" if n2_rc != 0 and y_rc == 4 else "ok-clean"


def _shown_diff(a: dict, b: dict) -> list:
    """Where two observations differ: (shard, command) and the second's output."""
    out = []
    for shard in sorted(set(a) | set(b)):
        sa, sb = a.get(shard, {}), b.get(shard, {})
        out += [f"{shard} {k}: {(sb.get(k) or '')[:120]!r}" for k in sa.keys() | sb.keys()
                if sa.get(k) != sb.get(k)]
    return out


def _tail(r: Run) -> str:
    text = (r.out + r.err).strip().splitlines()
    return "\n".join(text[-3:])[:400]


# --- the campaign -------------------------------------------------------------------------------

def campaign(presets, seeds, kinds=None, scale=None, jsonl=None, verbose=True, base=None,
             only=None):
    """Run every (preset, seed[, kind]) case -- or only the (preset, seed) pairs in
    ``only`` -- and return the list of case results."""
    base = base or tempfile.mkdtemp(prefix="ddb-damage-")
    results = []
    out = open(jsonl, "a") if jsonl else None
    try:
        for preset in presets:
            sc = (scale or 0.01) if preset == "large" else 1.0
            p = Pristine(preset, base, sc)
            for seed in seeds:
                if only is not None and (preset, seed) not in only:
                    continue
                for kind in (kinds or [None]):
                    t = time.monotonic()
                    try:
                        res = run_case(p, seed, kind)
                    except Exception as e:          # noqa: BLE001 -- a harness or damage failure
                        res = {"preset": preset, "seed": seed, "outcome": "HARNESS-ERROR",
                               "problems": {"HARNESS-ERROR": [f"{type(e).__name__}: {e}"]},
                               "damage": {"kind": kind}}
                    res["seconds"] = round(time.monotonic() - t, 2)
                    results.append(res)
                    if out:
                        out.write(json.dumps(res, default=str) + "\n")
                        out.flush()
                    if verbose:
                        _print_case(res)
    finally:
        if out:
            out.close()
        shutil.rmtree(base, ignore_errors=True)
    return results


def is_ok(res: dict) -> bool:
    return res["outcome"].startswith(("ok-", "undetectable"))


def _print_case(res: dict) -> None:
    d = res.get("damage", {})
    line = f"{res['preset']:6} seed {res['seed']:4} {d.get('kind', '?'):18} {res['outcome']}"
    if not is_ok(res):
        line += f"  {d.get('what', '')} @ {d.get('owner', d.get('file', ''))}"
        for k, v in res.get("problems", {}).items():
            line += f"\n      {k}: {v[0][:300]}"
        line += f"\n      {reproducer_for(res)}"
    print(line, flush=True)


def summary(results: list) -> str:
    """Counts by outcome, and failures by kind."""
    by = collections.Counter(r["outcome"] for r in results)
    lines = [f"{len(results)} cases"] + [f"  {n:5}  {o}" for o, n in by.most_common()]
    fails = collections.Counter((r["outcome"], r.get("damage", {}).get("kind")) for r in results
                                if not is_ok(r))
    if fails:
        lines.append("failures by kind:")
        lines += [f"  {n:5}  {o:20} {k}" for (o, k), n in sorted(fails.items())]
    return "\n".join(lines)


def area(res: dict) -> str:
    """The probable owner of a failure: which part of the product should change."""
    outcome, probs = res["outcome"], res.get("problems", {})
    first = (probs.get(outcome) or [""])[0]
    if outcome == "INTERNAL-ERROR":
        frame = re.search(r"\[([\w/]+)\.py:", first)
        if frame and frame.group(1).startswith("vosfmt"):
            return "vosfmt reader"
        if frame and frame.group(1).startswith("ddb/checker"):
            return "checker scan/repair (crash)"
        if first.startswith(("read-only", "after repair")):
            return "CLI read-only command errors"
        return "checker scan/repair (crash)"
    if outcome == "UNCLEAN-SECOND-RUN":
        return "check engine/exit codes" if res.get("check_y") == 8 else "checker repair"
    if outcome == "MISSED":
        return "checker scan"
    if outcome == "DATA-LOSS-OUTSIDE":
        return "checker repair"
    if outcome == "READONLY-WRITE":
        return "check engine" if "check -n" in first else "CLI read-only command errors"
    return "harness"


def signature(res: dict) -> str:
    """What alike failures share: the phase, command and exception of a crash; the
    findings left after a repair; else the message with paths and numbers taken out."""
    outcome = res["outcome"]
    first = (res.get("problems", {}).get(outcome) or [""])[0]
    crash = re.match(r"([a-z -]+): (?:\S+: )?([a-z_]+)?.*?internal error: (\w+)", first)
    if outcome == "INTERNAL-ERROR" and crash:
        frame = re.search(r"\[(\S+):\d+ in (\S+)\]", first)
        return " ".join(x for x in crash.groups() if x) + (" at %s %s" % frame.groups() if frame else "")
    if outcome == "UNCLEAN-SECOND-RUN":
        names = sorted(set(re.findall(r"\b[A-Z][A-Z_]{5,}\b", res.get("check_n2_out", ""))))
        return f"-y exit {res.get('check_y')}, -n exit {res.get('check_n2')}: {' '.join(names)}"
    text = re.sub(r"/\S+", "<path>", first)
    return re.sub(r"0x[0-9a-f]+|\b\d+\b", "N", text)[:160]


def reproducer_for(res: dict) -> str:
    """Commands that show the failure: build, damage, then the command that fails."""
    head = res["reproduce"].rsplit(" && ddb ", 1)[0]
    first = (res.get("problems", {}).get(res["outcome"]) or [""])[0]
    m = re.match(r"(?:read-only|after repair): (\S+): ([a-z_]+[^:]*):", first)
    if m:
        cmd = m.group(2)
        pre = "ddb check start -y -D X && " if first.startswith("after repair") else ""
        return f"{head} && {pre}ddb X/{m.group(1)} {cmd}"
    if res["outcome"] in ("UNCLEAN-SECOND-RUN", "DATA-LOSS-OUTSIDE") or "check -y" in first \
            or "second" in first:
        return f"{head} && ddb check start -y -D X; ddb check start -n -D X"
    return res["reproduce"]


def grouped(results: list) -> str:
    """Failures grouped by owner area, outcome and message, each with two reproducers."""
    groups = collections.defaultdict(list)
    for r in results:
        if not is_ok(r):
            groups[(area(r), r["outcome"], signature(r))].append(r)
    lines = []
    for (ar, outcome, sig), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        kinds = collections.Counter(r["damage"].get("kind") for r in rs)
        lines.append(f"[{ar}] {outcome} x{len(rs)} ({', '.join(f'{k} {n}' for k, n in kinds.most_common())})")
        lines.append(f"    {sig}")
        for r in rs[:2]:
            lines.append(f"    $ {reproducer_for(r)}")
    return "\n".join(lines)


def load(jsonl: str) -> list:
    with open(jsonl) as f:
        return [json.loads(line) for line in f if line.strip()]


def _seeds(text: str) -> list:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="small,unit,posix,dtx")
    ap.add_argument("--seeds", default="0-19", help="e.g. 0-99 or 1,5,9")
    ap.add_argument("--kinds", default=None, help="comma-separated damage kinds (default: drawn)")
    ap.add_argument("--scale", type=float, default=None, help="scale of the large preset (0.01)")
    ap.add_argument("--jsonl", default=None, help="append one JSON line per case here")
    ap.add_argument("--report", metavar="JSONL", help="only summarize and group a finished run")
    ap.add_argument("--rerun", metavar="JSONL", help="run again only the failed cases of a run")
    a = ap.parse_args(argv)
    only = None
    if a.rerun:
        failed = [r for r in load(a.rerun) if not is_ok(r)]
        only = {(r["preset"], r["seed"]) for r in failed}
        a.presets = ",".join(dict.fromkeys(r["preset"] for r in failed))
        a.seeds = ",".join(str(s) for s in sorted({r["seed"] for r in failed}))
    if a.report:
        res = load(a.report)
        print(summary(res) + "\n" + grouped(res))
        return 0 if all(is_ok(r) for r in res) else 1
    res = campaign(a.presets.split(","), _seeds(a.seeds) if a.seeds else [],
                   a.kinds.split(",") if a.kinds else None, a.scale, a.jsonl, only=only)
    print(summary(res))
    return 0 if all(is_ok(r) for r in res) else 1


if __name__ == "__main__":
    sys.exit(main())
