#!/usr/bin/python3
"""Journal areas follow S3 Object Lock (issue 17, items 2-4 and 7-9; issue 19, item 5).

Two unprivileged users (alice owns the logs, bob is another user) and carol, a member of
the mount's audit_admin_group, against root, in governance and in compliance mode: every
control of a journal area (retention, legal holds, release, deletion, rename and link into
it) as a matrix of exact outcomes; every change and deletion is a record of the signed log,
and `aifsctl audit verify` tells a deletion after retention from one against it and names
who did it.  Also: verify of a young store, `audit export` into a prepared directory,
`mkfs` into a world-writable directory, and names with control bytes in text output.
"""

import ctypes
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Store, check, eq, main, read_all, run,  # noqa: E402
                     run_as, skip_native, test)

ALICE, BOB, CAROL, AUDITORS = 2001, 2002, 2003, 2100
USERS = {"owner": ALICE, "other": BOB, "auditor": CAROL, "root": 0}
DAY_NS = 86400 * 10**9
SHORT = "0.00002"                  # days: 1.728 s
SHORT_NS = int(0.00002 * DAY_NS)
TAMPER_BIN = os.path.join(os.path.dirname(os.path.abspath(AIFSCTL_BIN)), "aifs-tamper")
LSAIFS_BIN = os.path.join(os.path.dirname(os.path.abspath(AIFSCTL_BIN)), "lsaifs")
OK = 0


# ------------------------------------------------------------------ helpers

def ctl(*args, timeout=300):
    return run([AIFSCTL_BIN] + [str(a) for a in args], timeout=timeout)


def as_user(who, fn, *args):
    """fn(*args) as WHO: 'root' here, the others in a child with their uid (carol also in AUDITORS)."""
    if who == "root":
        return fn(*args)
    uid = USERS[who]
    return run_as(uid, uid, fn, *args, groups=(AUDITORS,) if who == "auditor" else ())


def outcome(who, fn, *args):
    """0 if fn(*args) run as WHO succeeds, else its errno."""
    try:
        as_user(who, fn, *args)
        return OK
    except OSError as e:
        return e.errno


def name(err):
    return "ok" if err == OK else errno.errorcode.get(err, str(err))


class Matrix:
    """Cells of (control, who) -> outcome; every mismatch is reported at the end, all at once."""

    def __init__(self, mode):
        self.mode = mode
        self.bad = []
        self.n = 0

    def cell(self, control, who, want, fn, *args):
        got = outcome(who, fn, *args)
        self.n += 1
        if got != want:
            self.bad.append("%s by %s: expected %s, saw %s" % (control, who, name(want), name(got)))

    def done(self):
        check(not self.bad, "%s mode: %d of %d cells wrong: %s" % (self.mode, len(self.bad), self.n,
                                                                  "; ".join(self.bad)))
        print("# %s mode: %d cells" % (self.mode, self.n), flush=True)


def seal_new(path, content):
    """Create PATH (mode 0666 whatever the umask), write CONTENT, close: sealed."""
    old = os.umask(0)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666)
    finally:
        os.umask(old)
    try:
        eq(os.write(fd, content), len(content), "write of %s" % path)
    finally:
        os.close(fd)


def setx(path, attr, value):
    os.setxattr(path, attr, value.encode() if isinstance(value, str) else value)


def export_records(s, d):
    """Export the unmounted store s into the new directory d; return its records."""
    rc, out = ctl("audit", "export", s.store, d)
    check(rc == 0, "aifsctl audit export %s %s: expected exit 0, saw %d: %s" % (s.store, d, rc, out.strip()))
    with open(os.path.join(d, "records.jsonl"), "rb") as f:
        return [json.loads(ln) for ln in f.read().splitlines()]


def verify(store):
    """aifsctl audit verify STORE -> (exit code, output)."""
    return ctl("audit", "verify", store)


def verify_intact(store, what):
    rc, out = verify(store)
    check(rc == 0 and re.search(r"^audit: intact: [0-9]+ records", out, re.M),
          "%s: aifsctl audit verify: expected exit 0 and 'audit: intact', saw exit %d: %s" % (
              what, rc, out.strip()[-2000:]))
    return out


