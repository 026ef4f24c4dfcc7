#!/usr/bin/python3
"""Security on a shared mount (issue 17): every user.aifs.* control and .aifs view is
checked in the daemon as the POSIX operation it resembles, with the caller's uid, gids
and umask.  Two unprivileged users, alice and bob (with no /etc/passwd entries: uids,
gids and a shared group through run_as), work on one mount with allow_other.

Covers promote (item 1), journal areas as promote/rename targets (item 4 prevention),
history across rename-over and restore (item 5), .aifs listings (item 6), set-id bits of
versions and snapshots (item 10), lineage command lines and per-user jobs (items 11, 12),
refusals not logged as errors (item 13), and a matrix of each control x {owner, other
user, root}.  Journal retention and holds (items 2, 3) are tested with the journal.
"""

import errno
import json
import os
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Fail, Store, check, data, eq, errname, main, raises, read_all,  # noqa: E402
                     run_as, skip_native, test, write_file)

ALICE = 1000
BOB = 1001
TEAM = 2000     # a group both belong to
PY = "/usr/bin/python3"


# ------------------------------------------------------------------ helpers

def as_alice(fn, *args):
    return run_as(ALICE, ALICE, fn, *args, groups=(TEAM,))


def as_bob(fn, *args):
    return run_as(BOB, BOB, fn, *args, groups=(TEAM,))


def as_root(fn, *args):
    return fn(*args)


ACTORS = {"alice": as_alice, "bob": as_bob, "root": as_root}


def mkdir_for(path, uid, gid, mode):
    os.mkdir(path)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def setx(path, name, value):
    os.setxattr(path, name, value if isinstance(value, bytes) else value.encode())


def version_of(path):
    try:
        return int(os.getxattr(path, "user.aifs.version"))
    except OSError:
        return 0


def save(actor, path, content, mode=0o644, expect=None):
    """One write session of ACTOR on PATH; waits (as root) until it is version EXPECT."""
    before = version_of(path) if os.path.exists(path) else 0
    ACTORS[actor](write_file, path, content, mode)
    want = expect or before + 1
    deadline = time.time() + 10
    while version_of(path) != want and time.time() < deadline:
        time.sleep(0.05)
    eq(version_of(path), want, "user.aifs.version of %s after a save by %s" % (path, actor))


def outcome(fn, *args):
    """'ok' or the errno name of an OSError that FN(*ARGS) raised."""
    try:
        fn(*args)
        return "ok"
    except OSError as e:
        return errname(e.errno)


def promote(src, rel):
    setx(src, "user.aifs.promote", rel)


def team(s):
    """Directories of a team: alice's and bob's checkpoint directories, a shared checkpoint
    directory (group TEAM, 2770: new files are of group TEAM), a public 0777 plain directory."""
    ck = os.path.join(s.mnt, "checkpoints")
    return {
        "alice": mkdir_for(os.path.join(ck, "alice"), ALICE, ALICE, 0o755),
        "bob": mkdir_for(os.path.join(ck, "bob"), BOB, BOB, 0o755),
        "team": mkdir_for(os.path.join(ck, "team"), 0, TEAM, 0o2770),
        "pub": mkdir_for(os.path.join(s.mnt, "pub"), 0, 0, 0o777),
    }


def log_lines(s, level):
    try:
        with open(s.log, "rb") as f:
            return [ln for ln in f.read().decode("utf-8", "replace").splitlines()
                    if ": %s: " % level in ln]
    except OSError:
        return []


# ------------------------------------------------------------------ item 1: promote

