#!/usr/bin/python3
"""Journal (audit) areas: append-only files, retention, holds, the signed Merkle log (issue 5)."""

import base64
import errno
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import stat
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Store, check, data, eq, fallocate, main, raises,  # noqa: E402
                     read_all, run, run_as, skip_native, test, utimensat)

KiB = 1 << 10
FIELDS = {"seq", "op", "time", "uid", "pid", "comm", "path", "inode", "offset", "length", "sha256"}
APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND
RETENTION_SHORT = "audit_retention=0.00002"     # 1.728 s

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.exceptions import InvalidSignature
    HAVE_CRYPTO = True
except ImportError:
    HAVE_CRYPTO = False


# ------------------------------------------------------------------ helpers

def sha(b):
    return hashlib.sha256(b).hexdigest()


def ctl(*args, timeout=300):
    return run([AIFSCTL_BIN] + [str(a) for a in args], timeout=timeout)


def ctl_ok(what, *args):
    rc, out = ctl(*args)
    if rc != 0:
        raise Fail("%s: aifsctl %s: expected exit 0, saw %d: %s" % (
            what, " ".join(str(a) for a in args), rc, out.strip()[-1500:]))
    return out


def ctl_fails(what, *args):
    rc, out = ctl(*args)
    if rc != 1:
        raise Fail("%s: aifsctl %s: expected exit 1, saw %d: %s" % (
            what, " ".join(str(a) for a in args), rc, out.strip()[-1500:]))
    return out


def append(path, chunks, flags=APPEND, mode=0o644):
    """Create/open path for appending, write each chunk with its own write(), close,
    and wait for the seal (see seal_settled)."""
    fd = os.open(path, flags, mode)
    try:
        for c in chunks:
            n = os.write(fd, c)
            eq(n, len(c), "write of %d bytes to %s" % (len(c), path))
    finally:
        os.close(fd)
    seal_settled(path)


def seal_settled(path):
    """A journal file is sealed at its writer's release, which the kernel sends
    after close() returned; an open for writing waits for it.  So that records
    and checkpoint sizes read next include the seal, make that open (it
    changes nothing: a sealed file refuses it, an unsealed one is only
    opened and closed)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError:
        pass


def sealed(path):
    """True when opening path for writing gives EPERM (the file is sealed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as e:
        if e.errno == errno.EPERM:
            return True
        raise
    os.close(fd)
    return False


def parse_vkey(text):
    """'NAME+HEX8+BASE64(0x01||pub32)' -> (name, keyhash bytes, pub32)."""
    line = text.strip()
    eq(len(text.strip().splitlines()), 1, "lines in the verifier key %r" % text)
    m = re.fullmatch(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)", line)
    check(m, "verifier key: expected NAME+HEX8+BASE64, saw %r" % line)
    raw = base64.b64decode(m.group(3), validate=True)
    eq(len(raw), 33, "decoded length of the verifier key %r" % line)
    eq(raw[0], 1, "algorithm byte of the verifier key (Ed25519)")
    return m.group(1), bytes.fromhex(m.group(2)), raw[1:]


def key_hash(name, pub):
    """C2SP signed-note key hash: first 4 bytes of SHA-256(name || '\\n' || 0x01 || pub)."""
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]


def parse_note(text, what):
    """C2SP checkpoint note -> dict(origin, size, root, time, body, sigs=[(name, raw)])."""
    check(text.endswith("\n"), "%s: expected the note to end with a newline, saw %r" % (what, text[-40:]))
    body, sep, sigpart = text.partition("\n\n")
    check(sep, "%s: expected a blank line before the signatures, saw %r" % (what, text))
    body += "\n"
    lines = body.splitlines()
    eq(len(lines), 4, "%s: lines before the blank line (origin, size, root, time) in %r" % (what, body))
    origin, size, root, tline = lines
    check(origin and " " not in origin, "%s: origin line %r" % (what, origin))
    check(re.fullmatch(r"[0-9]+", size), "%s: size line %r" % (what, size))
    rootb = base64.b64decode(root, validate=True)
    eq(len(rootb), 32, "%s: decoded root hash length" % what)
    m = re.fullmatch(r"time ([0-9]+)", tline)
    check(m, "%s: expected a 'time T' line, saw %r" % (what, tline))
    sigs = []
    for sl in sigpart.splitlines():
        m2 = re.fullmatch("\u2014 (\\S+) ([A-Za-z0-9+/]+=*)", sl)
        check(m2, "%s: expected a signature line '\u2014 NAME BASE64', saw %r" % (what, sl))
        sigs.append((m2.group(1), base64.b64decode(m2.group(2), validate=True)))
    check(sigs, "%s: expected at least one signature line, saw none in %r" % (what, text))
    return dict(origin=origin, size=int(size), root=rootb, time=int(m.group(1)),
                body=body.encode(), sigs=sigs)


def leaf_hash(line):
    return hashlib.sha256(b"\x00" + line).digest()