def tamper(store, *args):
    check(os.access(TAMPER_BIN, os.X_OK), "expected the test helper %s, saw none" % TAMPER_BIN)
    rc, out = run([TAMPER_BIN, store] + [str(a) for a in args], timeout=120)
    check(rc == 0, "aifs-tamper %s: expected exit 0, saw %d: %s" % (" ".join(map(str, args)), rc, out.strip()))


# ------------------------------------------------------------------ the matrix

def _matrix(mode):
    skip_native()
    gov = mode == "governance"
    with Store(opts="audit_mode=%s,audit_retention=%s,audit_admin_group=%d" % (mode, SHORT, AUDITORS)) as s:
        m = Matrix(mode)
        d = os.path.join(s.mnt, "audit", "alice")
        os.mkdir(d)
        os.chown(d, ALICE, ALICE)
        os.chmod(d, 0o777)                 # every user may create and remove names in it (POSIX)
        ret = "user.aifs.retention"

        # retention of alice's directory: lengthened by its owner, root or the audit group;
        # shortened (or set below the mount's audit_retention) by root alone, in governance only
        m.cell("lengthen retention to 5 days", "other", errno.EPERM, setx, d, ret, "5")
        m.cell("lengthen retention to 1 day", "owner", OK, setx, d, ret, "1")
        m.cell("lengthen retention to 2 days", "root", OK, setx, d, ret, "2")
        m.cell("lengthen retention to 3 days", "auditor", OK, setx, d, ret, "3")
        for who in ("other", "owner", "auditor"):
            m.cell("shorten retention 3 -> 2.5 days", who, errno.EPERM, setx, d, ret, "2.5")
            m.cell("set retention to 0 (below the mount's)", who, errno.EPERM, setx, d, ret, "0")
        m.cell("shorten retention 3 -> 2.5 days", "root", OK if gov else errno.EPERM, setx, d, ret, "2.5")
        m.cell("set retention to 0 (below the mount's)", "root", OK if gov else errno.EPERM, setx, d, ret, "0")
        if gov:
            setx(d, ret, "3")          # back to 3 days for the files below

        # files alice writes now keep 3 days, also in a subdirectory she makes
        f, g, h = (os.path.join(d, n) for n in ("f", "g", "h"))
        as_user("owner", os.mkdir, os.path.join(d, "sub"))
        for p in (f, g, h, os.path.join(d, "sub", "x")):
            as_user("owner", seal_new, p, b"evidence of %s\n" % os.path.basename(p).encode())

        # legal holds: root or the audit group, never the owner of the logs
        hold, unhold = "user.aifs.hold", "user.aifs.unhold"
        m.cell("hold", "other", errno.EPERM, setx, f, hold, "bob")
        m.cell("hold", "owner", errno.EPERM, setx, f, hold, "alice")
        m.cell("hold", "auditor", OK, setx, f, hold, "carol")
        m.cell("hold", "root", OK, setx, f, hold, "root")
        for who in ("other", "owner"):
            m.cell("unhold root's hold", who, errno.EPERM, setx, f, unhold, "root")
            m.cell("unhold the audit group's hold", who, errno.EPERM, setx, f, unhold, "carol")
        m.cell("unhold root's hold", "auditor", OK, setx, f, unhold, "root")
        m.cell("unhold the audit group's hold", "root", OK, setx, f, unhold, "carol")

        # release of retention: root, governance mode only
        for who in ("other", "owner", "auditor"):
            m.cell("release", who, errno.EPERM, setx, g, "user.aifs.release", "1")
        m.cell("release", "root", OK if gov else errno.EPERM, setx, g, "user.aifs.release", "1")
        m.cell("unlink after root's release", "owner", OK if gov else errno.EPERM, os.unlink, g)

        # deletion and change before retention ends: nobody, root included
        for who in ("other", "owner", "auditor", "root"):
            m.cell("unlink before retention ends", who, errno.EPERM, os.unlink, h)
            m.cell("rename before retention ends", who, errno.EPERM, os.rename, h, h + ".moved")
            m.cell("truncate before retention ends", who, errno.EPERM, os.truncate, h, 0)
            m.cell("chmod before retention ends", who, errno.EPERM, os.chmod, h, 0o600)
            m.cell("setxattr user.note before retention ends", who, errno.EPERM, setx, h, "user.note", "x")
        m.cell("unlink with holds lifted, retention running", "root", errno.EPERM, os.unlink, f)

        # nothing moves into a journal area from outside: rename and link refused
        plain = s.work("plain", mode=0o777)
        for who in ("owner", "other", "root"):
            src = os.path.join(plain, who)
            as_user(who, seal_new, src, b"planted by %s\n" % who.encode())
            m.cell("rename a plain file into the journal area", who, errno.EPERM,
                   os.rename, src, os.path.join(d, "planted-" + who))
            m.cell("link a plain file into the journal area", who, errno.EPERM,
                   os.link, src, os.path.join(d, "linked-" + who))
        sub = os.path.join(plain, "subdir")
        os.mkdir(sub)
        m.cell("rename a plain directory into the journal area", "root", errno.EPERM,
               os.rename, sub, os.path.join(d, "planted-dir"))

        # a journal area stays one (root may undo it in governance mode), and becomes one only empty
        d2 = os.path.join(s.mnt, "audit", "alice2")
        os.mkdir(d2)
        os.chown(d2, ALICE, ALICE)
        os.chmod(d2, 0o777)
        for who in ("other", "owner", "auditor"):
            m.cell("change a journal directory's area to plain", who, errno.EPERM,
                   setx, d2, "user.aifs.area", "plain")
        m.cell("change a journal directory's area to plain", "root", OK if gov else errno.EPERM,
               setx, d2, "user.aifs.area", "plain")
        m.cell("make a directory holding files a journal area", "root", errno.ENOTEMPTY,
               setx, plain, "user.aifs.area", "journal")
        m.done()
        eq(sorted(os.listdir(d)), ["f", "h", "sub"] if gov else ["f", "g", "h", "sub"],
           "names in the journal directory")

        # every change that happened is a record, refusals are not
        recs = export_records_after_unmount(s)
        rets = [(r["uid"], r["tag"], r["retention"]) for r in recs if r["op"] == "retention"]
        want = [(ALICE, "1", DAY_NS), (0, "2", 2 * DAY_NS), (CAROL, "3", 3 * DAY_NS)]
        if gov:
            want += [(0, "2.5", int(2.5 * DAY_NS)), (0, "0", 0), (0, "3", 3 * DAY_NS)]
        eq(rets, want, "retention records (uid, value, ns)")
        holds = [(r["op"], r["uid"], r["tag"]) for r in recs if r["op"] in ("hold", "unhold", "release")]
        want = [("hold", CAROL, "carol"), ("hold", 0, "root"), ("unhold", CAROL, "root"), ("unhold", 0, "carol")]
        if gov:
            want.append(("release", 0, "1"))
        eq(holds, want, "hold, unhold and release records (op, uid, tag)")
        eq({r["lock"] for r in recs if r["op"] == "create"}, {mode}, "lock mode of the create records")
        creates = {r["path"]: r["retention"] for r in recs if r["op"] == "create"}
        eq(creates, {"/audit/alice/f": 3 * DAY_NS, "/audit/alice/g": 3 * DAY_NS, "/audit/alice/h": 3 * DAY_NS,
                     "/audit/alice/sub/x": 3 * DAY_NS},
           "create records: the retention each file keeps")
        dels = [(r["path"], r["uid"], r["tag"]) for r in recs if r["op"] == "delete"]
        eq(dels, [("/audit/alice/g", ALICE, "released")] if gov else [], "delete records (path, uid, why)")
        out = verify_intact(s.store, "%s matrix" % mode)
        if gov:
            check(re.search(r"^deleted after its retention was released: /audit/alice/g \(inode [0-9]+\) by uid "
                            r"%d \(record [0-9]+; released by uid 0, record [0-9]+\)$" % ALICE, out, re.M),
                  "verify: expected a line saying alice deleted g after root released it, saw %r" % out)