@test
def promote_needs_search_on_path_and_write_on_destination():
    skip_native()
    with Store() as s:
        t = team(s)
        src = os.path.join(t["bob"], "b.pt")
        save("bob", src, b"bob's model")
        priv = mkdir_for(os.path.join(s.mnt, "alice_priv"), ALICE, ALICE, 0o700)
        write_file(os.path.join(priv, "there.pt"), b"x")
        os.chown(os.path.join(priv, "there.pt"), ALICE, ALICE)
        half = mkdir_for(os.path.join(s.mnt, "alice_711"), ALICE, ALICE, 0o711)
        mkdir_for(os.path.join(half, "sub"), ALICE, ALICE, 0o755)
        cases = [
            ("x.pt", errno.EACCES, "the mount root (root's 0755)"),
            ("alice_priv/x.pt", errno.EACCES, "a new name in alice's 0700 directory"),
            ("alice_priv/there.pt", errno.EACCES, "an existing name in alice's 0700 directory"),
            ("alice_priv/nodir/x.pt", errno.EACCES, "a missing directory in alice's 0700 one"),
            ("alice_711/sub/x.pt", errno.EACCES, "alice's 0755 directory (searchable, not writable)"),
            ("alice_711/nodir/x.pt", errno.ENOENT, "a missing name in a searchable directory"),
            ("checkpoints/alice/x.pt", errno.EACCES, "alice's 0755 checkpoint directory"),
        ]
        for rel, err, what in cases:
            raises(err, as_bob, promote, src, rel, what="bob promotes into %s" % what)
        check(not os.path.exists(os.path.join(s.mnt, "x.pt")), "x.pt appeared at the root")
        eq(sorted(os.listdir(priv)), ["there.pt"], "alice's 0700 directory after refused promotes")
        eq(os.listdir(os.path.join(half, "sub")), [], "alice's sub directory after a refused promote")
        eq(read_all(os.path.join(priv, "there.pt")), b"x", "alice's file after a refused promote")
        # allowed: a directory bob may write; the new file is his, with his umask applied
        as_bob(promote, src, "pub/b1.pt")
        st = os.stat(os.path.join(t["pub"], "b1.pt"))
        eq((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (BOB, BOB, 0o644),
           "owner, group, mode of bob's promoted file (umask 022)")
        eq(read_all(os.path.join(t["pub"], "b1.pt")), b"bob's model", "content of bob's promoted file")

        def promote_umask077():
            os.umask(0o077)
            promote(src, "pub/b2.pt")
        as_bob(promote_umask077)
        eq(stat.S_IMODE(os.stat(os.path.join(t["pub"], "b2.pt")).st_mode), 0o600,
           "mode of a file promoted with umask 077")
        # root may promote anywhere (not into a journal area)
        promote(src, "alice_priv/root.pt")
        eq(os.stat(os.path.join(priv, "root.pt")).st_uid, 0, "owner of root's promoted file")


@test
def promote_needs_read_permission_on_the_source():
    skip_native()
    with Store() as s:
        t = team(s)
        wo = os.path.join(t["alice"], "wo.pt")
        save("alice", wo, b"alice's secret", mode=0o600)
        os.chmod(wo, 0o622)        # bob may write it, not read it
        raises(errno.EACCES, as_bob, read_all, wo, what="bob reads alice's 0622 file")
        raises(errno.EACCES, as_bob, promote, wo, "pub/stolen.pt",
               what="bob promotes alice's 0622 checkpoint file")
        plain = os.path.join(t["pub"], "plain-wo")
        as_alice(write_file, plain, b"alice's plain secret", 0o622)
        os.chmod(plain, 0o622)
        raises(errno.EACCES, as_bob, promote, plain, "pub/stolen2",
               what="bob promotes alice's 0622 plain file")
        eq(sorted(os.listdir(t["pub"])), ["plain-wo"], "pub after refused promotes")
        as_alice(promote, wo, "pub/mine.pt")
        eq(read_all(os.path.join(t["pub"], "mine.pt")), b"alice's secret", "alice promotes her own file")


@test
def promote_and_rename_into_a_journal_area_refused_for_everyone():
    skip_native()
    with Store() as s:
        t = team(s)
        audit = os.path.join(s.mnt, "audit")
        bj = mkdir_for(os.path.join(audit, "bob"), BOB, BOB, 0o777)
        src = os.path.join(t["pub"], "f")
        write_file(src, b"planted")
        os.chmod(src, 0o666)
        for actor in ("alice", "bob", "root"):
            raises(errno.EPERM, ACTORS[actor], promote, src, "audit/bob/%s.log" % actor,
                   what="%s promotes into bob's journal directory" % actor)
        raises(errno.EPERM, promote, src, "audit/planted.log", what="root promotes into audit/")
        raises(errno.EPERM, os.rename, src, os.path.join(bj, "moved.log"),
               what="root renames a plain file into a journal directory")
        d = os.path.join(t["pub"], "d")
        os.mkdir(d)
        raises(errno.EPERM, os.rename, d, os.path.join(bj, "d"),
               what="root renames a plain directory into a journal directory")
        eq(os.listdir(bj), [], "bob's journal directory after refused promotes and renames")
        # writing there stays the way to make a journal file
        as_bob(write_file, os.path.join(bj, "ok.log"), b"record\n")
        eq(read_all(os.path.join(bj, "ok.log")), b"record\n", "a journal file bob wrote")


# ------------------------------------------------------------------ item 5: history

@test
def rename_over_another_users_file_does_not_inherit_its_versions():
    skip_native()
    with Store() as s:
        t = team(s)
        secret = os.path.join(t["team"], "secret.pt")
        save("alice", secret, b"alice v1 secret", mode=0o600)
        mine = os.path.join(t["team"], "bob.tmp")
        save("bob", mine, b"bob's own", mode=0o644)
        as_bob(os.rename, mine, secret)
        st = os.stat(secret)
        eq((st.st_uid, version_of(secret)), (BOB, 1), "owner and version number after bob's rename-over")
        eq(sorted(os.listdir(os.path.join(t["team"], ".aifs", "versions", "secret.pt"))), ["1"],
           "versions of secret.pt after bob's rename-over (alice's are not his)")
        eq(as_bob(read_all, secret + "@v1"), b"bob's own", "secret.pt@v1 read by bob")
        raises(errno.ENOENT, as_bob, setx, secret, "user.aifs.restore", "2",
               what="bob restores a version 2 (alice's version is not inherited)")
        as_bob(setx, secret, "user.aifs.restore", "1")
        eq(as_bob(read_all, secret), b"bob's own", "secret.pt after bob's restore of 1")
        # a held version of a file whose history would not follow the name blocks the rename
        held = os.path.join(t["team"], "held.pt")
        save("alice", held, b"alice's held", mode=0o600)
        setx(held + "@v1", "user.aifs.hold", "audit")
        save("bob", mine, b"bob again")
        raises(errno.EBUSY, as_bob, os.rename, mine, held,
               what="bob renames over alice's file whose version is held")
        eq(os.stat(held).st_uid, ALICE, "owner of held.pt after the refused rename")


@test
def rename_over_keeps_history_for_owner_or_reader():
    skip_native()
    with Store() as s:
        t = team(s)
        # alice over her own file: history follows the name
        a = os.path.join(t["team"], "a.pt")
        save("alice", a, b"a1", mode=0o600)
        save("alice", os.path.join(t["team"], "a.tmp"), b"a2", mode=0o600)
        as_alice(os.rename, os.path.join(t["team"], "a.tmp"), a)
        eq(version_of(a), 2, "version of a.pt after alice's rename-over of her own file")
        eq(as_alice(read_all, a + "@v1"), b"a1", "a.pt@v1 after alice's rename-over")
        # bob over a file of alice's he may read (0640, group TEAM): history follows
        g = os.path.join(t["team"], "g.pt")
        save("alice", g, b"g1", mode=0o640)
        eq(os.stat(g).st_gid, TEAM, "group of g.pt (setgid directory)")
        save("bob", os.path.join(t["team"], "g.tmp"), b"g2")
        as_bob(os.rename, os.path.join(t["team"], "g.tmp"), g)
        eq(version_of(g), 2, "version of g.pt after bob's rename-over of a file he could read")
        eq(as_bob(read_all, g + "@v1"), b"g1", "g.pt@v1 read by bob")


@test
def restore_needs_read_permission_on_the_version():
    skip_native()
    with Store() as s:
        t = team(s)
        f = os.path.join(t["alice"], "f.pt")
        save("alice", f, b"private v1", mode=0o600)
        os.chmod(f, 0o666)
        save("alice", f, b"public v2")
        eq(stat.S_IMODE(os.stat(os.path.join(t["alice"], ".aifs/versions/f.pt/1")).st_mode), 0o400,
           "mode of version 1 (0600 without write bits)")
        raises(errno.EACCES, as_bob, setx, f, "user.aifs.restore", "1",
               what="bob restores version 1 (0400, alice's) of a 0666 file")
        eq(read_all(f), b"public v2", "f.pt after the refused restore")
        as_bob(setx, f, "user.aifs.restore", "2")
        eq(version_of(f), 3, "version after bob restores the readable version 2")
        as_alice(setx, f, "user.aifs.restore", "1")
        eq(read_all(f), b"private v1", "f.pt after alice's restore of version 1")
        raises(errno.EINVAL, as_bob, setx, f, "user.aifs.restore", "x1",
               what="restore with a bad value")


# ------------------------------------------------------------------ item 6: listings

@test
def aifs_listings_need_read_permission_on_the_directory():
    skip_native()
    with Store() as s:
        t = team(s)
        d = t["alice"]
        save("alice", os.path.join(d, "m.pt"), b"m1")
        os.chmod(d, 0o711)
        vers = os.path.join(d, ".aifs", "versions")
        raises(errno.EACCES, as_bob, os.listdir, d, what="bob lists alice's 0711 directory")
        raises(errno.EACCES, as_bob, os.listdir, vers, what="bob lists its .aifs/versions")
        eq(as_bob(os.listdir, os.path.join(vers, "m.pt")), ["1"],
           "bob lists the versions of a file he names (search suffices)")
        eq(as_bob(read_all, os.path.join(vers, "m.pt", "1")), b"m1", "bob reads the 0444 version by name")
        eq(as_alice(os.listdir, vers), ["m.pt"], "alice lists .aifs/versions")
        eq(os.listdir(vers), ["m.pt"], "root lists .aifs/versions")
        os.chmod(d, 0o700)
        raises(errno.EACCES, as_bob, os.stat, os.path.join(vers, "m.pt"),
               what="bob looks up in .aifs/versions of a 0700 directory")
        ds = mkdir_for(os.path.join(s.mnt, "datasets", "a"), ALICE, ALICE, 0o755)
        as_alice(write_file, os.path.join(ds, "x"), b"x")
        as_alice(os.mkdir, os.path.join(ds, ".aifs", "snapshots", "t1"))
        os.chmod(ds, 0o711)
        snaps = os.path.join(ds, ".aifs", "snapshots")
        raises(errno.EACCES, as_bob, os.listdir, snaps, what="bob lists .aifs/snapshots of a 0711 dataset")
        eq(as_bob(read_all, os.path.join(snaps, "t1", "x")), b"x", "bob reads a snapshot file by name")
        eq(as_alice(os.listdir, snaps), ["t1"], "alice lists her .aifs/snapshots")
        eq(os.listdir(snaps), ["t1"], "root lists .aifs/snapshots")
        os.chmod(ds, 0o755)
        eq(as_bob(os.listdir, snaps), ["t1"], "bob lists .aifs/snapshots of a 0755 dataset")


# ------------------------------------------------------------------ item 10: set-id bits

@test
def versions_and_snapshots_drop_setid_bits():
    skip_native()
    with Store() as s:
        t = team(s)
        f = os.path.join(t["alice"], "run.sh")
        save("root", f, b"#!/bin/sh\n")
        os.chown(f, ALICE, ALICE)
        os.chmod(f, 0o6755)
        save("root", f, b"#!/bin/sh\necho 2\n")     # root keeps set-id bits on write
        eq(stat.S_IMODE(os.stat(f).st_mode), 0o6755, "mode of the live file")
        v2 = os.stat(os.path.join(t["alice"], ".aifs/versions/run.sh/2"))
        eq((stat.S_IMODE(v2.st_mode), v2.st_uid, v2.st_gid), (0o555, ALICE, ALICE),
           "mode, owner, group of version 2 (set-id and write bits dropped)")
        eq(stat.S_IMODE(os.stat(f + "@v2").st_mode), 0o555, "mode of run.sh@v2")
        ds = mkdir_for(os.path.join(s.mnt, "datasets", "a"), ALICE, ALICE, 0o755)
        g = os.path.join(ds, "tool")
        write_file(g, b"#!/bin/sh\n")
        os.chown(g, ALICE, TEAM)
        os.chmod(g, 0o6750)
        as_alice(os.mkdir, os.path.join(ds, ".aifs", "snapshots", "t1"))
        st = os.stat(os.path.join(ds, ".aifs", "snapshots", "t1", "tool"))
        eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o750, ALICE, TEAM),
           "mode, owner, group of a set-id file in a snapshot")
        eq(stat.S_IMODE(os.stat(g).st_mode), 0o6750, "mode of the live dataset file")