def mth(hashes):
    """RFC 6962 Merkle tree hash over a list of leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def export(s, name="export"):
    """Export the (unmounted) store into s.base/NAME; return the directory."""
    d = os.path.join(s.base, name)
    out = ctl_ok("export", "audit", "export", s.store, d)
    check(os.path.isfile(os.path.join(d, "records.jsonl")),
          "export: expected %s/records.jsonl, saw %s (%s)" % (
              d, os.listdir(d) if os.path.isdir(d) else "no directory", out.strip()))
    return d


def load_export(d):
    """-> (lines: list of bytes without newline, records: list of dicts, notes: {size: text})."""
    raw = read_all(os.path.join(d, "records.jsonl"))
    check(raw == b"" or raw.endswith(b"\n"), "records.jsonl: expected to end with a newline, saw %r" % raw[-40:])
    lines = raw.split(b"\n")[:-1]
    recs = []
    for i, ln in enumerate(lines):
        try:
            recs.append(json.loads(ln))
        except ValueError as e:
            raise Fail("records.jsonl line %d: expected JSON, saw %r (%s)" % (i, ln[:200], e))
    notes = {}
    cdir = os.path.join(d, "checkpoints")
    for n in os.listdir(cdir):
        m = re.fullmatch(r"([0-9]+)\.note", n)
        check(m, "export checkpoints/: expected only SIZE.note files, saw %r" % n)
        notes[int(m.group(1))] = read_all(os.path.join(cdir, n)).decode("utf-8")
    return lines, recs, notes


def records_of(s, name="export"):
    """Unmount s, export, return (lines, records, notes, export dir)."""
    s.unmount()
    d = export(s, name)
    lines, recs, notes = load_export(d)
    return lines, recs, notes, d


def verify_intact(s, what, nrec=None, ncp=None, nbytes=None):
    """aifsctl audit verify STORE: exit 0 and the 'intact' line (with exact counts when given)."""
    rc, out = ctl("audit", "verify", s.store)
    if rc != 0:
        raise Fail("%s: aifsctl audit verify: expected exit 0, saw %d: %s" % (what, rc, out.strip()[-1500:]))
    m = re.search(r"^audit: intact: ([0-9]+) records, ([0-9]+) signed checkpoints, ([0-9]+) bytes re-read$",
                  out, re.M)
    check(m, "%s: aifsctl audit verify: expected a line 'audit: intact: N records, M signed "
          "checkpoints, B bytes re-read', saw %r" % (what, out.strip()[-1500:]))
    got = tuple(int(x) for x in m.groups())
    for i, (want, label) in enumerate(((nrec, "records"), (ncp, "signed checkpoints"), (nbytes, "bytes re-read"))):
        if want is not None:
            eq(got[i], want, "%s: verify: %s" % (what, label))
    return got, out


def checkpoint_text(s):
    with open(os.path.join(s.mnt, ".aifs", "audit", "checkpoint"), "rb") as f:
        return f.read().decode("utf-8")


def checkpoint_size(s):
    return parse_note(checkpoint_text(s), "MOUNT/.aifs/audit/checkpoint")["size"]


def seal_one(path, content=b"sealed\n"):
    """Create, write and close a journal file; return the time.monotonic() of its seal."""
    append(path, [content])
    t = time.monotonic()
    check(sealed(path), "%s: expected sealed (open for writing EPERM) after its only writer closed it, "
          "saw it writable" % path)
    return t


def changes_refused(path, what, err=errno.EPERM, fd=None):
    """Every change a journal file refuses until its retention ends (and while held)."""
    w = "%s: %s" % (what, path)
    raises(err, os.truncate, path, 0, what=w + ": truncate")
    raises(err, os.unlink, path, what=w + ": unlink")
    raises(err, os.rename, path, path + ".moved", what=w + ": rename from it")
    check(not os.path.lexists(path + ".moved"), "%s: rename target appeared after a refused rename" % w)
    raises(err, os.chmod, path, 0o600, what=w + ": chmod")
    raises(err, os.chown, path, 1000, 1000, what=w + ": chown")
    raises(err, os.utime, path, (1, 1), what=w + ": utimes")
    raises(err, utimensat, path, (5, 0), (5, 0), what=w + ": utimensat")
    raises(err, os.setxattr, path, "user.note", b"x", what=w + ": setxattr user.note")
    raises(err, os.removexattr, path, "user.note", what=w + ": removexattr user.note")
    if fd is not None:
        raises(err, os.ftruncate, fd, 0, what=w + ": ftruncate")
        raises(err, fallocate, fd, 0, 0, 1 << 20, what=w + ": fallocate")
    check(os.path.exists(path), "%s: expected still present" % w)


# ------------------------------------------------------------------ tests

@test
def mkfs_creates_journal_area_and_keys():
    skip_native()
    with Store() as s:
        key = os.path.join(s.store, "audit.key")
        st = os.stat(key)
        check(stat.S_ISREG(st.st_mode) and st.st_size > 0, "STORE/audit.key: expected a non-empty file")
        eq(oct(stat.S_IMODE(st.st_mode)), oct(0o600), "mode of STORE/audit.key")
        pubtext = read_all(os.path.join(s.store, "audit.pub")).decode()
        name, khash, pub = parse_vkey(pubtext)
        out = ctl_ok("pubkey", "audit", "pubkey", s.store)
        eq(out.strip(), pubtext.strip(), "aifsctl audit pubkey STORE against STORE/audit.pub")
        audit = os.path.join(s.mnt, "audit")
        check(os.path.isdir(audit), "MOUNT/audit: expected a directory made by mkfs")
        eq(os.getxattr(audit, "user.aifs.area"), b"journal", "user.aifs.area of audit/")
        names = os.listdir(s.mnt)
        check(".aifs" not in names, "root listing: expected .aifs hidden, saw %s" % sorted(names))
        check(os.path.isdir(os.path.join(s.mnt, ".aifs", "audit")), "MOUNT/.aifs/audit: expected a directory")
        eq(sorted(os.listdir(os.path.join(s.mnt, ".aifs", "audit"))), ["checkpoint"], "listing of .aifs/audit")
        os.mkdir(os.path.join(audit, "svc"))
        os.mkdir(os.path.join(audit, "svc", "deeper"))
        eq(sorted(os.listdir(audit)), ["svc"], "audit/ after mkdir")
        eq(os.getxattr(os.path.join(audit, "svc"), "user.aifs.area"), b"journal", "user.aifs.area of audit/svc")


@test
def append_only_rejects_overwrite():
    skip_native()
    with Store() as s:
        a = os.path.join(s.mnt, "audit")
        p = os.path.join(a, "seq")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)    # no O_APPEND: sequential writes
        try:
            eq(os.write(fd, b"abc"), 3, "first write at offset 0")
            eq(os.write(fd, b"def"), 3, "write at the current size 3")
            raises(errno.EPERM, os.pwrite, fd, b"X", 0, what="pwrite at offset 0 of a 6-byte journal file")
            raises(errno.EPERM, os.pwrite, fd, b"X", 5, what="pwrite at offset 5 (inside)")
            raises(errno.EPERM, os.pwrite, fd, b"X", 7, what="pwrite at offset 7 (past the end, a hole)")
            eq(os.pwrite(fd, b"ghi", 6), 3, "pwrite at the current size 6")
            os.lseek(fd, 2, os.SEEK_SET)
            raises(errno.EPERM, os.write, fd, b"Y", what="write after lseek to 2")
            os.lseek(fd, 0, os.SEEK_END)
            eq(os.write(fd, b"jk"), 2, "write after lseek to the end")
        finally:
            os.close(fd)
        eq(read_all(p), b"abcdefghijk", "content of the sequentially written file")
        q = os.path.join(a, "app")
        fd = os.open(q, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, b"one\n")
            os.lseek(fd, 0, os.SEEK_SET)
            eq(os.write(fd, b"two\n"), 4, "O_APPEND write after lseek(0) (goes to the end)")
            eq(os.pread(fd, 100, 0), b"one\ntwo\n", "pread through the O_APPEND descriptor")
        finally:
            os.close(fd)
        eq(read_all(q), b"one\ntwo\n", "content of the O_APPEND file")
        eq(os.stat(q).st_size, 8, "size of the O_APPEND file")


@test
def sealed_at_close():
    skip_native()
    with Store() as s:
        a = os.path.join(s.mnt, "audit")
        n0 = 0                                              # a fresh store has no records
        # one writer: its release seals; an open for writing right after close() waits for it
        p = os.path.join(a, "one")
        append(p, [b"first\n", b"second\n"])
        for flags, label in ((os.O_WRONLY | os.O_APPEND, "O_WRONLY|O_APPEND"), (os.O_RDWR, "O_RDWR"),
                             (os.O_WRONLY, "O_WRONLY"), (os.O_WRONLY | os.O_TRUNC, "O_WRONLY|O_TRUNC"),
                             (os.O_WRONLY | os.O_CREAT | os.O_APPEND, "O_CREAT|O_APPEND")):
            raises(errno.EPERM, os.open, p, flags, what="open(%s) of a sealed journal file" % label)
        eq(read_all(p), b"first\nsecond\n", "content of the sealed file")
        eq(checkpoint_size(s), n0 + 4, "records after create, 2 writes, seal (checkpoint size right after close)")
        # two writers: the first close does not seal, the last does
        q = os.path.join(a, "two")
        fd1 = os.open(q, APPEND, 0o644)
        fd2 = os.open(q, APPEND)
        try:
            os.write(fd1, b"A")
            os.close(fd1)
            fd1 = None
            eq(os.write(fd2, b"B"), 1, "write through the second writer after the first closed")
        finally:
            if fd1 is not None:
                os.close(fd1)
            os.close(fd2)
        check(sealed(q), "%s: expected sealed after the last writer closed" % q)
        eq(read_all(q), b"AB", "content written by two writers")
        eq(checkpoint_size(s), n0 + 4 + 4, "records after create, 2 writes, seal of the second file")
        # a writer and a reader: the writer's close seals
        r = os.path.join(a, "reader")
        fdw = os.open(r, APPEND, 0o644)
        fdr = os.open(r, os.O_RDONLY)
        try:
            os.write(fdw, b"xyz")
            os.close(fdw)
            check(sealed(r), "%s: expected sealed when its only writer closed, while a reader holds it open" % r)
            eq(os.pread(fdr, 10, 0), b"xyz", "read through the reader after the seal")
        finally:
            os.close(fdr)
        # created, never written: sealed at its last close (release, asynchronously)
        e = os.path.join(a, "empty")
        os.close(os.open(e, APPEND, 0o644))
        want = n0 + 8 + 3 + 2
        deadline = time.time() + 5
        while checkpoint_size(s) < want and time.time() < deadline:
            time.sleep(0.05)
        eq(checkpoint_size(s), want, "records after creating and closing an empty file (create, seal)")
        raises(errno.EPERM, os.open, e, os.O_WRONLY | os.O_APPEND, what="open for writing of a sealed empty file")
        eq(os.stat(e).st_size, 0, "size of the sealed empty file")


@test
def protected_until_retention():
    skip_native()
    with Store() as s:      # default retention: 183 days
        a = os.path.join(s.mnt, "audit")
        d = os.path.join(a, "svc")
        os.mkdir(d)
        f = os.path.join(d, "sealed")
        seal_one(f, b"closed record\n")
        plain_dir = s.work("plain")
        plain = os.path.join(plain_dir, "x")
        with open(plain, "wb") as fh:
            fh.write(b"plain")
        u = os.path.join(a, "open")
        fd = os.open(u, APPEND, 0o644)
        try:
            os.write(fd, b"still being written\n")
            for path, label, wfd in ((f, "sealed", None), (u, "unsealed", fd)):
                changes_refused(path, label, fd=wfd)
                raises(errno.EPERM, os.rename, plain, path, what="rename onto the %s journal file" % label)
                check(os.path.exists(plain), "rename onto %s: expected the source kept" % label)
                raises(errno.EPERM, os.open, path, os.O_WRONLY | os.O_TRUNC,
                       what="open(O_TRUNC) of the non-empty %s journal file" % label)
            eq(os.write(fd, b"more\n"), 5, "append after the refused changes")
        finally:
            os.close(fd)
        eq(read_all(f), b"closed record\n", "sealed file after the refused changes")
        eq(read_all(u), b"still being written\nmore\n", "second file after the refused changes")
        eq(oct(stat.S_IMODE(os.stat(f).st_mode)), oct(0o644), "mode after a refused chmod")
        raises(errno.EPERM, os.rmdir, d, what="rmdir of a non-empty journal directory")
        os.mkdir(os.path.join(d, "sub"))
        check(os.path.isdir(os.path.join(d, "sub")), "mkdir in a journal directory")
        eq(sorted(os.listdir(d)), ["sealed", "sub"], "journal directory listing")


@test
def retention_ends_on_monotonic_clock():
    skip_native()
    with Store(opts=RETENTION_SHORT) as s:
        a = os.path.join(s.mnt, "audit")
        f = os.path.join(a, "short")
        g = os.path.join(a, "short2")
        u = os.path.join(a, "unsealed")
        fd = os.open(u, APPEND, 0o644)
        try:
            os.write(fd, b"open\n")
            t_seal = seal_one(f)
            seal_one(g)
            changes_refused(f, "sealed %.2fs ago" % (time.monotonic() - t_seal))
            time.sleep(max(0, t_seal + 3.0 - time.monotonic()))
            # retention (1.7 s) is over for the sealed files, never for the open one
            changes_refused(u, "unsealed after 3s", fd=fd)
            os.rename(g, g + ".moved")
            eq(read_all(g + ".moved"), b"sealed\n", "content after a rename once retention ended")
            os.unlink(f)
            check(not os.path.lexists(f), "%s: expected gone after unlink once retention ended" % f)
            os.write(fd, b"more\n")
        finally:
            os.close(fd)
        # its retention starts at its seal, now
        t_seal_u = time.monotonic()
        check(sealed(u), "%s: expected sealed at its last close" % u)
        changes_refused(u, "sealed just now (%.2fs)" % (time.monotonic() - t_seal_u))
        time.sleep(max(0, t_seal_u + 3.0 - time.monotonic()))
        os.unlink(u)
        check(not os.path.lexists(u), "%s: expected gone after unlink 3s after its seal" % u)


@test
def retention_clock_persists_and_stops_while_unmounted():
    """aifs(8): retention is counted on a clock the store keeps, advancing only while mounted."""
    skip_native()
    ret = 0.00003 * 86400                                    # 2.592 s of mounted time
    with Store(opts="audit_retention=0.00003") as s:
        f = os.path.join(s.mnt, "audit", "r")
        t_seal = seal_one(f)
        s.unmount()
        time.sleep(ret + 0.5)                                # unmounted: the store's clock stands still
        s.mount()
        t_mounted = time.monotonic()
        changes_refused(f, "sealed %.2fs ago (wall), unmounted for %.2fs, remounted" % (
            time.monotonic() - t_seal, ret + 0.5))
        time.sleep(max(0, t_mounted + ret + 0.5 - time.monotonic()))
        os.unlink(f)
        check(not os.path.lexists(f), "%s: expected gone after retention (mounted time) ended" % f)


@test
def governance_release_and_compliance_refusal():
    skip_native()
    with Store() as s:      # governance, 183 days
        a = os.path.join(s.mnt, "audit")
        f = os.path.join(a, "f")
        g = os.path.join(a, "g")
        seal_one(f)
        seal_one(g)
        ud = os.path.join(a, "u")
        os.mkdir(ud)
        os.chmod(ud, 0o777)
        mine = os.path.join(ud, "mine")
        run_as(1000, 1000, seal_one, mine)
        # not root (even the owner): no release
        raises(errno.EPERM, run_as, 1000, 1000, os.setxattr, mine, "user.aifs.release", b"1",
               what="setxattr user.aifs.release by its non-root owner")
        raises(errno.EPERM, os.unlink, mine, what="unlink after the refused release")
        raises(errno.EPERM, os.unlink, f, what="unlink before release")
        os.setxattr(f, "user.aifs.release", b"1")
        os.unlink(f)
        check(not os.path.exists(f), "%s: expected gone after release and unlink" % f)
        ctl_ok("release", "audit", "release", g)
        os.rename(g, g + ".moved")
        os.unlink(g + ".moved")
        lines, recs, _, _ = records_of(s)
        rel = [(r["op"], r["path"], r["uid"], r["comm"]) for r in recs if r["op"] == "release"]
        eq(rel, [("release", "/audit/f", 0, "python3"), ("release", "/audit/g", 0, "aifsctl")],
           "release records (op, path, uid, comm)")
    with Store(opts="audit_mode=compliance") as s:
        f = os.path.join(s.mnt, "audit", "f")
        seal_one(f)
        n = checkpoint_size(s)
        raises(errno.EPERM, os.setxattr, f, "user.aifs.release", b"1", what="release by root in compliance mode")
        ctl_fails("compliance", "audit", "release", f)
        changes_refused(f, "compliance mode after refused releases")
        eq(checkpoint_size(s), n, "records after refused releases (none added)")


@test
def legal_hold_blocks_delete():
    skip_native()
    with Store(opts=RETENTION_SHORT) as s:
        a = os.path.join(s.mnt, "audit")
        f = os.path.join(a, "held")
        t_seal = seal_one(f)
        os.setxattr(f, "user.aifs.hold", b"case-1")
        ctl_ok("hold", "audit", "hold", f, "case-2")
        ud = os.path.join(a, "u")
        os.mkdir(ud)
        os.chmod(ud, 0o777)
        mine = os.path.join(ud, "mine")
        run_as(1000, 1000, seal_one, mine)
        raises((errno.EPERM, errno.EACCES), run_as, 1000, 1000, os.setxattr, f, "user.aifs.hold", b"x",
               what="hold by a user who neither owns the file nor is root")
        raises(errno.EPERM, run_as, 1000, 1000, os.setxattr, mine, "user.aifs.hold", b"x",
               what="hold by the owner of the file (holds are root's or the audit group's)")
        os.setxattr(mine, "user.aifs.hold", b"own")                          # by root
        time.sleep(max(0, t_seal + 3.0 - time.monotonic()))                 # retention is over
        changes_refused(f, "after retention with holds case-1 and case-2")
        changes_refused(mine, "after retention with hold 'own'")
        os.setxattr(f, "user.aifs.unhold", b"case-1")
        changes_refused(f, "after retention with hold case-2 still on")
        os.setxattr(f, "user.aifs.release", b"1")
        changes_refused(f, "after release with hold case-2 still on")
        ctl_ok("unhold", "audit", "unhold", f, "case-2")
        os.unlink(f)
        check(not os.path.exists(f), "%s: expected gone once every hold is cleared" % f)
        raises(errno.EPERM, run_as, 1000, 1000, os.setxattr, mine, "user.aifs.unhold", b"own",
               what="unhold by the owner of the held file")
        changes_refused(mine, "after its owner's refused unhold")
        os.setxattr(mine, "user.aifs.unhold", b"own")
        run_as(1000, 1000, os.unlink, mine)
        check(not os.path.exists(mine), "%s: expected its owner could unlink it after unhold" % mine)
        _, recs, _, _ = records_of(s)
        acts = [(r["op"], r["path"], r.get("tag"), r["uid"]) for r in recs
                if r["op"] in ("hold", "unhold", "release")]
        eq(acts, [("hold", "/audit/held", "case-1", 0), ("hold", "/audit/held", "case-2", 0),
                  ("hold", "/audit/u/mine", "own", 0), ("unhold", "/audit/held", "case-1", 0),
                  ("release", "/audit/held", "1", 0), ("unhold", "/audit/held", "case-2", 0),
                  ("unhold", "/audit/u/mine", "own", 0)],
           "hold/unhold/release records (op, path, tag, uid)")


def _child_append(path, chunks):
    append(path, chunks)
    return os.getpid()


@test
def every_write_is_a_record():
    skip_native()
    with Store(opts="audit_checkpoint_secs=3600") as s:     # checkpoints only when read or at unmount
        a = os.path.join(s.mnt, "audit")
        os.mkdir(os.path.join(a, "svc"))
        p = os.path.join(a, "svc", "log")
        # writes that stay inside one page or start page-aligned: the kernel passes each as
        # one FUSE write (it splits an unaligned write at its first page boundary)
        chunks = [b"a", b"bc" * 10, data("rec", 4075), data("rec2", 8192), data("rec3", 100), b"\n"]
        t0 = time.time_ns()
        append(p, chunks)
        t1 = time.time_ns()
        # the seal comes with the release, which may follow close(): an open waits for it
        check(sealed(p), "%s: expected sealed after its only writer closed it" % p)
        t2 = time.time_ns()
        ino = os.stat(p).st_ino
        # a second user's file
        os.chmod(os.path.join(a, "svc"), 0o777)
        q = os.path.join(a, "svc", "other")
        cpid = run_as(1000, 1000, _child_append, q, [b"from uid 1000\n"])
        check(sealed(q), "%s: expected sealed after its writer closed it" % q)
        qino = os.stat(q).st_ino
        # writes crossing page boundaries unaligned may reach aifs in pieces: the records
        # must still tile the file exactly
        split = data("split", 100) + data("split2", 10000) + data("split3", 5000)
        append(os.path.join(a, "svc", "split"), [split[:100], split[100:10100], split[10100:]])
        # writes outside the journal area are not records
        n = checkpoint_size(s)
        with open(os.path.join(s.work("plain"), "f"), "wb") as fh:
            fh.write(b"not journaled")
        eq(checkpoint_size(s), n, "records after a write outside the journal area")
        lines, recs, notes, _ = records_of(s)
        whole = b"".join(chunks)
        want = [dict(op="create", offset=0, length=0, sha256="")]
        off = 0
        for c in chunks:
            want.append(dict(op="write", offset=off, length=len(c), sha256=sha(c)))
            off += len(c)
        want.append(dict(op="seal", offset=0, length=len(whole), sha256=sha(whole)))
        for w in want:
            w.update(uid=0, pid=os.getpid(), comm="python3", path="/audit/svc/log", inode=ino)
        want2 = [dict(op="create", offset=0, length=0, sha256=""),
                 dict(op="write", offset=0, length=14, sha256=sha(b"from uid 1000\n")),
                 dict(op="seal", offset=0, length=14, sha256=sha(b"from uid 1000\n"))]
        for w in want2:
            w.update(uid=1000, pid=cpid, comm="python3", path="/audit/svc/other", inode=qino)
        want += want2
        recs = [r for r in recs if r.get("path") != "/audit/svc/split"]
        eq(len(recs), len(want), "number of records (ops %s)" % [r.get("op") for r in recs])
        for i, (r, w) in enumerate(zip(recs, want)):
            eq(set(r), FIELDS | ({"retention", "lock"} if r["op"] == "create" else set()), "fields of record %d" % i)
            eq(r["seq"], i, "seq of record %d" % i)
            for k, v in w.items():
                eq(r[k], v, "record %d (%s) field %s" % (i, w["op"], k))
            check(isinstance(r["time"], int), "record %d: time: expected an integer, saw %r" % (i, r["time"]))
        times = [r["time"] for r in recs]
        eq(times, sorted(times), "record times in seq order")
        check(t0 <= times[0] and times[len(chunks)] <= t1 and times[len(chunks) + 1] <= t2,
              "record times: expected writes within [%d, %d] ns and the seal by %d, saw %d..%d, "
              "seal %d" % (t0, t1, t2, times[0], times[len(chunks)], times[len(chunks) + 1]))
        _, allrecs, _ = load_export(os.path.join(s.base, "export"))
        eq(sorted(notes), [len(allrecs)], "checkpoints after unmount (sizes)")
        _check_tiling(allrecs, "/audit/svc/split", split, "records of a file written with unaligned writes")
        nbytes = sum(r["length"] for r in allrecs if r["op"] in ("write", "seal"))
        verify_intact(s, "every_write_is_a_record", nrec=len(allrecs), ncp=1, nbytes=nbytes)


def _check_tiling(recs, path, content, what):
    """The write records of path cover content exactly, in order, each with the sha256 of its bytes."""
    mine = [r for r in recs if r["path"] == path]
    eq([r["op"] for r in mine[:1] + mine[-1:]], ["create", "seal"], "%s: first and last op" % what)
    off = 0
    for r in mine[1:-1]:
        eq(r["op"], "write", "%s: op of record %d" % (what, r["seq"]))
        eq(r["offset"], off, "%s: offset of record %d" % (what, r["seq"]))
        check(r["length"] > 0, "%s: record %d: expected a positive length, saw %d" % (what, r["seq"], r["length"]))
        eq(r["sha256"], sha(content[off:off + r["length"]]), "%s: sha256 of record %d" % (what, r["seq"]))
        off += r["length"]
    eq(off, len(content), "%s: bytes covered by the write records" % what)
    eq((mine[-1]["length"], mine[-1]["sha256"]), (len(content), sha(content)), "%s: seal record" % what)


@test
def record_path_is_from_mount_root_after_listing_the_root():
    skip_native()
    with Store() as s:
        names = sorted(os.listdir(s.mnt))       # what any ls of the mount does first
        check(".aifs" not in names and "audit" in names, "root listing: saw %s" % names)
        os.mkdir(os.path.join(s.mnt, "audit", "svc"))
        for path, line in ((os.path.join(s.mnt, "audit", "svc", "log"), b"x\n"),
                           (os.path.join(s.mnt, "audit", "top"), b"y\n")):
            append(path, [line])
            check(sealed(path), "%s: expected sealed (the seal follows close at release)" % path)
        _, recs, _, _ = records_of(s)
        eq([(r["op"], r["path"]) for r in recs],
           [("create", "/audit/svc/log"), ("write", "/audit/svc/log"), ("seal", "/audit/svc/log"),
            ("create", "/audit/top"), ("write", "/audit/top"), ("seal", "/audit/top")],
           "record (op, path) after the root was listed")


@test
def checkpoint_readable_and_signed():
    skip_native()
    with Store(opts="audit_checkpoint_secs=3600") as s:     # checkpoints only when read or at unmount
        pubtext = read_all(os.path.join(s.store, "audit.pub")).decode()
        name, khash, pub = parse_vkey(pubtext)
        a = os.path.join(s.mnt, "audit")
        append(os.path.join(a, "one"), [b"1", b"2"])        # create, write, write, seal
        t = time.time()
        text = checkpoint_text(s)
        cp = parse_note(text, ".aifs/audit/checkpoint")
        eq(cp["size"], 4, "checkpoint size after 4 records")
        check(abs(cp["time"] - t) < 60, "checkpoint time: expected about %d, saw %d" % (t, cp["time"]))
        eq([n for n, _ in cp["sigs"]], [name], "signer names of the checkpoint")
        sig = cp["sigs"][0][1]
        eq(len(sig), 68, "decoded signature length (4-byte key hash + 64-byte Ed25519)")
        eq(sig[:4], khash, "key hash in the signature against the verifier key")
        if HAVE_CRYPTO:
            try:
                Ed25519PublicKey.from_public_bytes(pub).verify(sig[4:], cp["body"])
            except InvalidSignature:
                raise Fail("checkpoint signature: expected valid over %r with %s, saw invalid" % (
                    cp["body"], pubtext.strip()))
        else:
            print("# skipped: python3-cryptography missing (signature check)", flush=True)
        out = ctl_ok("head", "audit", "head", s.mnt)
        eq(out, text, "aifsctl audit head MOUNT against .aifs/audit/checkpoint")
        eq(checkpoint_text(s), text, "a second read with no new records")
        append(os.path.join(a, "two"), [b"3"])              # create, write, seal
        cp2 = parse_note(checkpoint_text(s), "checkpoint after 3 more records")
        eq(cp2["size"], 7, "checkpoint size after 3 more records (read signs what is pending)")
        eq(cp2["origin"], cp["origin"], "origin of successive checkpoints")
        check(cp2["root"] != cp["root"], "root hash: expected to change with the tree")
        _, _, notes, _ = records_of(s)
        eq(sorted(notes), [4, 7], "exported checkpoint sizes (each read signed one, unmount had nothing new)")
        eq(notes[4], text, "exported checkpoint 4 against the one read through the mount")
    # every N records (no reader).  A signer thread is woken when N records are pending and
    # signs what is pending when it runs: one record at a time, with a pause after each, the
    # sizes are exact; in a burst each checkpoint covers at least N new records.
    with Store(opts="audit_checkpoint_records=5,audit_checkpoint_secs=3600") as s:
        a = os.path.join(s.mnt, "audit")
        fd = os.open(os.path.join(a, "paced"), APPEND, 0o644)     # record 1 (create)
        try:
            for i in range(10):                                     # records 2..11
                os.write(fd, b"%d\n" % i)
                if (i + 2) % 5 == 0:    # the signer has signed the 5 due before the next record
                    _wait_signed(s, i + 2)
        finally:
            os.close(fd)                                            # record 12 (seal)
        _, recs, notes, _ = records_of(s)
        eq(len(recs), 12, "records")
        eq(sorted(notes), [5, 10, 12], "checkpoint sizes with audit_checkpoint_records=5, paced records "
           "(and unmount)")
    with Store(opts="audit_checkpoint_records=5,audit_checkpoint_secs=3600") as s:
        a = os.path.join(s.mnt, "audit")
        for i in range(8):
            append(os.path.join(a, "n%d" % i), [b"x"])             # 3 records each: 24, in a burst
        _wait_signed(s, 5)      # by the signer, woken at 5 pending: nobody reads the head
        _, recs, notes, _ = records_of(s)
        eq(len(recs), 24, "records")
        sizes = sorted(notes)
        gaps = [b - a_ for a_, b in zip([0] + sizes, sizes)]
        check(sizes[-1] == 24 and sizes[0] >= 5 and all(g >= 5 for g in gaps[:-1]),
              "checkpoint sizes with audit_checkpoint_records=5 after a burst of 24 records: expected each "
              "but the unmount's at least 5 records after the previous, and the last 24, saw %s" % sizes)
    # every T seconds (no reader)
    with Store(opts="audit_checkpoint_secs=1") as s:
        a = os.path.join(s.mnt, "audit")
        append(os.path.join(a, "t1"), [b"x"])               # 3 records
        _wait_signed(s, 3)                                  # by the timer: nobody reads the head
        os.mkdir(os.path.join(a, "d"))                      # not a record
        append(os.path.join(a, "t2"), [b"y"])               # 3 more
        _, recs, notes, _ = records_of(s)
        eq(len(recs), 6, "records")
        sizes = sorted(notes)
        check(3 in sizes and sizes[-1] == 6,
              "checkpoint sizes with audit_checkpoint_secs=1 and a pause after 3 records: "
              "expected 3 (timer) and 6 (unmount), saw %s" % sizes)


def _wait_signed(s, size):
    """Wait (60 s at most) until the signer has signed SIZE records, as .aifs/stats
    says: reading the checkpoint itself would sign what is pending."""
    seen = None
    for _ in range(600):
        seen = json.loads(read_all(os.path.join(s.mnt, ".aifs", "stats")))["journal"]["signed"]
        if seen >= size:
            return
        time.sleep(0.1)
    raise Fail("the signer did not sign %d records within 60 s (signed: %s)" % (size, seen))


def _find(hay_paths, needle):
    for p in hay_paths:
        b = read_all(p)
        i = b.find(needle)
        if i >= 0:
            check(b.find(needle, i + 1) < 0, "needle found twice in %s" % p)
            return p, i
    return None, -1


def _flip(path, off):
    with open(path, "r+b") as fh:
        fh.seek(off)
        b = fh.read(1)
        fh.seek(off)
        fh.write(bytes([b[0] ^ 0x01]))


@test
def verify_detects_tampered_data():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "big")
        content = data("big", 600 * KiB)
        append(p, [content[i:i + 64 * KiB] for i in range(0, len(content), 64 * KiB)])
        s.unmount()
        (nrec, _, nbytes), _ = verify_intact(s, "before tampering")
        eq(nrec, 2 + 10, "records of a 600 KiB file written in 64 KiB writes")
        eq(nbytes, 2 * len(content), "bytes re-read (every write and the seal)")
        hot = os.path.join(s.store, "hot")
        segs = sorted(os.path.join(hot, n) for n in os.listdir(hot) if n.startswith("seg-"))
        check(segs, "STORE/hot: expected seg-* files, saw %s" % os.listdir(hot))
        needle = content[300 * KiB:300 * KiB + 64]
        seg, off = _find(segs, needle)
        check(seg is not None, "expected the file's bytes stored raw in a segment file, saw them in none of %s" % segs)
        _flip(seg, off + 17)
        rc, out = ctl("audit", "verify", s.store)
        eq(rc, 1, "verify after flipping one data byte in %s: exit status (output %r)" % (
            os.path.basename(seg), out.strip()[-800:]))
        check("intact" not in out, "verify output after tampering: expected no 'intact', saw %r" % out)
        probs = re.findall(r"^record ([0-9]+): (.*)$", out, re.M)
        # byte 300 KiB + 17 lies in write 5 (256..320 KiB; seq 0 is the create) and in the seal (seq 11)
        eq(sorted(int(n) for n, _ in probs), [5, 11], "records reported by verify (output %r)" % out.strip()[-800:])
        check(re.search(r"^audit: 2 problems", out, re.M),
              "verify output: expected a summary 'audit: 2 problems...', saw %r" % out.strip()[-400:])
        _flip(seg, off + 17)                                # restore
        verify_intact(s, "after restoring the byte", nrec=nrec, nbytes=nbytes)


def _workload(s, nfiles=4, sign_each=False):
    a = os.path.join(s.mnt, "audit")
    os.mkdir(os.path.join(a, "svc"))
    for i in range(nfiles):
        append(os.path.join(a, "svc", "req-%d.jsonl" % i),
               [b'{"req": %d, "part": %d}\n' % (i, k) for k in range(i + 1)])
        if sign_each:
            checkpoint_size(s)      # reading the head signs what is there: one checkpoint a file


@test
def export_verifies_with_only_public_key():
    skip_native()
    with Store(opts="audit_checkpoint_records=3,audit_checkpoint_secs=3600") as s:
        _workload(s, sign_each=True)    # several checkpoints, however late the signer runs
        lines, recs, notes, d = records_of(s)
        nrec = sum(2 + i + 1 for i in range(4))
        eq(len(lines), nrec, "exported records")
        eq([r["seq"] for r in recs], list(range(nrec)), "seq of exported records")
        sizes = sorted(notes)       # one signed after each file at least, and at unmount
        check(len(sizes) >= 2 and sizes[-1] == nrec,
              "exported checkpoint sizes: expected several, the last %d, saw %s" % (nrec, sizes))
        eq(read_all(os.path.join(d, "audit.pub")), read_all(os.path.join(s.store, "audit.pub")), "exported audit.pub")
        pub = os.path.join(s.base, "trusted.pub")
        shutil.copy(os.path.join(s.store, "audit.pub"), pub)
        shutil.move(s.store, s.store + ".away")             # no store at all
        try:
            rc, out = ctl("audit", "verify", "--export", d, "--pubkey", pub)
            eq(rc, 0, "verify --export --pubkey: exit status (output %r)" % out.strip())
            check(re.search(r"^audit: intact: %d records, %d signed checkpoints" % (nrec, len(notes)), out, re.M),
                  "verify --export: expected 'audit: intact: %d records, %d signed checkpoints', saw %r" % (
                      nrec, len(notes), out.strip()))
            rc, out = ctl("audit", "verify", "--export", d)
            eq(rc, 0, "verify --export with the exported audit.pub: exit status (output %r)" % out.strip())
            other = os.path.join(s.base, "other")
            ctl_ok("mkfs", "mkfs", other)
            out = ctl_fails("wrong key", "audit", "verify", "--export", d, "--pubkey", os.path.join(other, "audit.pub"))
            check(out.strip(), "verify with a wrong key: expected a line naming the problem, saw nothing")
        finally:
            shutil.move(s.store + ".away", s.store)


def _tampered(src, dst, fn):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    fn(dst)
    return dst


@test
def export_tampering_detected():
    skip_native()
    with Store(opts="audit_checkpoint_records=4,audit_checkpoint_secs=3600") as s:
        _workload(s)
        lines, recs, notes, d = records_of(s)
        pub = os.path.join(s.base, "trusted.pub")
        shutil.copy(os.path.join(s.store, "audit.pub"), pub)
        rc, out = ctl("audit", "verify", "--export", d, "--pubkey", pub)
        eq(rc, 0, "verify of the untouched export (output %r)" % out.strip())
        t = os.path.join(s.base, "t")

        def write_lines(dd, ls):
            with open(os.path.join(dd, "records.jsonl"), "wb") as fh:
                fh.write(b"".join(x + b"\n" for x in ls))

        def expect_fail(dd, what):
            rc, out = ctl("audit", "verify", "--export", dd, "--pubkey", pub)
            if rc != 1:
                raise Fail("verify --export after %s: expected exit 1, saw %d: %s" % (what, rc, out.strip()[-600:]))
            check(out.strip() and "intact" not in out,
                  "verify --export after %s: expected a line naming the problem, saw %r" % (what, out))

        n = len(lines)
        for i, j in ((0, 1), (5, 6), (n - 2, n - 1), (2, 9)):
            ls = list(lines)
            ls[i], ls[j] = ls[j], ls[i]
            expect_fail(_tampered(d, t, lambda dd: write_lines(dd, ls)), "swapping records %d and %d" % (i, j))
        expect_fail(_tampered(d, t, lambda dd: write_lines(dd, lines[:-1])), "removing the last record")
        expect_fail(_tampered(d, t, lambda dd: write_lines(dd, lines[:3] + lines[4:])), "removing record 3")
        target = 6
        for pos in range(len(lines[target])):
            ls = list(lines)
            b = bytearray(ls[target])
            b[pos] ^= 0x01
            ls[target] = bytes(b)
            expect_fail(_tampered(d, t, lambda dd: write_lines(dd, ls)),
                        "flipping byte %d of record %d (%r)" % (pos, target, bytes(b[max(0, pos - 8):pos + 8])))
        last = max(notes)
        for size in (min(notes), last):
            text = notes[size]
            sigline = text.rstrip("\n").splitlines()[-1]
            name, b64 = sigline.split(" ")[1:3]
            raw = bytearray(base64.b64decode(b64))
            for k in (4, 40, len(raw) - 1):                     # inside the Ed25519 signature
                r2 = bytearray(raw)
                r2[k] ^= 0x01
                bad = text.replace(sigline, "\u2014 %s %s" % (name, base64.b64encode(bytes(r2)).decode()))

                def put(dd, bad=bad, size=size):
                    with open(os.path.join(dd, "checkpoints", "%d.note" % size), "w") as fh:
                        fh.write(bad)
                expect_fail(_tampered(d, t, put), "flipping signature byte %d of checkpoint %d" % (k, size))
            cp = parse_note(text, "checkpoint %d" % size)
            root = bytearray(cp["root"])
            root[0] ^= 0x01
            bad = text.replace(base64.b64encode(cp["root"]).decode(), base64.b64encode(bytes(root)).decode())

            def put_root(dd, bad=bad, size=size):
                with open(os.path.join(dd, "checkpoints", "%d.note" % size), "w") as fh:
                    fh.write(bad)
            expect_fail(_tampered(d, t, put_root), "changing the root hash of checkpoint %d" % size)
        other = os.path.join(s.base, "other")
        ctl_ok("mkfs", "mkfs", other)
        rc, out = ctl("audit", "verify", "--export", d, "--pubkey", os.path.join(other, "audit.pub"))
        eq(rc, 1, "verify --export with another store's public key: exit status (output %r)" % out.strip())

        def swap_key(dd):
            shutil.copy(os.path.join(other, "audit.pub"), os.path.join(dd, "audit.pub"))
        _tampered(d, t, swap_key)
        rc, out = ctl("audit", "verify", "--export", t)
        eq(rc, 1, "verify --export after replacing the exported audit.pub: exit status (output %r)" % out.strip())


@test
def independent_root_and_signature_check():
    skip_native()
    with Store(opts="audit_checkpoint_records=3,audit_checkpoint_secs=3600") as s:
        _workload(s, nfiles=5, sign_each=True)     # several checkpoints, however late the signer runs
        append(os.path.join(s.mnt, "audit", "extra"), [b"e"])
        lines, recs, notes, d = records_of(s)
        name, khash, pub = parse_vkey(read_all(os.path.join(d, "audit.pub")).decode())
        eq(khash, key_hash(name, pub), "key hash in the verifier key against SHA-256(name\\n\\x01pub)[:4]")
        leaves = [leaf_hash(x) for x in lines]
        check(len(notes) >= 3, "expected several checkpoints, saw sizes %s" % sorted(notes))
        eq(max(notes), len(lines), "size of the newest checkpoint against the number of records")
        origins = set()
        for size, text in sorted(notes.items()):
            cp = parse_note(text, "checkpoints/%d.note" % size)
            eq(cp["size"], size, "size line of checkpoints/%d.note" % size)
            eq(cp["root"].hex(), mth(leaves[:size]).hex(), "root of checkpoint %d against RFC 6962 over the "
               "first %d lines of records.jsonl" % (size, size))
            origins.add(cp["origin"])
            eq([n for n, _ in cp["sigs"]], [name], "signer of checkpoint %d" % size)
            sig = cp["sigs"][0][1]
            eq(len(sig), 68, "signature length of checkpoint %d" % size)
            eq(sig[:4], khash, "key hash of the signature of checkpoint %d" % size)
            if HAVE_CRYPTO:
                try:
                    Ed25519PublicKey.from_public_bytes(pub).verify(sig[4:], cp["body"])
                except InvalidSignature:
                    raise Fail("checkpoint %d: Ed25519 signature over %r: expected valid, saw invalid" % (
                        size, cp["body"]))
                bad = bytearray(cp["body"])
                bad[-3] ^= 0x01
                try:
                    Ed25519PublicKey.from_public_bytes(pub).verify(sig[4:], bytes(bad))
                    raise Fail("checkpoint %d: signature also verified over altered text" % size)
                except InvalidSignature:
                    pass
        eq(len(origins), 1, "origins of all checkpoints")
        if not HAVE_CRYPTO:
            print("# skipped: python3-cryptography missing (signature part of independent_root_and_signature_check)",
                  flush=True)


@test
def append_rate_1kib_records():
    skip_native()
    with Store(opts="audit_checkpoint_records=1000,audit_checkpoint_secs=10") as s:
        p = os.path.join(s.mnt, "audit", "rate.log")
        rec = data("rate", 1023) + b"\n"
        fd = os.open(p, APPEND, 0o644)
        n = 0
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 3.0:
                for _ in range(100):
                    os.write(fd, rec)
                n += 100
        finally:
            os.close(fd)
        dt = time.monotonic() - t0
        print("# append_rate_1kib_records: %d records of 1 KiB in %.2fs: %.0f records/s, %.2f MiB/s" % (
            n, dt, n / dt, n * KiB / dt / (1 << 20)), flush=True)
        eq(os.stat(p).st_size, n * KiB, "size after %d appends" % n)
        with open(p, "rb") as fh:
            content = fh.read()
        eq(content == rec * n, True, "content is the %d appended records" % n)
        s.unmount()
        t0 = time.monotonic()
        (nrec, ncp, nbytes), _ = verify_intact(s, "after the rate run", nrec=n + 2)
        dt = time.monotonic() - t0
        eq(nbytes, 2 * n * KiB, "bytes re-read")
        print("# append_rate_1kib_records: verify of %d records, %.1f MiB re-read in %.2fs: %.1f MiB/s" % (
            nrec, nbytes / (1 << 20), dt, nbytes / (1 << 20) / dt), flush=True)


def _appender(path, side):
    """Append 1 KiB records to a journal file until the mount dies; count each completed write."""
    rec = b"k" * 1023 + b"\n"
    try:
        fd = os.open(path, APPEND, 0o644)
        sfd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        while True:
            os.write(fd, rec)
            os.write(sfd, b".")
    except OSError:
        os._exit(0)


@test
def journal_survives_remount_and_kill9():
    skip_native()
    ctx = multiprocessing.get_context("fork")
    with Store(opts="audit_checkpoint_records=50") as s:
        a = os.path.join(s.mnt, "audit")
        f = os.path.join(a, "before")
        seal_one(f, b"before remount\n")
        n1 = checkpoint_size(s)
        s.remount()
        eq(checkpoint_size(s), n1, "checkpoint size after a clean remount")
        check(sealed(f), "%s: expected still sealed after remount" % f)
        changes_refused(f, "after remount")
        eq(read_all(f), b"before remount\n", "content after remount")
        append(os.path.join(a, "after"), [b"after remount\n"])
        eq(checkpoint_size(s), n1 + 3, "records continue after remount")
        # kill -9 while a process appends
        k = os.path.join(a, "killed")
        side = os.path.join(s.base, "appended")
        w = ctx.Process(target=_appender, args=(k, side))
        w.start()
        deadline = time.time() + 20
        while (not os.path.exists(side) or os.path.getsize(side) < 300) and time.time() < deadline and w.is_alive():
            time.sleep(0.01)
        check(w.is_alive(), "appender died before the kill (exit %s)" % w.exitcode)
        s.kill9()
        w.join(30)
        if w.is_alive():
            os.kill(w.pid, signal.SIGKILL)
            w.join()
        acked = os.path.getsize(side)
        s.mount()
        check(sealed(f), "%s: expected still sealed after kill -9" % f)
        changes_refused(f, "after kill -9")
        eq(read_all(f), b"before remount\n", "content of the sealed file after kill -9")
        got = read_all(k)
        check(len(got) % KiB == 0 and got == (b"k" * 1023 + b"\n") * (len(got) // KiB),
              "%s after kill -9: expected whole 1 KiB records, saw %d bytes" % (k, len(got)))
        print("# journal_survives_remount_and_kill9: %d appends acknowledged before the kill, %d records in the file "
              "after remount" % (acked, len(got) // KiB), flush=True)
        changes_refused(k, "the file being appended at kill -9")
        append(os.path.join(a, "later"), [b"after the crash\n"])
        s.unmount()
        rc, out = ctl("audit", "verify", s.store)
        frc, fout = s.fsck()
        check(rc == 0 and frc == 0 and "clean" in fout.strip().splitlines()[-1],
              "after kill -9 during appends and a remount: expected aifsctl audit verify exit 0 and fsck "
              "exit 0 'clean', saw verify exit %d (%d lines, first %r, last %r) and fsck exit %d (%r)" % (
                  rc, len(out.strip().splitlines()), out.strip().splitlines()[:1], out.strip().splitlines()[-1:],
                  frc, fout.strip()[-300:]))
        s.mount()
        _, recs, _, _ = records_of(s)
        eq([r["seq"] for r in recs], list(range(len(recs))), "seq after kill -9 (contiguous)")
        kw = [r for r in recs if r["path"] == "/audit/killed" and r["op"] == "write"]
        eq(sum(r["length"] for r in kw), len(got), "journaled bytes of the killed file against its size")
        eq([r["path"] for r in recs if r["op"] == "create"],
           ["/audit/before", "/audit/after", "/audit/killed", "/audit/later"], "created files in the log")



@test
def retention_per_directory():
    skip_native()
    with Store() as s:
        short = os.path.join(s.mnt, "audit", "short")
        os.mkdir(short)
        os.setxattr(short, "user.aifs.retention", b"0.00002")   # about 1.7 s
        raises(errno.EINVAL, os.setxattr, short, "user.aifs.retention", b"soon",
               what="setxattr user.aifs.retention with a bad value")
        f = os.path.join(short, "r.log")
        g = os.path.join(s.mnt, "audit", "default.log")
        t_seal = seal_one(f)
        seal_one(g)
        changes_refused(f, "sealed %.2fs ago in a directory with a 1.7 s retention" % (
            time.monotonic() - t_seal))
        time.sleep(max(0, t_seal + 3.0 - time.monotonic()))
        os.unlink(f)
        check(not os.path.lexists(f), "%s: expected gone once its directory's retention ended" % f)
        changes_refused(g, "sealed 3 s ago under the default retention of 183 days")

if __name__ == "__main__":
    main()