def export_records_after_unmount(s):
    s.unmount()
    return export_records(s, os.path.join(s.base, "export"))


@test
def objectlock_matrix_governance():
    _matrix("governance")


@test
def objectlock_matrix_compliance():
    _matrix("compliance")


@test
def compliance_stays_after_a_governance_remount():
    skip_native()
    with Store(opts="audit_mode=compliance,audit_retention=" + SHORT) as s:
        a = os.path.join(s.mnt, "audit")
        locked, free = os.path.join(a, "locked"), os.path.join(a, "free")
        os.mkdir(locked)
        setx(locked, "user.aifs.retention", "2")           # set in compliance mode
        os.mkdir(free)                                     # no retention of its own
        early = os.path.join(locked, "early")
        seal_new(early, b"made in compliance mode\n")
        s.remount(opts="audit_mode=governance,audit_retention=" + SHORT)
        late, other = os.path.join(locked, "late"), os.path.join(free, "other")
        os.mkdir(os.path.join(locked, "sub"))
        sub = os.path.join(locked, "sub", "f")
        for p in (late, other, sub):
            seal_new(p, b"made in governance mode\n")
        bad = []
        for what, want, fn, args in (
                ("release a file made in compliance mode", errno.EPERM, setx, (early, "user.aifs.release", "1")),
                ("release a file made under a compliance directory", errno.EPERM, setx,
                 (late, "user.aifs.release", "1")),
                ("release a file in a subdirectory of it", errno.EPERM, setx, (sub, "user.aifs.release", "1")),
                ("shorten the compliance directory's retention", errno.EPERM, setx,
                 (locked, "user.aifs.retention", "1")),
                ("release a file made in governance mode elsewhere", OK, setx, (other, "user.aifs.release", "1")),
                ("unlink it", OK, os.unlink, (other,)),
                ("unlink the file made in compliance mode", errno.EPERM, os.unlink, (early,))):
            got = outcome("root", fn, *args)
            if got != want:
                bad.append("%s by root: expected %s, saw %s" % (what, name(want), name(got)))
        check(not bad, "after a remount in governance mode: %s" % "; ".join(bad))
        recs = export_records_after_unmount(s)
        eq(sorted((r["path"], r["lock"]) for r in recs if r["op"] == "create"),
           [("/audit/free/other", "governance"), ("/audit/locked/early", "compliance"),
            ("/audit/locked/late", "compliance"), ("/audit/locked/sub/f", "compliance")],
           "lock mode of the create records")
        verify_intact(s.store, "after a governance remount of a compliance store")