# ------------------------------------------------------------------ items 11, 12: lineage

JOB = r'''
import sys
for p in sys.argv[1].split(","):
    if p:
        open(p, "rb").read()
if sys.argv[2]:
    with open(sys.argv[2], "wb") as f:
        f.write(sys.argv[3].encode())
'''


# One session, two users: root reads, a child of it that became bob reads, root saves.
MIXED = r'''
import os, sys
open(sys.argv[1], "rb").read()
pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setgid(int(sys.argv[4]))
    os.setuid(int(sys.argv[4]))
    open(sys.argv[2], "rb").read()
    os._exit(0)
os.waitpid(pid, 0)
with open(sys.argv[3], "wb") as f:
    f.write(b"root")
'''


def job(uid, reads, save_to, content, name=None, extra=()):
    """Run JOB as UID in a session of its own (a job); AIFS_JOB=NAME if given."""
    env = {"PATH": "/usr/bin:/bin"}
    if name:
        env["AIFS_JOB"] = name
    r = subprocess.run(["setsid", "--wait", PY, "-c", JOB, ",".join(reads), save_to or "", content]
                       + list(extra), user=uid, group=uid, extra_groups=[TEAM], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise Fail("job as uid %d: expected exit 0, saw %d: %s" % (uid, r.returncode, r.stdout.decode()))


def wait_version(path, n):
    deadline = time.time() + 10
    while version_of(path) < n and time.time() < deadline:
        time.sleep(0.05)
    eq(version_of(path), n, "version of %s" % path)


def lineage(actor, path):
    return json.loads(ACTORS[actor](os.getxattr, path, "user.aifs.lineage"))


@test
def lineage_shows_command_lines_only_to_owner_and_root():
    skip_native()
    with Store() as s:
        t = team(s)
        ds = mkdir_for(os.path.join(s.mnt, "datasets", "a"), ALICE, ALICE, 0o755)
        write_file(os.path.join(ds, "x"), b"sample")
        out = os.path.join(t["alice"], "m.pt")
        job(ALICE, [os.path.join(ds, "x")], out, "model", extra=["--token=SECRET-123"])
        wait_version(out, 1)
        for actor in ("alice", "root"):
            lin = lineage(actor, out)
            check("SECRET-123" in lin["job"]["cmdline"] and "SECRET-123" in lin["writer"]["cmdline"],
                  "%s sees the command lines: expected SECRET-123 in them, saw job %r, writer %r" % (
                      actor, lin["job"]["cmdline"], lin["writer"]["cmdline"]))
        raw = as_bob(os.getxattr, out, "user.aifs.lineage")
        check(b"SECRET-123" not in raw, "bob's lineage of alice's file: expected no SECRET-123, saw %r" % raw)
        lin = json.loads(raw)
        eq((lin["job"]["cmdline"], lin["writer"]["cmdline"]), (None, None),
           "command lines bob sees in the lineage of alice's file")
        eq([src["kind"] for src in lin["sources"]], ["live"], "the sources bob sees")
        eq(lin["job"]["uid"], ALICE, "the job's uid bob sees")


@test
def jobs_are_per_user():
    skip_native()
    with Store() as s:
        t = team(s)
        da = mkdir_for(os.path.join(s.mnt, "datasets", "alice_ds"), ALICE, ALICE, 0o755)
        db = mkdir_for(os.path.join(s.mnt, "datasets", "bob_ds"), BOB, BOB, 0o755)
        write_file(os.path.join(da, "x"), b"alice's sample")
        write_file(os.path.join(db, "x"), b"bob's sample")
        job(ALICE, [os.path.join(da, "x")], None, "", name="shared")
        job(BOB, [os.path.join(db, "x")], None, "", name="shared")
        oa = os.path.join(t["alice"], "m.pt")
        ob = os.path.join(t["bob"], "m.pt")
        # the writers read too, so that their job is known when the last close commits
        job(ALICE, [os.path.join(da, "x")], oa, "a", name="shared")
        job(BOB, [os.path.join(db, "x")], ob, "b", name="shared")
        wait_version(oa, 1)
        wait_version(ob, 1)
        la, lb = lineage("root", oa), lineage("root", ob)
        eq([src["dataset"] for src in la["sources"]], ["datasets/alice_ds"], "sources of alice's job 'shared'")
        eq([src["dataset"] for src in lb["sources"]], ["datasets/bob_ds"], "sources of bob's job 'shared'")
        eq((la["job"]["name"], lb["job"]["name"]), ("shared", "shared"), "job names")
        eq((la["job"]["uid"], lb["job"]["uid"]), (ALICE, BOB), "job uids")
        check(la["job"]["id"] != lb["job"]["id"], "job ids of two users' 'shared': expected different, "
              "saw %s twice" % la["job"]["id"])
        # a session job is per user too: what a process of the session that became bob
        # reads is not root's job's
        dr = mkdir_for(os.path.join(s.mnt, "datasets", "root_ds"), 0, 0, 0o755)
        write_file(os.path.join(dr, "x"), b"root's sample")
        orr = os.path.join(s.mnt, "checkpoints", "root.pt")
        r = subprocess.run(["setsid", "--wait", PY, "-c", MIXED, os.path.join(dr, "x"),
                            os.path.join(db, "x"), orr, str(BOB)], env={"PATH": "/usr/bin:/bin"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        eq(r.returncode, 0, "mixed session job exit status (%s)" % r.stdout.decode())
        wait_version(orr, 1)
        eq([src["dataset"] for src in lineage("root", orr)["sources"]], ["datasets/root_ds"],
           "sources of root's session job after a process of it became bob and read")


# ------------------------------------------------------------------ item 13: logging

@test
def refused_controls_are_not_logged_as_errors():
    skip_native()
    with Store() as s:
        t = team(s)
        f = os.path.join(t["bob"], "f.pt")
        save("bob", f, b"f")
        plain = mkdir_for(os.path.join(t["pub"], "bobdir"), BOB, BOB, 0o755)
        ds = mkdir_for(os.path.join(s.mnt, "datasets", "a"), ALICE, ALICE, 0o755)
        as_alice(os.mkdir, os.path.join(ds, ".aifs", "snapshots", "keep"))
        errors, warnings = len(log_lines(s, "error")), len(log_lines(s, "warning"))
        for _ in range(20):
            raises(errno.EINVAL, as_bob, setx, plain, "user.aifs.commit", "1",
                   what="user.aifs.commit on a plain directory")
            raises(errno.EACCES, as_bob, os.mkdir, os.path.join(ds, ".aifs", "snapshots", "t"),
                   what="snapshot by a non-owner")
            raises(errno.EPERM, as_bob, os.mkdir, os.path.join(t["bob"], ".aifs", "snapshots", "t"),
                   what="snapshot of a checkpoint directory")
            raises(errno.EINVAL, as_alice, os.mkdir, os.path.join(ds, ".aifs", "snapshots", ".t"),
                   what="snapshot with a bad tag")
            raises(errno.EACCES, as_bob, promote, f, "x.pt", what="promote into the root")
            raises(errno.EINVAL, as_bob, setx, f, "user.aifs.restore", "zz", what="restore zz")
            raises(errno.ENOENT, as_bob, setx, f, "user.aifs.restore", "9", what="restore 9")
            raises(errno.EINVAL, as_bob, setx, t["bob"], "user.aifs.retain", "nonsense",
                   what="retain nonsense")
            raises(errno.EPERM, as_bob, os.rmdir, os.path.join(ds, ".aifs", "snapshots", "keep"),
                   what="snapshot removal by a non-owner")
        eq(log_lines(s, "error")[errors:], [], "error lines logged for refused requests")
        eq(log_lines(s, "warning")[warnings:], [], "warning lines logged for refused requests")


# ------------------------------------------------------------------ the matrix

@test
def control_matrix_owner_other_root():
    """Each control on alice's objects, done by alice (owner), bob (other) and root."""
    skip_native()
    with Store() as s:
        t = team(s)
        d = t["alice"]
        ds = mkdir_for(os.path.join(s.mnt, "datasets", "a"), ALICE, ALICE, 0o755)
        as_alice(write_file, os.path.join(ds, "x"), b"x")
        vis = mkdir_for(os.path.join(s.mnt, "checkpoints", "vis"), ALICE, ALICE, 0o711)
        save("alice", os.path.join(vis, "v.pt"), b"v")
        dsv = mkdir_for(os.path.join(s.mnt, "datasets", "vis"), ALICE, ALICE, 0o711)
        as_alice(os.mkdir, os.path.join(dsv, ".aifs", "snapshots", "t"))
        cells = []

        def cell(control, expected, setup, action):
            for actor in ("alice", "bob", "root"):
                arg = setup(actor)
                seen = outcome(ACTORS[actor], action, arg)
                cells.append((control, actor, expected[actor], seen))

        def ckfile(actor):
            p = os.path.join(d, "f-%s.pt" % actor)
            save("alice", p, b"one " + actor.encode())
            save("alice", p, b"two " + actor.encode())
            return p

        def ckfile_0622(actor):
            p = os.path.join(d, "w-%s.pt" % actor)
            save("alice", p, b"w " + actor.encode(), mode=0o600)
            os.chmod(p, 0o622)
            return p

        cell("promote 0644 file", {"alice": "ok", "bob": "EACCES", "root": "ok"}, ckfile,
             lambda p: promote(p, "pub/" + os.path.basename(p)))
        cell("promote 0622 file", {"alice": "ok", "bob": "EACCES", "root": "ok"}, ckfile_0622,
             lambda p: promote(p, "pub/" + os.path.basename(p)))
        def plain_0666(actor):
            p = os.path.join(t["pub"], "j-" + actor)
            write_file(p, b"anyone's")
            os.chmod(p, 0o666)
            return p

        cell("promote into 0755 dir of alice", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             plain_0666, lambda p: promote(p, "checkpoints/alice/p-" + os.path.basename(p)))
        cell("promote into audit/", {"alice": "EPERM", "bob": "EPERM", "root": "EPERM"},
             plain_0666, lambda p: promote(p, "audit/" + os.path.basename(p)))
        cell("restore 1 of 0644 file", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             ckfile, lambda p: setx(p, "user.aifs.restore", "1"))
        cell("restore 1 of 0622 file", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             lambda a: ckfile_0622("r-" + a), lambda p: setx(p, "user.aifs.restore", "1"))

        def ckdir(actor):
            return mkdir_for(os.path.join(s.mnt, "checkpoints", "d-" + actor), ALICE, ALICE, 0o755)

        cell("user.aifs.commit on a directory", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             ckdir, lambda p: setx(p, "user.aifs.commit", "1"))
        cell("user.aifs.retain on a directory", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             lambda a: d, lambda p: setx(p, "user.aifs.retain", "last=5"))
        cell("user.aifs.area on a directory", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             lambda a: mkdir_for(os.path.join(t["pub"], "area-" + a), ALICE, ALICE, 0o755),
             lambda p: setx(p, "user.aifs.area", "checkpoint"))
        cell("snapshot mkdir", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             lambda a: os.path.join(ds, ".aifs", "snapshots", "s-" + a), os.mkdir)

        def snap(actor):
            p = os.path.join(ds, ".aifs", "snapshots", "r-" + actor)
            as_alice(os.mkdir, p)
            return p

        # .aifs/snapshots is sticky (01777): the kernel refuses bob first, as for any name
        cell("snapshot rmdir", {"alice": "ok", "bob": "EPERM", "root": "ok"}, snap, os.rmdir)
        cell("list .aifs/versions of a 0711 directory", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             lambda a: os.path.join(vis, ".aifs", "versions"), os.listdir)
        cell("read a version by name in a 0711 directory", {"alice": "ok", "bob": "ok", "root": "ok"},
             lambda a: os.path.join(vis, ".aifs", "versions", "v.pt", "1"), read_all)
        cell("list .aifs/snapshots of a 0711 dataset", {"alice": "ok", "bob": "EACCES", "root": "ok"},
             lambda a: os.path.join(dsv, ".aifs", "snapshots"), os.listdir)

        def rename_over(actor):
            victim = os.path.join(t["team"], "victim-%s.pt" % actor)
            save("alice", victim, b"alice's", mode=0o600)
            tmp = os.path.join(t["team"], "tmp-%s.pt" % actor)
            save(actor, tmp, b"new")
            return (tmp, victim)

        def rename_and_count(arg):
            os.rename(*arg)
            n = len(os.listdir(os.path.join(os.path.dirname(arg[1]), ".aifs", "versions",
                                            os.path.basename(arg[1]))))
            if n != 2:
                raise OSError(errno.ENOENT, "%d versions after rename-over" % n)

        cell("rename over alice's 0600 file keeps her history",
             {"alice": "ok", "bob": "ENOENT", "root": "ok"}, rename_over, rename_and_count)
        bad = ["%s by %s: expected %s, saw %s" % c for c in cells if c[2] != c[3]]
        check(not bad, "%d of %d cells differ: %s" % (len(bad), len(cells), "; ".join(bad)))


if __name__ == "__main__":
    main()