@test
def audit_admin_group_unknown_refuses_mount():
    skip_native()
    with Store(mount=False) as s:
        rc, out = run([os.path.join(os.path.dirname(os.path.abspath(AIFSCTL_BIN)), "aifs"), s.store, s.mnt,
                       "-f", "-o", "audit_admin_group=no-such-group-aifs"], timeout=30)
        eq(rc != 0, True, "aifs -o audit_admin_group=no-such-group-aifs: exit status non-zero (saw %d)" % rc)
        check("audit_admin_group: no group 'no-such-group-aifs'" in out,
              "aifs with an unknown audit_admin_group: expected the reason, saw %r" % out.strip())


# ------------------------------------------------------------------ verify

@test
def verify_tells_deletion_after_retention_from_deletion_against_it():
    skip_native()
    with Store(opts="audit_retention=" + SHORT) as s:
        e = os.path.join(s.mnt, "audit", "e")
        os.mkdir(e)
        os.chmod(e, 0o777)
        h, k = os.path.join(e, "h"), os.path.join(e, "k")
        as_user("owner", seal_new, h, b"alice's log\n")
        as_user("owner", seal_new, k, b"kept\n")
        t = time.monotonic()
        ino_h, ino_k = os.stat(h).st_ino, os.stat(k).st_ino
        time.sleep(max(0, t + 3.0 - time.monotonic()))       # retention (1.7 s) is over
        as_user("other", os.unlink, h)                        # bob may: POSIX lets him, retention is over
        check(not os.path.lexists(h), "%s: expected gone after bob's unlink" % h)
        recs = export_records_after_unmount(s)
        dels = [r for r in recs if r["op"] == "delete"]
        eq([(r["path"], r["inode"], r["uid"], r["tag"], r["retention"]) for r in dels],
           [("/audit/e/h", ino_h, BOB, "retention ended", SHORT_NS)], "delete records")
        check(dels[0]["age"] >= SHORT_NS, "delete record: age %d ns, expected at least the retention %d ns" % (
            dels[0]["age"], SHORT_NS))
        out = verify_intact(s.store, "after a deletion after retention")
        check(re.search(r"^deleted after its retention: /audit/e/h \(inode %d\) by uid %d \(record [0-9]+; sealed "
                        r"[0-9.]+ s before, retention 1\.7 s\)$" % (ino_h, BOB), out, re.M),
              "verify: expected a line naming bob's deletion of h after its retention, saw %r" % out)
        check("against retention" not in out, "verify: expected no deletion against retention, saw %r" % out)
        # k removed behind aifs's back: no record says who; retention did not allow it
        copy = os.path.join(s.base, "copy")
        shutil.copytree(s.store, copy, symlinks=True)
        tamper(copy, "delete-inode", ino_k)
        rc, out = verify(copy)
        eq(rc, 1, "verify exit status after k's inode was deleted offline (output %r)" % out.strip())
        check(re.search(r"^deleted against retention: /audit/e/k \(inode %d\) is gone and no record says who "
                        r"deleted it$" % ino_k, out, re.M),
              "verify: expected a line saying k was deleted against retention, saw %r" % out)
        check(re.search(r"^deleted after its retention: /audit/e/h ", out, re.M),
              "verify of the copy: expected h still reported as deleted after its retention, saw %r" % out)
        check("intact" not in out, "verify of the copy: expected no 'intact', saw %r" % out)


@test
def verify_young_store_unsigned_records_are_a_note():
    skip_native()
    with Store(opts="audit_checkpoint_records=1000000,audit_checkpoint_secs=3600") as s:
        p = os.path.join(s.mnt, "audit", "young")
        seal_new(p, b"first line\n")
        deadline = time.time() + 10
        while time.time() < deadline:                  # sealed at its last close (asynchronously)
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_APPEND))
            except PermissionError:
                break
            time.sleep(0.05)
        s.kill9()                                      # before any checkpoint was signed
        rc, out = verify(s.store)
        eq(rc, 0, "verify exit status of a young store killed before its first signature (output %r)" % out)
        check(re.search(r"^note: no signed checkpoint covers the 3 records yet", out, re.M),
              "verify: expected a note on the 3 unsigned records, saw %r" % out)
        check(re.search(r"^audit: intact: 3 records, 0 signed checkpoints, [0-9]+ bytes re-read$", out, re.M),
              "verify: expected 'intact: 3 records, 0 signed checkpoints', saw %r" % out)
        check("changed" not in out, "verify: expected no 'changed', saw %r" % out)
        s.mount()
        s.unmount()                                    # signs them
        rc, out = verify(s.store)
        check(rc == 0 and re.search(r"^audit: intact: 3 records, 1 signed checkpoints", out, re.M) and
              "note:" not in out, "verify after a clean remount: expected 3 records in 1 signed checkpoint and "
              "no note, saw exit %d: %r" % (rc, out))


# ------------------------------------------------------------------ export, mkfs

@test
def export_refuses_prepared_directories_and_never_follows_symlinks():
    skip_native()
    with Store() as s:
        seal_new(os.path.join(s.mnt, "audit", "log"), b"line\n")
        s.unmount()
        victim = os.path.join(s.base, "victim")
        with open(victim, "wb") as f:
            f.write(b"precious\n")
        cases = []
        # owned by another user (bob prepared it), empty
        bobs = os.path.join(s.base, "bobs")
        os.mkdir(bobs)
        os.chown(bobs, BOB, BOB)
        cases.append((bobs, r"owned by uid %d, not by you: refusing" % BOB))
        # root's own, world-writable, with bob's symlinks planted in it
        planted = os.path.join(s.base, "planted")
        os.mkdir(planted)
        os.chmod(planted, 0o777)
        for n in ("records.jsonl", "audit.pub"):
            as_user("other", os.symlink, victim, os.path.join(planted, n))
        cases.append((planted, r"is not empty: refusing"))
        # the directory itself a symlink to an empty directory
        real = os.path.join(s.base, "real")
        os.mkdir(real)
        link = os.path.join(s.base, "link")
        os.symlink(real, link)
        cases.append((link, r"not a directory \(a symlink\?\): refusing"))
        for d, why in cases:
            rc, out = ctl("audit", "export", s.store, d)
            eq(rc, 1, "aifsctl audit export into %s: exit status (output %r)" % (d, out.strip()))
            check(re.search(why, out), "export into %s: expected a message matching %r, saw %r" % (d, why, out))
        eq(read_all(victim), b"precious\n", "the symlinks' target after the refused exports")
        eq(os.listdir(real), [], "the symlinked directory after the refused export")
        eq(os.listdir(bobs), [], "bob's directory after the refused export")
        for d in (os.path.join(s.base, "new"), real):    # a new directory; an empty one root owns
            recs = export_records(s, d)
            eq([r["op"] for r in recs], ["create", "write", "seal"], "records exported into %s" % d)
            eq(sorted(os.listdir(d)), ["audit.pub", "checkpoints", "proofs", "records.jsonl"], "files of %s" % d)
            verify_out = ctl("audit", "verify", "--export", d)
            eq(verify_out[0], 0, "verify --export %s (output %r)" % (d, verify_out[1]))


@test
def mkfs_makes_store_and_tier_directories_private():
    skip_native()
    base = os.path.join("/tmp", "aifs-it-mkfs-%d" % os.getpid())
    os.mkdir(base)
    try:
        os.chmod(base, 0o755)
        store, cold = os.path.join(base, "store"), os.path.join(base, "cold")
        for p in (store, cold):
            os.mkdir(p)
            os.chmod(p, 0o777)
        rc, out = ctl("mkfs", "--cold", cold, store)
        eq(rc, 0, "aifsctl mkfs --cold COLD STORE into 0777 directories (output %r)" % out.strip())
        for p in (store, cold, os.path.join(store, "meta"), os.path.join(store, "hot")):
            eq(oct(os.stat(p).st_mode & 0o7777), oct(0o700), "mode of %s after mkfs" % p)
        plain = os.path.join(base, "plain")
        rc, out = ctl("mkfs", plain)
        eq(rc, 0, "aifsctl mkfs into a new directory (output %r)" % out.strip())
        for n in ("", "meta", "hot", "cold"):
            p = os.path.join(plain, n)
            eq(oct(os.stat(p).st_mode & 0o7777), oct(0o700), "mode of %s after mkfs" % p)
        bobs = os.path.join(base, "bobs")
        os.mkdir(bobs)
        os.chmod(bobs, 0o777)
        os.chown(bobs, BOB, BOB)
        rc, out = ctl("mkfs", bobs)
        eq(rc, 1, "aifsctl mkfs into bob's empty 0777 directory: exit status (output %r)" % out.strip())
        check("is owned by uid %d, not by you" % BOB in out, "mkfs into bob's directory: expected the reason, saw %r" %
              out.strip())
        eq(os.listdir(bobs), [], "bob's directory after the refused mkfs")
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------ text output

EVIL = [b"evil\nname.pt", b"clear\x1b[2J.pt"]
QUOTED = [b"evil\\nname.pt", b"clear\\033[2J.pt"]


def out_of(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise Fail("%s: expected exit 0, saw %d: %r" % (b" ".join(map(os.fsencode, argv)), p.returncode, p.stderr))
    return p.stdout


def no_raw_controls(out, what):
    for b in (b"\x1b", b"\r"):
        check(b not in out, "%s: expected no raw %r in the output, saw %r" % (what, b, out))


def _save_as(comm, path, content):
    """Write PATH from a process whose command name is COMM (a version's writer)."""
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(15, ctypes.c_char_p(comm), 0, 0, 0) == 0, "prctl(PR_SET_NAME)")  # PR_SET_NAME
    with open(path, "wb") as f:
        f.write(content)


@test
def text_output_quotes_control_bytes_json_stays_exact():
    skip_native()
    with Store() as s:
        ck = os.path.join(s.mnt, "checkpoints")
        mnt = os.fsencode(ck)
        for n in EVIL:
            for v in (b"one", b"two"):
                pid = os.fork()
                if pid == 0:
                    try:
                        _save_as(b"w\x1b[2Jx", os.path.join(mnt, n), v)
                        os._exit(0)
                    except BaseException:
                        os._exit(1)
                eq(os.waitpid(pid, 0)[1], 0, "writer of %r" % n)
        for argv in ([LSAIFS_BIN, ck], [LSAIFS_BIN, "-l", ck], [LSAIFS_BIN, "-l", "--versions", ck]):
            out = out_of(argv)
            no_raw_controls(out, " ".join(argv))
            for q in QUOTED:
                check(q in out, "%s: expected %r in %r" % (" ".join(argv), q, out))
            check(b"evil\nname" not in out, "%s: expected no raw newline inside a name, saw %r" % (" ".join(argv), out))
        js = json.loads(out_of([LSAIFS_BIN, "--json", ck]))
        names = sorted(os.fsencode(e["name"]) for e in js["entries"])
        eq(names, sorted(EVIL), "names in lsaifs --json (exact)")
        out = out_of([AIFSCTL_BIN, "versions", os.path.join(ck, os.fsdecode(EVIL[0]))])
        no_raw_controls(out, "aifsctl versions")
        check(b"comm=w\\033[2Jx" in out, "aifsctl versions: expected the writer's comm quoted, saw %r" % out)
        js = json.loads(out_of([AIFSCTL_BIN, "versions", "--json", os.path.join(ck, os.fsdecode(EVIL[0]))]))
        check(all("comm=w\x1b[2Jx" in v["writer"] for v in js["versions"]),
              "aifsctl versions --json: expected the exact comm in every writer, saw %r" % js["versions"])
        # snapshot list and diff of a dataset
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        with open(os.path.join(ds, "plain"), "wb") as f:
            f.write(b"x")
        out_of([AIFSCTL_BIN, "snapshot", "create", ds, "t1"])
        for n in EVIL:
            with open(os.path.join(os.fsencode(ds), n), "wb") as f:
                f.write(b"new")
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t\x1b[2J"))
        out = out_of([AIFSCTL_BIN, "snapshot", "diff", ds, "t1", "live"])
        no_raw_controls(out, "snapshot diff")
        eq(sorted(out.splitlines()), sorted(b"+ " + q for q in QUOTED), "snapshot diff lines")
        js = json.loads(out_of([AIFSCTL_BIN, "snapshot", "diff", "--json", ds, "t1", "live"]))
        eq(sorted(os.fsencode(c["path"]) for c in js), sorted(EVIL), "snapshot diff --json paths (exact)")
        out = out_of([AIFSCTL_BIN, "snapshot", "list", ds])
        no_raw_controls(out, "snapshot list")
        check(b"t\\033[2J" in out, "snapshot list: expected the tag quoted, saw %r" % out)
        out = out_of([AIFSCTL_BIN, "snapshot", "manifest", ds, "live"])
        no_raw_controls(out, "snapshot manifest")
        paths = sorted(os.fsencode(json.loads(ln)["path"]) for ln in out.splitlines())
        eq(paths, sorted(EVIL + [b"plain"]), "manifest paths (JSON lines, exact)")


if __name__ == "__main__":
    main()
