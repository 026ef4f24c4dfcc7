#!/usr/bin/python3
"""Dataset snapshots (issue 4): frozen read-only trees, no data copied, content hashes,
aifsctl snapshot, persistence, and a PyTorch DataLoader reading a snapshot.

Every test is aifs-only (skipped with AIFS_TEST_NATIVE=1).  torch is imported only by
the DataLoader tests.  Besides ok/not ok lines, snapshot_and_epoch_timings_20000_files
prints "# " lines with measured times; they are information, not assertions.
"""

import errno
import hashlib
import json
import os
import signal
import stat
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, RENAME_EXCHANGE, RENAME_NOREPLACE, Fail, Store, check,  # noqa: E402
                     data, drop_caches, eq, main, raises, read_all, renameat2, run, same_bytes,
                     skip_native, test, write_file, write_synced)

KiB = 1 << 10
MiB = 1 << 20
REC = 64 * KiB


# ------------------------------------------------------------------ helpers

def dataset(s, name):
    """A fresh directory under the store's datasets/ area."""
    p = os.path.join(s.mnt, "datasets", name)
    os.mkdir(p)
    return p


def snapdir(ds, tag=None):
    p = os.path.join(ds, ".aifs", "snapshots")
    return p if tag is None else os.path.join(p, tag)


def snapshot(ds, tag):
    os.mkdir(snapdir(ds, tag))
    return snapdir(ds, tag)


def hot_usage(s):
    """Bytes allocated on disk by the files of STORE/hot."""
    total = 0
    for dirpath, _, files in os.walk(os.path.join(s.store, "hot")):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def ctl(*args):
    """Run aifsctl; return (exit code, stdout+stderr)."""
    return run([AIFSCTL_BIN] + [str(a) for a in args])


def ctl_ok(*args):
    rc, out = ctl(*args)
    if rc != 0:
        raise Fail("aifsctl %s: expected exit 0, saw %d: %s" % (
            " ".join(str(a) for a in args), rc, out.strip()[-1000:]))
    return out


def sha_hex(b):
    return hashlib.sha256(b).hexdigest()


def xattr_sha(path):
    return os.getxattr(path, "user.aifs.sha256").decode("ascii", "replace")


def meta_tree(root):
    """{relative path: metadata} for root and everything under it, from lstat/listxattr only
    (no file is opened, so no atime changes).  Hard links are reported as the list of names
    that share one inode, per inode."""
    out = {}
    inodes = {}

    def one(rel, p):
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        x = {}
        if not stat.S_ISLNK(st.st_mode):
            for n in sorted(os.listxattr(p, follow_symlinks=False)):
                x[n] = os.getxattr(p, n, follow_symlinks=False)
        out[rel] = {
            "type": kind, "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
            "gid": st.st_gid, "size": st.st_size if not stat.S_ISDIR(st.st_mode) else None,
            "nlink": st.st_nlink, "mtime_ns": st.st_mtime_ns, "atime_ns": st.st_atime_ns,
            "xattrs": x, "target": os.readlink(p) if stat.S_ISLNK(st.st_mode) else None,
        }
        if not stat.S_ISDIR(st.st_mode):
            inodes.setdefault(st.st_ino, []).append(rel)

    one(".", root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            one(os.path.relpath(p, root), p)
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out, links


def same_meta(seen, expected, what):
    """Compare two meta_tree() results entry by entry, naming the first difference."""
    (sm, sl), (em, el) = seen, expected
    eq(sorted(sm), sorted(em), "%s: names" % what)
    for rel in sorted(em):
        for k in em[rel]:
            if sm[rel][k] != em[rel][k]:
                raise Fail("%s: %s of %s: expected %r, saw %r" % (what, k, rel, em[rel][k], sm[rel][k]))
    eq(sl, el, "%s: groups of names sharing one inode" % what)


def contents(root):
    """{relative path: bytes} of every regular file under root."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out[os.path.relpath(p, root)] = read_all(p)
    return out


def same_contents(seen, expected, what):
    eq(sorted(seen), sorted(expected), "%s: regular files" % what)
    for rel in sorted(expected):
        same_bytes(seen[rel], expected[rel], "%s: content of %s" % (what, rel))


def fill_64mib(d, prefix, nfiles=16):
    """nfiles files of 64 MiB / nfiles each, fsync'd; returns {name: sha256}."""
    size = 64 * MiB // nfiles
    out = {}
    for i in range(nfiles):
        b = data((prefix, i), size)
        write_synced(os.path.join(d, "%s-%02d" % (prefix, i)), b)
        out["%s-%02d" % (prefix, i)] = sha_hex(b)
    return out


def wait_until(cond, timeout, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def fork_loop(fn, *args):
    """Run fn(*args) repeatedly in a child until it gets SIGTERM; returns the pid."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            fn(*args)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def stop_child(pid, what):
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    eq(code, 0, "%s: exit status (0 = killed by our SIGTERM while running normally)" % what)


# ------------------------------------------------------------------ tests

@test
def fresh_store_has_dataset_area_inherited_by_subdirectories():
    skip_native()
    with Store() as s:
        root = os.path.join(s.mnt, "datasets")
        eq(os.getxattr(root, "user.aifs.area"), b"dataset", "user.aifs.area of datasets/")
        ds = dataset(s, "a")
        sub = os.path.join(ds, "b", "c")
        os.makedirs(sub)
        for p in (ds, sub):
            eq(os.getxattr(p, "user.aifs.area"), b"dataset", "user.aifs.area of %s" % p)


def _build_tree(ds):
    """A tree with every kind of metadata a snapshot must keep; returns its file contents."""
    files = {
        "empty": b"", "small": b"hello\n", "page": data("page", 4096),
        "sub/mid": data("mid", 300000), "sub/deeper/big": data("big", 3 * MiB + 5),
        "sub/deeper/link-a": data("hard", 777), "secret": data("secret", 100),
        "sub/readonly": b"ro\n",
    }
    os.makedirs(os.path.join(ds, "sub", "deeper"))
    os.mkdir(os.path.join(ds, "emptydir"))
    for rel, b in files.items():
        write_file(os.path.join(ds, rel), b)
    os.link(os.path.join(ds, "sub/deeper/link-a"), os.path.join(ds, "link-b"))
    files["link-b"] = files["sub/deeper/link-a"]
    os.symlink("sub/mid", os.path.join(ds, "sym-rel"))
    os.symlink("/nonexistent/target", os.path.join(ds, "sym-dangling"))
    os.chmod(os.path.join(ds, "secret"), 0o600)
    os.chmod(os.path.join(ds, "sub/readonly"), 0o444)
    os.chmod(os.path.join(ds, "sub/deeper"), 0o750)
    os.chmod(os.path.join(ds, "emptydir"), 0o1777)
    os.chown(os.path.join(ds, "secret"), 1000, 1000)
    os.chown(os.path.join(ds, "sub"), 1001, 1002)
    os.chown(os.path.join(ds, "sym-rel"), 1003, 1004, follow_symlinks=False)
    os.setxattr(os.path.join(ds, "small"), "user.color", b"blue")
    os.setxattr(os.path.join(ds, "small"), "user.bin", bytes(range(256)))
    os.setxattr(os.path.join(ds, "sub"), "user.origin", b"crawl-2024")
    os.setxattr(os.path.join(ds, "sub/deeper/link-a"), "user.label", b"")
    # Times last, deepest first, so creating children does not move them again.
    every = []
    for dirpath, dirnames, filenames in os.walk(ds):
        for n in dirnames + filenames:
            every.append(os.path.relpath(os.path.join(dirpath, n), ds))
    every.sort(key=lambda r: -r.count("/"))
    for i, rel in enumerate(every + ["."]):
        at = 1_600_000_000_000_000_000 + i * 1_000_000_007 + 123_456_789
        mt = 1_500_000_000_000_000_000 + i * 3_000_000_011 + 987_654_321
        os.utime(os.path.join(ds, rel), ns=(at, mt), follow_symlinks=False)
    return files


@test
def snapshot_freezes_tree_exactly():
    skip_native()
    with Store() as s:
        ds = dataset(s, "frozen")
        files = _build_tree(ds)
        before = meta_tree(ds)
        eq(before[1], [["link-b", "sub/deeper/link-a"]], "hard-link groups in the live tree")
        snap = snapshot(ds, "t1")
        eq(os.listdir(snapdir(ds)), ["t1"], "listing of DS/.aifs/snapshots")
        check(".aifs" not in os.listdir(ds), "listing of DS: expected no .aifs entry, saw %s"
              % sorted(os.listdir(ds)))
        same_meta(meta_tree(snap), before, "snapshot just taken (lstat only)")
        same_contents(contents(snap), files, "snapshot just taken")
        # Change everything in the live tree; the snapshot must not move.
        write_file(os.path.join(ds, "small"), b"changed\n")
        with open(os.path.join(ds, "sub/deeper/link-a"), "r+b") as f:
            f.write(b"CHANGED THROUGH A HARD LINK")
        with open(os.path.join(ds, "sub/mid"), "ab") as f:
            f.write(b"appended")
        os.truncate(os.path.join(ds, "sub/deeper/big"), 10)
        os.unlink(os.path.join(ds, "page"))
        os.rename(os.path.join(ds, "secret"), os.path.join(ds, "emptydir/secret"))
        os.chmod(os.path.join(ds, "sub/readonly"), 0o666)
        os.chown(os.path.join(ds, "sub"), 0, 0)
        os.setxattr(os.path.join(ds, "small"), "user.color", b"red")
        os.removexattr(os.path.join(ds, "sub"), "user.origin")
        os.utime(os.path.join(ds, "empty"), ns=(1, 2))
        os.unlink(os.path.join(ds, "sym-rel"))
        os.symlink("elsewhere", os.path.join(ds, "sym-rel"))
        os.mkdir(os.path.join(ds, "newdir"))
        write_file(os.path.join(ds, "newdir/new"), b"new")
        same_meta(meta_tree(snap), before, "snapshot after the live tree changed")
        same_contents(contents(snap), files, "snapshot after the live tree changed")
        eq(read_all(os.path.join(ds, "link-b")), b"CHANGED THROUGH A HARD LINK" + files["link-b"][27:],
           "live link-b after writing through its other name")


@test
def snapshot_is_read_only():
    skip_native()
    with Store() as s:
        ds = dataset(s, "ro")
        os.mkdir(os.path.join(ds, "d"))
        os.mkdir(os.path.join(ds, "d", "inner"))
        write_file(os.path.join(ds, "d", "f"), b"frozen")
        os.setxattr(os.path.join(ds, "d", "f"), "user.k", b"v")
        os.symlink("f", os.path.join(ds, "d", "sl"))
        write_file(os.path.join(ds, "live"), b"live")
        snap = snapshot(ds, "ro1")
        before = meta_tree(snap)
        f = os.path.join(snap, "d", "f")
        d = os.path.join(snap, "d")
        R = errno.EROFS
        attempts = [
            ("open O_WRONLY", lambda: os.open(f, os.O_WRONLY)),
            ("open O_RDWR", lambda: os.open(f, os.O_RDWR)),
            ("open O_WRONLY|O_APPEND", lambda: os.open(f, os.O_WRONLY | os.O_APPEND)),
            ("open O_RDONLY|O_TRUNC", lambda: os.open(f, os.O_RDONLY | os.O_TRUNC)),
            ("open O_CREAT new file", lambda: os.open(os.path.join(d, "new"), os.O_CREAT | os.O_WRONLY, 0o644)),
            ("open O_CREAT in snapshot root", lambda: os.open(os.path.join(snap, "new"),
                                                               os.O_CREAT | os.O_WRONLY, 0o644)),
            ("mkdir", lambda: os.mkdir(os.path.join(d, "newdir"))),
            ("mkfifo", lambda: os.mkfifo(os.path.join(d, "fifo"))),
            ("symlink", lambda: os.symlink("x", os.path.join(d, "newsl"))),
            ("link inside snapshot", lambda: os.link(f, os.path.join(d, "f2"))),
            ("link snapshot file into live tree", lambda: os.link(f, os.path.join(ds, "f3"))),
            ("link live file into snapshot", lambda: os.link(os.path.join(ds, "live"), os.path.join(d, "l"))),
            ("unlink", lambda: os.unlink(f)),
            ("unlink symlink", lambda: os.unlink(os.path.join(d, "sl"))),
            ("rmdir subdirectory", lambda: os.rmdir(os.path.join(d, "inner"))),
            ("rename inside snapshot", lambda: os.rename(f, os.path.join(d, "g"))),
            ("rename directory inside snapshot", lambda: os.rename(os.path.join(d, "inner"),
                                                                    os.path.join(snap, "inner"))),
            ("rename snapshot file to live tree", lambda: os.rename(f, os.path.join(ds, "stolen"))),
            ("rename live file into snapshot", lambda: os.rename(os.path.join(ds, "live"), os.path.join(d, "in"))),
            ("chmod", lambda: os.chmod(f, 0o777)),
            ("chmod directory", lambda: os.chmod(d, 0o700)),
            ("chown", lambda: os.chown(f, 1000, 1000)),
            ("utime", lambda: os.utime(f, ns=(1, 1))),
            ("truncate", lambda: os.truncate(f, 1)),
            ("truncate longer", lambda: os.truncate(f, 100)),
            ("setxattr new", lambda: os.setxattr(f, "user.new", b"x")),
            ("setxattr replace", lambda: os.setxattr(f, "user.k", b"w")),
            ("setxattr on directory", lambda: os.setxattr(d, "user.new", b"x")),
            ("removexattr", lambda: os.removexattr(f, "user.k")),
        ]
        bad = []
        for what, fn in attempts:
            try:
                fd = fn()
                if isinstance(fd, int):
                    os.close(fd)
                bad.append("%s: expected EROFS, saw success" % what)
            except OSError as e:
                if e.errno != R:
                    bad.append("%s: expected EROFS, saw %s" % (what, errno.errorcode.get(e.errno, e.errno)))
        eq(bad, [], "mutating calls inside a snapshot")
        # A write through a read-only descriptor cannot sneak in either.
        fd = os.open(f, os.O_RDONLY)
        try:
            raises(errno.EBADF, os.write, fd, b"x", what="write() on an O_RDONLY descriptor")
        finally:
            os.close(fd)
        same_meta(meta_tree(snap), before, "snapshot after every refused change")
        eq(read_all(f), b"frozen", "content of d/f after the refused changes")
        eq(read_all(os.path.join(ds, "live")), b"live", "live file after refused rename/link")


@test
def snapshot_copies_no_data():
    skip_native()
    with Store() as s:
        ds = dataset(s, "big")
        os.mkdir(os.path.join(ds, "sub"))
        shas = fill_64mib(os.path.join(ds, "sub"), "blk")
        time.sleep(1.0)
        u0 = hot_usage(s)
        check(u0 >= 64 * MiB, "STORE/hot after writing and fsyncing 64 MiB: expected >= %d bytes, saw %d"
              % (64 * MiB, u0))
        snap = snapshot(ds, "nocopy")
        os.sync()
        time.sleep(1.0)
        u1 = hot_usage(s)
        check(u1 - u0 <= 4 * MiB, "STORE/hot growth from snapshotting a 64 MiB tree: expected <= %d bytes, "
              "saw %d (before %d, after %d)" % (4 * MiB, u1 - u0, u0, u1))
        seen = {n: sha_hex(read_all(os.path.join(snap, "sub", n))) for n in sorted(shas)}
        eq(seen, shas, "sha256 of every file read from the snapshot")


def _record_writer(d, nfiles, nrec, start_gen):
    g = start_gen
    fds = [os.open(os.path.join(d, "f%02d" % i), os.O_WRONLY) for i in range(nfiles)]
    while True:
        g += 1
        rec = bytes([g % 255 + 1]) * REC
        for fd in fds:
            for r in range(nrec):
                n = os.pwrite(fd, rec, r * REC)
                if n != REC:
                    raise RuntimeError("short pwrite: %d of %d" % (n, REC))
        with open(os.path.join(d, "..", "gen"), "w") as f:
            f.write(str(g))


@test
def snapshot_never_shows_half_a_write():
    skip_native()
    NF, NREC = 6, 16
    with Store() as s:
        top = dataset(s, "torn")
        ds = os.path.join(top, "ds")
        os.mkdir(ds)
        for i in range(NF):
            write_file(os.path.join(ds, "f%02d" % i), bytes([1]) * (REC * NREC))
        pid = fork_loop(_record_writer, ds, NF, NREC, 0)
        tags = []
        try:
            time.sleep(0.2)
            for k in range(10):
                tags.append("s%02d" % k)
                snapshot(ds, tags[-1])
                time.sleep(0.15)
        finally:
            stop_child(pid, "record writer")
        bad = []
        gens = set()
        for tag in tags:
            for i in range(NF):
                b = read_all(os.path.join(snapdir(ds, tag), "f%02d" % i))
                if len(b) != REC * NREC:
                    bad.append("%s/f%02d: expected %d bytes, saw %d" % (tag, i, REC * NREC, len(b)))
                    continue
                for r in range(NREC):
                    rec = b[r * REC:(r + 1) * REC]
                    if rec.count(rec[0]) != REC:
                        vals = sorted(set(rec))
                        first = next(j for j in range(REC) if rec[j] != rec[0])
                        bad.append("%s/f%02d record %d: expected one byte value, saw %s (0x%02x up to "
                                   "offset %d, then 0x%02x)" % (tag, i, r, ["0x%02x" % v for v in vals[:4]],
                                                                rec[0], first, rec[first]))
                    gens.add(rec[0])
        eq(bad[:5], [], "non-uniform 64 KiB records in snapshots (%d found)" % len(bad))
        check(len(gens) >= 3, "generations seen across the 10 snapshots: expected >= 3 (the writer was "
              "running), saw %s" % sorted(gens))


@test
def snapshot_delete_gives_space_back():
    skip_native()
    with Store() as s:
        ds = dataset(s, "space")
        keep = data("keep", 3 * MiB)
        write_synced(os.path.join(ds, "keep"), keep)
        shas = fill_64mib(ds, "gone")
        snapshot(ds, "s1")
        # s2 is taken after deleting the 64 MiB, so it shares only "keep" with s1.
        for n in shas:
            os.unlink(os.path.join(ds, n))
        s2 = snapshot(ds, "s2")
        eq(sorted(os.listdir(s2)), ["keep"], "names in s2")
        os.sync()
        time.sleep(2.0)
        u0 = hot_usage(s)
        s1 = snapdir(ds, "s1")
        eq({n: sha_hex(read_all(os.path.join(s1, n))) for n in shas}, shas,
           "sha256 of the deleted files, read from s1 before dropping it")
        os.rmdir(s1)
        raises(errno.ENOENT, os.stat, s1, what="stat of dropped snapshot s1")
        raises(errno.ENOENT, os.stat, os.path.join(s1, "gone-00"), what="stat of a file in dropped s1")
        eq(sorted(os.listdir(snapdir(ds))), ["s2"], "tags after rmdir s1")
        shrunk = wait_until(lambda: u0 - hot_usage(s) >= 48 * MiB, 3.0)
        u1 = hot_usage(s)
        check(shrunk, "STORE/hot 3 s after dropping the only snapshot holding 64 MiB: expected to shrink "
              "by >= %d bytes, saw %d (before %d, after %d)" % (48 * MiB, u0 - u1, u0, u1))
        same_bytes(read_all(os.path.join(s2, "keep")), keep, "s2/keep after dropping s1")
        same_bytes(read_all(os.path.join(ds, "keep")), keep, "live keep after dropping s1")


@test
def snapshot_delete_gives_back_hard_linked_files():
    skip_native()
    with Store() as s:
        ds = dataset(s, "links")
        b = data("linked", 32 * MiB)
        write_synced(os.path.join(ds, "a"), b)
        os.link(os.path.join(ds, "a"), os.path.join(ds, "a2"))
        # Nothing looks up l1/a or l1/a2 before the rmdir: the drop must also handle a
        # two-named inode that is not in any cache (snapshot_freezes_tree_exactly checks
        # that both names are one inode).
        snap = snapshot(ds, "l1")
        os.unlink(os.path.join(ds, "a"))
        os.unlink(os.path.join(ds, "a2"))
        os.sync()
        time.sleep(1.0)
        u0 = hot_usage(s)
        os.rmdir(snap)
        shrunk = wait_until(lambda: u0 - hot_usage(s) >= 24 * MiB, 3.0)
        u1 = hot_usage(s)
        check(shrunk, "STORE/hot 3 s after dropping the only snapshot holding a 32 MiB file with two names: "
              "expected to shrink by >= %d bytes, saw %d (before %d, after %d)" % (24 * MiB, u0 - u1, u0, u1))
        s.unmount()
        s.fsck_clean("fsck after dropping a snapshot holding a hard-linked file")
        s.mount()


@test
def snapshot_errors():
    skip_native()
    with Store() as s:
        ds = dataset(s, "err")
        write_file(os.path.join(ds, "f"), b"x")
        cp = os.path.join(s.mnt, "checkpoints", "x")
        os.mkdir(cp)
        raises(errno.EPERM, os.mkdir, os.path.join(cp, ".aifs", "snapshots", "t"),
               what="mkdir checkpoints/x/.aifs/snapshots/t (not a dataset area)")
        snapshot(ds, "t")
        raises(errno.EEXIST, os.mkdir, snapdir(ds, "t"), what="mkdir of existing tag t")
        raises(errno.EINVAL, os.mkdir, snapdir(ds, ".hidden"), what="mkdir of tag .hidden")
        raises(errno.EINVAL, os.mkdir, snapdir(ds, ".x"), what="mkdir of tag .x")
        raises(errno.ENOENT, os.rmdir, snapdir(ds, "nosuch"), what="rmdir of a tag that does not exist")
        eq(sorted(os.listdir(snapdir(ds))), ["t"], "tags after the refused mkdirs")
        eq(os.listdir(snapdir(ds, "t")), ["f"], "content of t after the refused mkdirs")
        rc, out = ctl("snapshot", "create", cp, "t")
        eq(rc, 1, "aifsctl snapshot create on checkpoints/x: exit code (%s)" % out.strip())
        rc, out = ctl("snapshot", "create", ds, "t")
        eq(rc, 1, "aifsctl snapshot create of an existing tag: exit code (%s)" % out.strip())
        rc, out = ctl("snapshot", "create", ds, ".dot")
        eq(rc, 1, "aifsctl snapshot create of tag .dot: exit code (%s)" % out.strip())
        eq(sorted(os.listdir(snapdir(ds))), ["t"], "tags after the refused aifsctl creates")


def _sha_cases(d):
    """Files written in many ways; returns {name: expected content}."""
    exp = {}

    def put(name, content):
        write_file(os.path.join(d, name), content)
        exp[name] = content

    put("empty", b"")
    put("one", b"a")
    # Many in-order writes.
    b = data("seq", 5 * MiB + 17)
    fd = os.open(os.path.join(d, "seq"), os.O_WRONLY | os.O_CREAT, 0o644)
    for off in range(0, len(b), 100000):
        os.write(fd, b[off:off + 100000])
    os.close(fd)
    exp["seq"] = b
    # pwrite at offset 10 after writing the file.
    b = bytearray(data("ooo", 200000))
    write_file(os.path.join(d, "pwrite10"), bytes(b))
    fd = os.open(os.path.join(d, "pwrite10"), os.O_WRONLY)
    os.pwrite(fd, b"OUT-OF-ORDER", 10)
    os.close(fd)
    b[10:22] = b"OUT-OF-ORDER"
    exp["pwrite10"] = bytes(b)
    # Chunks written in reverse order.
    b = data("rev", 16 * 65536)
    fd = os.open(os.path.join(d, "reverse"), os.O_WRONLY | os.O_CREAT, 0o644)
    for k in reversed(range(16)):
        os.pwrite(fd, b[k * 65536:(k + 1) * 65536], k * 65536)
    os.close(fd)
    exp["reverse"] = b
    # A hole: write past the end of an empty file.
    fd = os.open(os.path.join(d, "sparse"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(fd, b"tail", MiB)
    os.close(fd)
    exp["sparse"] = bytes(MiB) + b"tail"
    # Extended and shortened by truncate.
    put("grown", b"x" * 100)
    os.truncate(os.path.join(d, "grown"), 5000)
    exp["grown"] = b"x" * 100 + bytes(4900)
    put("shrunk", data("shr", 70000))
    os.truncate(os.path.join(d, "shrunk"), 1234)
    exp["shrunk"] = exp["shrunk"][:1234]
    # Appended after reopening.
    put("appended", b"first;")
    with open(os.path.join(d, "appended"), "ab") as f:
        f.write(b"second;")
    exp["appended"] = b"first;second;"
    # Replaced with O_TRUNC.
    put("replaced", data("r1", 9000))
    put("replaced", data("r2", 3000))
    return exp


@test
def dataset_sha256_matches_content():
    skip_native()
    with Store() as s:
        ds = dataset(s, "sha")
        exp = _sha_cases(ds)
        seen = {n: xattr_sha(os.path.join(ds, n)) for n in sorted(exp)}
        eq(seen, {n: sha_hex(b) for n, b in sorted(exp.items())}, "user.aifs.sha256 of live files")
        snap = snapshot(ds, "h1")
        # Change the live files after the snapshot; the snapshot keeps the old hashes.
        new = dict(exp)
        for n in ("seq", "pwrite10", "one"):
            fd = os.open(os.path.join(ds, n), os.O_WRONLY)
            os.pwrite(fd, b"ZZ", 0)
            os.close(fd)
            new[n] = b"ZZ" + exp[n][2:]
        seen = {n: xattr_sha(os.path.join(snap, n)) for n in sorted(exp)}
        eq(seen, {n: sha_hex(b) for n, b in sorted(exp.items())}, "user.aifs.sha256 in the snapshot")
        seen = {n: xattr_sha(os.path.join(ds, n)) for n in sorted(new)}
        eq(seen, {n: sha_hex(b) for n, b in sorted(new.items())}, "user.aifs.sha256 of changed live files")
        seen = {n: sha_hex(read_all(os.path.join(snap, n))) for n in sorted(exp)}
        eq(seen, {n: sha_hex(b) for n, b in sorted(exp.items())}, "sha256 of the bytes read from the snapshot")


def _manifest_expected(root):
    lines = []
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            lines.append({"path": os.path.relpath(p, root), "size": st.st_size,
                          "sha256": sha_hex(read_all(p)), "mode": "%04o" % stat.S_IMODE(st.st_mode),
                          "mtime": st.st_mtime_ns // 10**9})
    return sorted(lines, key=lambda e: e["path"].encode())


def _json_lines(out, what):
    try:
        return [json.loads(l) for l in out.splitlines() if l.strip()]
    except ValueError as e:
        raise Fail("%s: expected JSON lines, saw %r (%s)" % (what, out[:300], e))


def _diff_text(out):
    return sorted(tuple(l.split(" ", 1)) for l in out.splitlines() if l.strip())


@test
def aifsctl_snapshot_list_manifest_diff():
    skip_native()
    with Store() as s:
        ds = dataset(s, "ctl")
        os.makedirs(os.path.join(ds, "a", "b"))
        files = {"top": data("top", 1000), "a/one": data("one", 70000), "a/b/two": b"two",
                 "a/b/empty": b"", "same": b"unchanged", "x-mode": b"m"}
        for rel, b in files.items():
            write_file(os.path.join(ds, rel), b)
        os.chmod(os.path.join(ds, "x-mode"), 0o600)
        os.symlink("top", os.path.join(ds, "sym"))           # not a regular file: not in manifests
        t0 = int(time.time())
        ctl_ok("snapshot", "create", ds, "s1")
        t1 = int(time.time()) + 1
        eq(os.listdir(snapdir(ds)), ["s1"], "DS/.aifs/snapshots after aifsctl snapshot create")
        man1 = _manifest_expected(snapdir(ds, "s1"))
        eq([e["path"] for e in man1], sorted(files), "paths expected in manifest of s1")
        seen = _json_lines(ctl_ok("snapshot", "manifest", ds, "s1"), "manifest s1")
        eq(seen, man1, "aifsctl snapshot manifest DS s1")
        eq(_json_lines(ctl_ok("snapshot", "manifest", ds, "live"), "manifest live"), man1,
           "aifsctl snapshot manifest DS live (unchanged tree)")
        # Changes: same-size content change, size change, removal, addition, rename.
        write_file(os.path.join(ds, "top"), data("top2", 1000))
        with open(os.path.join(ds, "a/one"), "ab") as f:
            f.write(b"+")
        os.unlink(os.path.join(ds, "a/b/two"))
        write_file(os.path.join(ds, "a/new"), b"new")
        os.rename(os.path.join(ds, "a/b/empty"), os.path.join(ds, "a/b/empty-renamed"))
        os.mkdir(os.path.join(s.mnt, "datasets", "elsewhere"))
        ctl_ok("snapshot", "create", ds, "s2")
        write_file(os.path.join(ds, "after-s2"), b"late")
        eq(_json_lines(ctl_ok("snapshot", "manifest", ds, "s2"), "manifest s2"),
           _manifest_expected(snapdir(ds, "s2")), "aifsctl snapshot manifest DS s2")
        eq(_json_lines(ctl_ok("snapshot", "manifest", ds, "live"), "manifest live"),
           _manifest_expected(ds), "aifsctl snapshot manifest DS live")
        eq(_json_lines(ctl_ok("snapshot", "manifest", ds, "s1"), "manifest s1 later"), man1,
           "aifsctl snapshot manifest DS s1 after the live tree changed")

        d12 = [("+", "a/b/empty-renamed"), ("+", "a/new"), ("-", "a/b/empty"), ("-", "a/b/two"),
               ("M", "a/one"), ("M", "top")]
        eq(_diff_text(ctl_ok("snapshot", "diff", ds, "s1", "s2")), sorted(d12), "diff DS s1 s2")
        flip = {"+": "-", "-": "+", "M": "M"}
        eq(_diff_text(ctl_ok("snapshot", "diff", ds, "s2", "s1")), sorted((flip[c], p) for c, p in d12),
           "diff DS s2 s1")
        eq(_diff_text(ctl_ok("snapshot", "diff", ds, "s1", "live")), sorted(d12 + [("+", "after-s2")]),
           "diff DS s1 live")
        eq(_diff_text(ctl_ok("snapshot", "diff", ds, "live", "s2")), [("-", "after-s2")], "diff DS live s2")
        eq(_diff_text(ctl_ok("snapshot", "diff", ds, "s1", "s1")), [], "diff DS s1 s1")
        word = {"+": "added", "-": "removed", "M": "changed"}
        out = ctl_ok("snapshot", "diff", "--json", ds, "s1", "s2")
        try:
            js = json.loads(out)
        except ValueError as e:
            raise Fail("diff --json: expected one JSON array, saw %r (%s)" % (out[:300], e))
        eq(sorted(js, key=lambda e: (e.get("path"), e.get("change"))),
           sorted(({"change": word[c], "path": p} for c, p in d12), key=lambda e: (e["path"], e["change"])),
           "diff --json DS s1 s2")
        eq(json.loads(ctl_ok("snapshot", "diff", "--json", ds, "s2", "s2")), [], "diff --json DS s2 s2")

        out = ctl_ok("snapshot", "list", "--json", ds)
        try:
            lst = sorted(json.loads(out), key=lambda e: e.get("tag"))
        except (ValueError, TypeError) as e:
            raise Fail("list --json: expected a JSON array of objects, saw %r (%s)" % (out[:300], e))
        eq([sorted(e) for e in lst], [["bytes", "files", "tag", "time"]] * 2, "keys of list --json entries")
        eq([(e["tag"], e["files"], e["bytes"]) for e in lst],
           [("s1", 6, sum(len(b) for b in files.values())),
            ("s2", 6, sum(len(b) for b in files.values()) + 1 + 3 - 3)],
           "list --json: (tag, files, bytes)")
        for e in lst:
            try:
                when = int(time.mktime(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ"))) - time.timezone
            except (ValueError, TypeError):
                raise Fail("list --json time of %s: expected YYYY-MM-DDTHH:MM:SSZ, saw %r" % (e["tag"], e["time"]))
            check(t0 - 1 <= when <= t1 + 1, "list --json time of %s: expected within [%d, %d], saw %s"
                  % (e["tag"], t0, t1, e["time"]))
        text = ctl_ok("snapshot", "list", ds)
        for tag in ("s1", "s2"):
            check(any(l.split()[:1] == [tag] for l in text.splitlines()),
                  "aifsctl snapshot list: expected a line for %s, saw %r" % (tag, text))

        ctl_ok("snapshot", "delete", ds, "s1")
        raises(errno.ENOENT, os.stat, snapdir(ds, "s1"), what="stat of s1 after aifsctl snapshot delete")
        eq([e["tag"] for e in json.loads(ctl_ok("snapshot", "list", "--json", ds))], ["s2"],
           "tags in list --json after deleting s1")
        eq(json.loads(ctl_ok("snapshot", "list", "--json", os.path.join(s.mnt, "datasets", "elsewhere"))),
           [], "list --json of a dataset directory without snapshots")

        # Exit codes: 1 failure, 2 usage.
        wrong = []
        for args, code in [
                (["snapshot", "delete", ds, "s1"], 1),
                (["snapshot", "manifest", ds, "nosuch"], 1),
                (["snapshot", "diff", ds, "s2", "nosuch"], 1),
                (["snapshot", "create", os.path.join(s.mnt, "checkpoints"), "t"], 1),
                (["snapshot"], 2),
                (["snapshot", "create", ds], 2),
                (["snapshot", "create", ds, "a", "b"], 2),
                (["snapshot", "bogus", ds, "t"], 2),
                (["snapshot", "diff", ds, "s2"], 2),
                (["snapshot", "manifest", ds], 2)]:
            rc, out = ctl(*args)
            if rc != code:
                wrong.append("aifsctl %s: expected exit %d, saw %d (output %r)" % (
                    " ".join(args), code, rc, out.strip()[:120]))
        eq(wrong, [], "exit codes")
        eq([e["tag"] for e in json.loads(ctl_ok("snapshot", "list", "--json", ds))], ["s2"],
           "tags in list --json after the failing commands")


@test
def snapshots_survive_remount_and_fsck_clean():
    skip_native()
    with Store() as s:
        ds = dataset(s, "persist")
        files = _build_tree(ds)
        before = meta_tree(ds)
        snap1 = snapshot(ds, "p1")
        snap2 = snapshot(ds, "p2")
        write_file(os.path.join(ds, "small"), b"after p2")
        os.unlink(os.path.join(ds, "sub/mid"))
        same_contents(contents(snap1), files, "p1 before remount")
        same_meta(meta_tree(snap2), before, "p2 before remount")
        snapshot(ds, "p3")
        os.rmdir(snapdir(ds, "p3"))
        s.unmount()
        s.fsck_clean("fsck after creating, reading and deleting snapshots")
        s.mount()
        eq(sorted(os.listdir(snapdir(ds))), ["p1", "p2"], "tags after remount")
        same_meta(meta_tree(snap2), before, "p2 after remount (lstat only)")
        same_contents(contents(snap2), files, "p2 after remount")
        eq(read_all(os.path.join(ds, "small")), b"after p2", "live small after remount")
        eq(xattr_sha(os.path.join(snap2, "small")), sha_hex(files["small"]), "sha256 of p2/small after remount")
        raises(errno.EROFS, os.open, os.path.join(snap2, "small"), os.O_WRONLY,
               what="open O_WRONLY in p2 after remount")
        os.rmdir(snap1)
        snapshot(ds, "p4")
        s.unmount()
        s.fsck_clean("fsck after deleting p1 and creating p4 on the remounted store")
        s.mount()
        eq(sorted(os.listdir(snapdir(ds))), ["p2", "p4"], "tags after second remount")
        same_contents(contents(snap2), files, "p2 after second remount")
        os.rmdir(snap2)
        os.rmdir(snapdir(ds, "p4"))
        s.unmount()
        s.fsck_clean("fsck after deleting every snapshot")
        s.mount()
        eq(os.listdir(snapdir(ds)), [], "tags after deleting all and remounting")


# ------------------------------------------------------------------ PyTorch

def _sample(i, gen=0):
    return data(("sample", i, gen), 200 + (i * 37) % 3800)


def _live_churn(ds, n):
    """Rewrite, delete, recreate and add files in the live tree, forever."""
    gen = 0
    while True:
        gen += 1
        for i in range(0, n, 3):
            p = os.path.join(ds, "d%02d" % (i % 10), "s%04d.bin" % i)
            if (i + gen) % 4 == 0:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
            else:
                write_file(p, _sample(i, gen))
        write_file(os.path.join(ds, "extra-%d" % gen), b"extra")


def _loader(paths, workers=2, batch=16):
    import torch.utils.data as tud

    class Files(tud.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with open(paths[i], "rb") as f:
                return i, f.read()

    def collate(b):
        return [x[0] for x in b], [x[1] for x in b]

    return tud.DataLoader(Files(), batch_size=batch, num_workers=workers, shuffle=True, collate_fn=collate)


@test
def dataloader_reads_snapshot_while_live_changes():
    skip_native()
    import torch   # noqa: F401  (fail here, not inside a worker, if torch is missing)
    N = 500
    with Store() as s:
        ds = dataset(s, "samples")
        rels = []
        for k in range(10):
            os.mkdir(os.path.join(ds, "d%02d" % k))
        for i in range(N):
            rel = os.path.join("d%02d" % (i % 10), "s%04d.bin" % i)
            write_file(os.path.join(ds, rel), _sample(i))
            rels.append(rel)
        snap = snapshot(ds, "train")
        expect = _manifest_expected(snap)
        eq(len(expect), N, "files in the snapshot manifest")
        want = {e["path"]: e["sha256"] for e in expect}
        eq(want, {r: sha_hex(_sample(i)) for i, r in enumerate(rels)}, "snapshot manifest vs written samples")
        paths = [os.path.join(snap, r) for r in rels]
        pid = fork_loop(_live_churn, ds, N)
        try:
            time.sleep(0.3)
            for epoch in range(2):
                seen = {}
                for idx, blobs in _loader(paths):
                    for i, b in zip(idx, blobs):
                        check(i not in seen, "epoch %d: sample %d delivered twice" % (epoch, i))
                        seen[i] = b
                eq(sorted(seen), list(range(N)), "epoch %d: sample indices delivered" % epoch)
                bad = [rels[i] for i in range(N) if sha_hex(seen[i]) != want[rels[i]]]
                eq(bad[:5], [], "epoch %d: samples whose bytes differ from the snapshot manifest (%d)"
                   % (epoch, len(bad)))
        finally:
            stop_child(pid, "live churn writer")
        changed = sum(1 for i, r in enumerate(rels)
                      if not os.path.exists(os.path.join(ds, r)) or read_all(os.path.join(ds, r)) != _sample(i))
        check(changed > 0, "live tree after the churn: expected changed files, saw none changed")
        eq(_json_lines(ctl_ok("snapshot", "manifest", ds, "train"), "manifest train"), expect,
           "aifsctl manifest of the snapshot after the epochs")


# ------------------------------------------------------------------ what a snapshot holds
#
# The tests below hold any way of storing snapshots to what a user sees: each records the
# tree (meta_tree, contents, user.aifs.sha256) at the moment of the snapshot and compares
# the snapshot with it after the live tree changed, with the kernel's caches dropped first
# so that the daemon, not the page or dentry cache, answers.

def _frozen(root):
    """What a snapshot of root must show: (meta_tree, contents, {file: sha256})."""
    c = contents(root)                  # read first: reading may move atimes
    return meta_tree(root), c, {rel: sha_hex(b) for rel, b in c.items()}


def same_frozen(snap, expected, what):
    """Compare snapshot snap with a _frozen() record, after dropping the kernel's caches."""
    drop_caches()
    meta, files, shas = expected
    same_meta(meta_tree(snap), meta, what + " (lstat)")
    same_contents(contents(snap), files, what)
    eq({rel: xattr_sha(os.path.join(snap, rel)) for rel in sorted(files)}, shas,
       "%s: user.aifs.sha256 of every file" % what)
    same_meta(meta_tree(snap), meta, what + " (lstat after reading every file)")


def _write_pieces(path, pieces):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for p in pieces:
            eq(os.write(fd, p), len(p), "write() of a piece of %s" % path)
    finally:
        os.close(fd)
    return b"".join(pieces)


def _pwrite_file(path, offset, b):
    fd = os.open(path, os.O_WRONLY)
    try:
        eq(os.pwrite(fd, b, offset), len(b), "pwrite() of %d bytes at %d in %s" % (len(b), offset, path))
    finally:
        os.close(fd)


@test
def snapshot_hides_every_kind_of_later_change():
    skip_native()
    with Store() as s:
        plain = s.work("plain")
        ds = dataset(s, "every")
        P = lambda rel: os.path.join(ds, rel)   # noqa: E731
        big = _write_pieces(P("big"), [data(("big", k), MiB) for k in range(8)])
        for rel, n in [("append", 5000), ("shorter", 300000), ("longer", 70000), ("zeroed", 2 * MiB),
                       ("unlinked", 1000), ("renamed", 2000), ("moved-out", 3000), ("attrs", 4444),
                       ("xa", 10), ("solo", 600), ("pair", 700), ("tiny-rewritten", 100),
                       ("tiny-pwritten", 3000), ("tiny-grown", 4000), ("became-dir", 500)]:
            write_file(P(rel), data(rel, n))
        write_file(P("tiny-empty"), b"")
        os.link(P("pair"), P("pair-2"))
        os.makedirs(P("sub/deeper"))
        write_file(P("sub/keep"), b"keep")
        os.mkdir(P("gone-dir"))
        os.mkdir(P("was-dir"))
        write_file(P("was-dir/inside"), b"inside")
        os.symlink("big", P("sym"))
        os.chmod(P("attrs"), 0o640)
        os.chown(P("attrs"), 1000, 1001)
        os.utime(P("attrs"), ns=(1_400_000_000_123_456_789, 1_300_000_000_987_654_321))
        os.setxattr(P("xa"), "user.keep", b"kept")
        os.setxattr(P("xa"), "user.drop", bytes(range(200)))
        os.setxattr(P("sub"), "user.dir", b"on a directory")
        write_file(os.path.join(plain, "moved-in"), b"from outside")
        want = _frozen(ds)
        eq(want[0][0]["solo"]["nlink"], 1, "nlink of solo in the live tree")
        eq(want[0][1], [["pair", "pair-2"]], "names sharing one inode in the live tree")
        snap = snapshot(ds, "s")
        same_frozen(snap, want, "snapshot just taken")

        # Every kind of change to the live tree.
        _pwrite_file(P("big"), 0, data("ow0", 4 * KiB))
        _pwrite_file(P("big"), 3 * MiB + 100, data("ow1", 4 * KiB))
        _pwrite_file(P("big"), 8 * MiB - 1, data("ow2", 4 * KiB))
        with open(P("append"), "ab") as f:
            f.write(data("more", 123456))
        os.truncate(P("shorter"), 1000)
        os.truncate(P("longer"), 5 * MiB)
        os.truncate(P("zeroed"), 0)
        os.unlink(P("unlinked"))
        os.rename(P("renamed"), P("sub/deeper/renamed-here"))
        os.rename(P("moved-out"), os.path.join(plain, "moved-out"))
        os.rename(os.path.join(plain, "moved-in"), P("moved-in"))
        os.mkdir(P("newdir"))
        write_file(P("newdir/f"), b"new")
        os.rmdir(P("gone-dir"))
        os.chmod(P("attrs"), 0o604)
        os.chown(P("attrs"), 2000, 2001)
        os.utime(P("attrs"), ns=(5, 6))
        os.chmod(P("sub"), 0o700)
        os.chown(P("sub"), 3000, 3001)
        os.setxattr(P("xa"), "user.keep", b"overwritten")
        os.setxattr(P("xa"), "user.new", b"new")
        os.removexattr(P("xa"), "user.drop")
        os.removexattr(P("sub"), "user.dir")
        os.symlink("attrs", P("sym-new"))
        os.unlink(P("sym"))
        os.symlink("a/much/longer/target/than/before", P("sym"))
        os.link(P("solo"), P("solo-2"))
        os.unlink(P("pair-2"))
        write_file(P("tiny-rewritten"), b"short")
        _pwrite_file(P("tiny-pwritten"), 1500, b"MIDDLE")
        with open(P("tiny-grown"), "ab") as f:
            f.write(data("grow", 300))
        write_file(P("tiny-empty"), b"no longer empty")
        os.unlink(P("became-dir"))
        os.mkdir(P("became-dir"))
        write_file(P("became-dir/child"), b"child")
        os.unlink(P("was-dir/inside"))
        os.rmdir(P("was-dir"))
        write_file(P("was-dir"), b"now a file")

        # The live tree did change (else the test below proves nothing).
        (live_meta, _), live_files, _ = _frozen(ds)
        changed = [rel for rel in sorted(set(want[0][0]) | set(live_meta))
                   if rel != "." and (want[0][0].get(rel) != live_meta.get(rel)
                                      or want[1].get(rel) != live_files.get(rel))]
        eq(changed, sorted([
            "append", "attrs", "became-dir", "became-dir/child", "big", "gone-dir", "longer", "moved-in",
            "moved-out", "newdir", "newdir/f", "pair", "pair-2", "renamed", "shorter", "solo", "solo-2",
            "sub", "sub/deeper", "sub/deeper/renamed-here", "sym", "sym-new", "tiny-empty", "tiny-grown",
            "tiny-pwritten", "tiny-rewritten", "unlinked", "was-dir", "was-dir/inside", "xa", "zeroed"]),
           "names whose metadata or content differ between the live tree before and after the changes")
        eq(read_all(os.path.join(plain, "moved-out")), want[1]["moved-out"], "moved-out in the plain directory")
        same_frozen(snap, want, "snapshot after every kind of change")
        s.remount()
        same_frozen(snap, want, "snapshot after the changes and a remount")


def _interleaved(ds):
    """Snapshots s1, s2, s3 of ds with changes before each and after s3, plus n2, a snapshot
    of the nested directory ds/d taken with s2; returns {snapshot dir: _frozen record}."""
    P = lambda rel: os.path.join(ds, rel)   # noqa: E731
    os.mkdir(P("d"))
    write_file(P("every"), data("every1", 200 * KiB))
    write_file(P("d/every"), data("devery1", 700))
    write_file(P("once"), data("once1", 50 * KiB))
    write_file(P("reborn"), data("reborn1", 1000))
    write_file(P("stable"), data("stable", 3 * MiB))
    os.setxattr(P("every"), "user.gen", b"1")
    w1 = _frozen(ds)
    out = {snapshot(ds, "s1"): w1}

    _pwrite_file(P("every"), 100 * KiB, data("every2", 150 * KiB))     # grows to 250 KiB
    os.setxattr(P("every"), "user.gen", b"2")
    write_file(P("d/every"), data("devery2", 900))
    write_file(P("once"), data("once2", 40 * KiB))
    write_file(P("transient"), data("transient", 9000))
    os.unlink(P("reborn"))
    write_file(P("reborn"), data("reborn2", 1500), mode=0o600)
    w2 = _frozen(ds)
    n2w = _frozen(P("d"))
    out[snapshot(ds, "s2")] = w2
    out[snapshot(P("d"), "n2")] = n2w

    os.truncate(P("every"), 10 * KiB)
    with open(P("every"), "ab") as f:
        f.write(data("every3", 1 * MiB + 7))
    os.removexattr(P("every"), "user.gen")
    _pwrite_file(P("d/every"), 3, b"three")
    os.unlink(P("transient"))
    write_file(P("late"), data("late1", 100))
    w3 = _frozen(ds)
    out[snapshot(ds, "s3")] = w3

    write_file(P("every"), data("every4", 64 * KiB))
    os.chmod(P("every"), 0o600)
    write_file(P("d/every"), b"")
    os.unlink(P("reborn"))
    write_file(P("late"), data("late2", 5000))
    return out


def _check_all(snaps, what):
    for snap, want in sorted(snaps.items()):
        same_frozen(snap, want, "%s %s" % (os.path.basename(snap), what))


@test
def interleaved_snapshots_each_show_their_own_state():
    skip_native()
    with Store() as s:
        ds = dataset(s, "inter")
        snaps = _interleaved(ds)
        eq(sorted(os.listdir(snapdir(ds))), ["s1", "s2", "s3"], "tags of the dataset")
        eq(os.listdir(snapdir(os.path.join(ds, "d"))), ["n2"], "tags of the nested directory d")
        # The states differ where they should, so that showing one for another fails.
        shas = {os.path.basename(p): w[2] for p, w in snaps.items()}
        eq(sorted(shas["s1"]), ["d/every", "every", "once", "reborn", "stable"], "files of s1")
        eq(sorted(shas["s2"]), ["d/every", "every", "once", "reborn", "stable", "transient"], "files of s2")
        eq(sorted(shas["s3"]), ["d/every", "every", "late", "once", "reborn", "stable"], "files of s3")
        for rel in ("every", "d/every"):
            eq(len({shas[t][rel] for t in ("s1", "s2", "s3")}), 3, "distinct contents of %s in s1, s2, s3" % rel)
        eq(shas["s2"]["once"], shas["s3"]["once"], "once in s2 and s3")
        check(shas["s1"]["once"] != shas["s2"]["once"], "once: expected s1 and s2 to differ")
        eq(shas["n2"], {"every": shas["s2"]["d/every"]}, "n2 (snapshot of d with s2)")
        eq(read_all(os.path.join(snapdir(ds, "s1"), "reborn")), data("reborn1", 1000), "reborn in s1")
        eq(read_all(os.path.join(snapdir(ds, "s2"), "reborn")), data("reborn2", 1500), "reborn in s2")
        eq(os.getxattr(os.path.join(snapdir(ds, "s1"), "every"), "user.gen"), b"1", "user.gen of every in s1")
        raises(errno.ENODATA, os.getxattr, os.path.join(snapdir(ds, "s3"), "every"), "user.gen",
               what="getxattr user.gen of every in s3")
        _check_all(snaps, "after the changes that followed s3")
        eq(read_all(os.path.join(ds, "every")), data("every4", 64 * KiB), "live every")
        check(not os.path.exists(os.path.join(ds, "reborn")), "live reborn: expected absent")


@test
def deleting_snapshots_out_of_order_keeps_the_others_exact():
    skip_native()
    with Store() as s:
        ds = dataset(s, "order")
        snaps = _interleaved(ds)
        live = contents(ds)
        s1, s2, s3 = (snapdir(ds, t) for t in ("s1", "s2", "s3"))
        os.rmdir(s2)
        del snaps[s2]
        eq(sorted(os.listdir(snapdir(ds))), ["s1", "s3"], "tags after rmdir s2")
        raises(errno.ENOENT, os.stat, os.path.join(s2, "every"), what="stat of every in dropped s2")
        _check_all(snaps, "after dropping s2")
        ctl_ok("snapshot", "delete", ds, "s1")
        del snaps[s1]
        eq(sorted(os.listdir(snapdir(ds))), ["s3"], "tags after aifsctl snapshot delete s1")
        _check_all(snaps, "after dropping s2 then s1")
        same_contents(contents(ds), live, "live tree after dropping s2 and s1")
        s.remount()
        eq(sorted(os.listdir(snapdir(ds))), ["s3"], "tags after remount")
        _check_all(snaps, "after dropping s2, s1 and a remount")
        same_contents(contents(ds), live, "live tree after the remount")
        s.unmount()
        s.fsck_clean("fsck after dropping the middle snapshot, then the first")
        s.mount()
        _check_all(snaps, "after fsck and a second remount")
        os.rmdir(s3)
        os.rmdir(snapdir(os.path.join(ds, "d"), "n2"))
        same_contents(contents(ds), live, "live tree after dropping every snapshot")
        s.unmount()
        s.fsck_clean("fsck after dropping every snapshot")
        s.mount()
        eq(os.listdir(snapdir(ds)), [], "tags after dropping every snapshot and remounting")
        same_contents(contents(ds), live, "live tree after dropping every snapshot and remounting")


@test
def snapshot_keeps_overwritten_bytes_and_gives_them_back_when_dropped():
    skip_native()
    with Store() as s:
        ds = dataset(s, "rewrite")
        old = fill_64mib(ds, "f")                       # 16 files of 4 MiB
        names = sorted(old)
        snap = snapshot(ds, "before")
        # Overwrite every byte of half the files in place, and delete the other half.
        new = {}
        for n in names[:8]:
            b = data(("new", n), 4 * MiB)
            fd = os.open(os.path.join(ds, n), os.O_WRONLY)
            try:
                for off in range(0, len(b), MiB):
                    eq(os.pwrite(fd, b[off:off + MiB], off), MiB, "pwrite of 1 MiB into %s" % n)
                os.fsync(fd)
            finally:
                os.close(fd)
            new[n] = sha_hex(b)
        for n in names[8:]:
            os.unlink(os.path.join(ds, n))
        drop_caches()
        eq({n: sha_hex(read_all(os.path.join(snap, n))) for n in names}, old,
           "sha256 of every file read from the snapshot after the live tree was overwritten and deleted")
        eq({n: xattr_sha(os.path.join(snap, n)) for n in names}, old, "user.aifs.sha256 in the snapshot")
        eq({n: sha_hex(read_all(os.path.join(ds, n))) for n in sorted(os.listdir(ds))}, new,
           "sha256 of the live files")
        live = 32 * MiB
        os.sync()
        time.sleep(2.0)
        u0 = hot_usage(s)
        check(u0 >= live + 64 * MiB, "STORE/hot holding the snapshot's 64 MiB and 32 MiB of new live data: "
              "expected >= %d bytes, saw %d" % (live + 64 * MiB, u0))
        os.rmdir(snap)
        shrunk = wait_until(lambda: u0 - hot_usage(s) >= 48 * MiB, 3.0)
        u1 = hot_usage(s)
        check(shrunk, "STORE/hot 3 s after dropping the only snapshot holding 64 MiB of overwritten and deleted "
              "data: expected to shrink by >= %d bytes, saw %d (before %d, after %d)"
              % (48 * MiB, u0 - u1, u0, u1))
        check(u1 <= live + 16 * MiB, "STORE/hot after the drop: expected about the %d bytes of live data "
              "(<= %d), saw %d" % (live, live + 16 * MiB, u1))
        eq({n: sha_hex(read_all(os.path.join(ds, n))) for n in sorted(os.listdir(ds))}, new,
           "sha256 of the live files after the drop")


@test
def snapshot_shows_completed_writes_of_files_still_open():
    """aifs.7: a file open for writing is caught between two writes; its completed write()
    calls are in the snapshot although nothing was fsync'ed or closed."""
    skip_native()
    with Store() as s:
        ds = dataset(s, "open")
        P = lambda rel: os.path.join(ds, rel)   # noqa: E731
        base = data("existing", 2 * MiB)
        write_synced(P("existing"), base)
        write_synced(P("appended"), b"head;")
        write_synced(P("truncated"), data("old", 100 * KiB))
        flags = os.O_WRONLY | os.O_CREAT
        fds = {"new": os.open(P("new"), flags, 0o644),
               "existing": os.open(P("existing"), os.O_WRONLY),
               "appended": os.open(P("appended"), os.O_WRONLY | os.O_APPEND),
               "truncated": os.open(P("truncated"), os.O_WRONLY | os.O_TRUNC),
               "created-empty": os.open(P("created-empty"), flags, 0o644)}
        try:
            want = {}
            pieces = [data("n1", MiB + 3), data("n2", 300 * KiB), b"ten bytes!"]
            for p in pieces:
                eq(os.write(fds["new"], p), len(p), "write() to new")
            want["new"] = b"".join(pieces)
            patch = data("patch", 4 * KiB)
            eq(os.pwrite(fds["existing"], patch, MiB + 5), len(patch), "pwrite() to existing")
            want["existing"] = base[:MiB + 5] + patch + base[MiB + 5 + len(patch):]
            eq(os.write(fds["appended"], b"tail;"), 5, "write() to appended")
            want["appended"] = b"head;tail;"
            eq(os.write(fds["truncated"], b"fresh"), 5, "write() to truncated")
            want["truncated"] = b"fresh"
            want["created-empty"] = b""
            # Nothing reads the live files before the snapshot: a read could push the
            # gathered writes out and spare the snapshot the work.
            snap = snapshot(ds, "mid")
            # Writes after the snapshot, then the close: none of it may reach the snapshot.
            os.write(fds["new"], b"after the snapshot")
            os.pwrite(fds["existing"], b"X" * 8192, 0)
            os.write(fds["appended"], b"later;")
            os.write(fds["truncated"], data("late", 2 * MiB))
            os.write(fds["created-empty"], b"late")
        finally:
            for fd in fds.values():
                os.close(fd)
        drop_caches()
        same_contents(contents(snap), want, "snapshot taken while the files were open")
        eq({n: os.lstat(os.path.join(snap, n)).st_size for n in sorted(want)},
           {n: len(b) for n, b in sorted(want.items())}, "st_size in the snapshot")
        eq({n: xattr_sha(os.path.join(snap, n)) for n in sorted(want)},
           {n: sha_hex(b) for n, b in sorted(want.items())}, "user.aifs.sha256 in the snapshot")
        same_contents(contents(ds), {
            "new": want["new"] + b"after the snapshot", "existing": b"X" * 8192 + want["existing"][8192:],
            "appended": b"head;tail;later;", "truncated": b"fresh" + data("late", 2 * MiB),
            "created-empty": b"late"}, "live tree after the close")
        s.remount()
        same_contents(contents(snap), want, "snapshot taken while the files were open, after a remount")
        eq({n: xattr_sha(os.path.join(snap, n)) for n in sorted(want)},
           {n: sha_hex(b) for n, b in sorted(want.items())}, "user.aifs.sha256 in the snapshot after a remount")


@test
def snapshot_of_empty_dataset_stays_empty():
    skip_native()
    with Store() as s:
        ds = dataset(s, "empty")
        want = _frozen(ds)
        eq(sorted(want[0][0]), ["."], "entries of the empty dataset")
        snap = snapshot(ds, "nothing")
        eq(os.listdir(snap), [], "listing of the snapshot of an empty dataset")
        os.mkdir(os.path.join(ds, "d"))
        write_file(os.path.join(ds, "d", "f"), b"f")
        write_file(os.path.join(ds, "g"), data("g", 100 * KiB))
        os.symlink("g", os.path.join(ds, "l"))
        os.chmod(ds, 0o711)
        same_frozen(snap, want, "snapshot of the empty dataset after files were added")
        eq(os.listdir(snap), [], "listing of the snapshot after files were added")
        s.remount()
        same_frozen(snap, want, "snapshot of the empty dataset after a remount")


@test
def snapshot_of_5000_files_survives_rewriting_every_file():
    skip_native()
    with Store() as s:
        ds = dataset(s, "many")
        rels = []
        for k in range(50):
            os.mkdir(os.path.join(ds, "d%02d" % k))
            for i in range(100):
                rel = "d%02d/f%03d" % (k, i)
                n = k * 100 + i
                write_file(os.path.join(ds, rel), data(("many", n), (n * 97) % 6000))
                rels.append(rel)
        want = _frozen(ds)
        eq(len(want[1]), 5000, "files in the live tree")
        snap = snapshot(ds, "s5000")
        for n, rel in enumerate(rels):
            p = os.path.join(ds, rel)
            if n % 10 == 0:
                os.unlink(p)
            elif n % 10 == 1:
                os.chmod(p, 0o600)
            else:
                write_file(p, data(("changed", n), (n * 53) % 7000 + 1))
        write_file(os.path.join(ds, "d00", "extra"), b"extra")
        drop_caches()
        walked = sorted((os.path.relpath(dp, snap), sorted(dn), sorted(fn)) for dp, dn, fn in os.walk(snap))
        eq(walked, sorted([(".", ["d%02d" % k for k in range(50)], [])] +
                          [("d%02d" % k, [], ["f%03d" % i for i in range(100)]) for k in range(50)]),
           "os.walk of the snapshot after every live file changed")
        same_frozen(snap, want, "snapshot of 5000 files after every live file changed")


@test
def snapshot_refuses_changes_through_descriptors_renames_and_deeper_names():
    """The routes snapshot_is_read_only does not take: calls on descriptors opened read-only,
    renames that replace or exchange, renames of the snapshot itself, names below its top."""
    skip_native()
    with Store() as s:
        plain = s.work("plain")
        ds = dataset(s, "ro2")
        os.makedirs(os.path.join(ds, "d", "e"))
        os.mkdir(os.path.join(ds, "d", "empty"))
        write_file(os.path.join(ds, "d", "e", "f"), b"deep")
        write_file(os.path.join(ds, "top"), b"top")
        os.setxattr(os.path.join(ds, "top"), "user.k", b"v")
        os.symlink("top", os.path.join(ds, "sl"))
        write_file(os.path.join(ds, "live"), b"live")
        os.mkdir(os.path.join(ds, "livedir"))
        write_file(os.path.join(plain, "pf"), b"plain")
        want = _frozen(ds)
        snap = snapshot(ds, "r")
        S = lambda rel: os.path.join(snap, rel)   # noqa: E731
        live_before = _frozen(ds)
        fd = os.open(S("top"), os.O_RDONLY)
        dfd = os.open(S("d"), os.O_RDONLY | os.O_DIRECTORY)
        R = errno.EROFS
        attempts = [
            ("fchmod on a read-only descriptor", R, lambda: os.fchmod(fd, 0o600)),
            ("fchown on a read-only descriptor", R, lambda: os.fchown(fd, 1, 1)),
            ("fsetxattr on a read-only descriptor", R, lambda: os.setxattr(fd, "user.n", b"1")),
            ("fremovexattr on a read-only descriptor", R, lambda: os.removexattr(fd, "user.k")),
            ("futimens on a read-only descriptor", R, lambda: os.utime(fd, ns=(1, 1))),
            ("fchmod on a directory descriptor", R, lambda: os.fchmod(dfd, 0o700)),
            ("utime to now", R, lambda: os.utime(S("top"))),
            ("lchown of a symlink", R, lambda: os.chown(S("sl"), 1, 1, follow_symlinks=False)),
            ("lutimes of a symlink", R, lambda: os.utime(S("sl"), ns=(1, 1), follow_symlinks=False)),
            ("open O_WRONLY|O_CREAT of an existing file", R,
             lambda: os.open(S("top"), os.O_WRONLY | os.O_CREAT, 0o644)),
            ("open O_RDWR|O_TRUNC", R, lambda: os.open(S("top"), os.O_RDWR | os.O_TRUNC)),
            ("open O_WRONLY two levels down", R, lambda: os.open(S("d/e/f"), os.O_WRONLY)),
            ("truncate two levels down", R, lambda: os.truncate(S("d/e/f"), 0)),
            ("chmod two levels down", R, lambda: os.chmod(S("d/e/f"), 0o777)),
            ("setxattr two levels down", R, lambda: os.setxattr(S("d/e/f"), "user.n", b"1")),
            ("setxattr user.aifs.sha256", R, lambda: os.setxattr(S("top"), "user.aifs.sha256", b"0" * 64)),
            ("unlink two levels down", R, lambda: os.unlink(S("d/e/f"))),
            ("rmdir of a non-empty directory", R, lambda: os.rmdir(S("d/e"))),
            ("rmdir of an empty directory two levels down", R, lambda: os.rmdir(S("d/empty"))),
            ("mkdir two levels down", R, lambda: os.mkdir(S("d/e/new"))),
            ("mknod of a regular file", R, lambda: os.mknod(S("d/node"), stat.S_IFREG | 0o644)),
            ("rename live file over a snapshot file", R, lambda: os.rename(os.path.join(ds, "live"), S("top"))),
            ("RENAME_EXCHANGE of live and snapshot files", R,
             lambda: renameat2(os.path.join(ds, "live"), S("top"), RENAME_EXCHANGE)),
            ("RENAME_NOREPLACE inside the snapshot", R,
             lambda: renameat2(S("top"), S("d/top"), RENAME_NOREPLACE)),
            ("rename snapshot directory to the live tree", R, lambda: os.rename(S("d"), os.path.join(ds, "d2"))),
            ("rename snapshot directory to a plain directory", R,
             lambda: os.rename(S("d"), os.path.join(plain, "d2"))),
            ("rename snapshot file to a plain directory", R,
             lambda: os.rename(S("d/e/f"), os.path.join(plain, "f"))),
            ("rename plain file into the snapshot", R, lambda: os.rename(os.path.join(plain, "pf"), S("d/pf"))),
            ("rename live directory into the snapshot", R,
             lambda: os.rename(os.path.join(ds, "livedir"), S("ld"))),
            ("rename live directory over an empty snapshot directory", R,
             lambda: os.rename(os.path.join(ds, "livedir"), S("d/empty"))),
            ("rename of the snapshot to another tag", R, lambda: os.rename(snap, snapdir(ds, "r2"))),
            ("rename of the snapshot into the live tree", R, lambda: os.rename(snap, os.path.join(ds, "r"))),
            ("link snapshot file into a plain directory", R,
             lambda: os.link(S("d/e/f"), os.path.join(plain, "f"))),
            ("link plain file into the snapshot", R, lambda: os.link(os.path.join(plain, "pf"), S("d/e/pf"))),
            ("create a file among the tags", R,
             lambda: os.open(snapdir(ds, "file"), os.O_CREAT | os.O_WRONLY, 0o644)),
            ("symlink among the tags", R, lambda: os.symlink("r", snapdir(ds, "alias"))),
        ]
        bad = []
        try:
            for what, err, fn in attempts:
                try:
                    r = fn()
                    if isinstance(r, int):
                        os.close(r)
                    bad.append("%s: expected %s, saw success" % (what, errno.errorcode[err]))
                except OSError as e:
                    if e.errno != err:
                        bad.append("%s: expected %s, saw %s" % (what, errno.errorcode[err],
                                                                errno.errorcode.get(e.errno, e.errno)))
        finally:
            os.close(fd)
            os.close(dfd)
        eq(bad, [], "mutating calls on a snapshot")
        eq(sorted(os.listdir(snapdir(ds))), ["r"], "tags after the refused changes")
        eq(os.listdir(plain), ["pf"], "plain directory after the refused changes")
        same_frozen(snap, want, "snapshot after the refused changes")
        same_frozen(ds, live_before, "live tree after the refused changes")


def _inos(root):
    """{relative path: st_ino} of root and everything under it (lstat)."""
    out = {".": os.lstat(root).st_ino}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = os.lstat(p).st_ino
    return out


@test
def snapshot_inode_numbers_are_stable_distinct_and_shared_by_hard_links():
    skip_native()
    with Store() as s:
        ds = dataset(s, "inos")
        P = lambda rel: os.path.join(ds, rel)   # noqa: E731
        os.makedirs(P("d/e"))
        for rel, n in [("a", 10), ("b", 0), ("big", 3 * MiB), ("d/c", 5000), ("d/e/h1", 100), ("solo", 1)]:
            write_file(P(rel), data(rel, n))
        os.link(P("d/e/h1"), P("h2"))
        os.link(P("d/e/h1"), P("d/h3"))
        os.symlink("a", P("sl"))
        s1 = snapshot(ds, "s1")
        s2 = snapshot(ds, "s2")
        live = _inos(ds)
        i1, i2 = _inos(s1), _inos(s2)
        links = {"d/e/h1", "h2", "d/h3"}
        eq(sorted(i1), sorted(live), "names in s1")
        eq(os.lstat(s1).st_dev, os.lstat(ds).st_dev, "st_dev of s1 and of the live dataset (one mount)")
        for name, inos in (("s1", i1), ("s2", i2)):
            eq(len({inos[r] for r in links}), 1, "st_ino of the three names of one hard-linked file in %s" % name)
            eq(os.lstat(os.path.join(snapdir(ds, name), "h2")).st_nlink, 3, "st_nlink of h2 in %s" % name)
            others = sorted(r for r in inos if r not in links) + ["d/e/h1"]
            eq(len({inos[r] for r in others}), len(others),
               "distinct st_ino of the %d files, directories and symlinks in %s: %s" % (len(others), name, inos))
        # One mount, one st_dev: a snapshot inode that repeated a live or another snapshot's
        # inode would make du, find -samefile, tar and rsync -H see hard links that are not.
        eq(set(i1.values()) & set(live.values()), set(), "st_ino shared by s1 and the live tree")
        eq(set(i1.values()) & set(i2.values()), set(), "st_ino shared by s1 and s2")
        fd = os.open(os.path.join(s1, "d/c"), os.O_RDONLY)
        try:
            eq(os.fstat(fd).st_ino, i1["d/c"], "fstat st_ino of s1/d/c")
        finally:
            os.close(fd)
        eq({e.name: e.inode() for e in os.scandir(os.path.join(s1, "d"))},
           {n: i1[os.path.join("d", n)] for n in os.listdir(os.path.join(s1, "d"))}, "readdir d_ino in s1/d")
        # Changes to the live tree, forgotten inodes, dropping another snapshot, a remount:
        # none of them renumbers what s1 shows.
        os.unlink(P("a"))
        write_file(P("a"), b"new a")
        os.rename(P("big"), P("d/big"))
        os.unlink(P("h2"))
        write_file(P("solo"), b"rewritten")
        drop_caches()
        eq(_inos(s1), i1, "st_ino in s1 after the live tree changed and the kernel forgot its inodes")
        os.rmdir(s2)
        drop_caches()
        eq(_inos(s1), i1, "st_ino in s1 after dropping s2")
        s.remount()
        eq(_inos(s1), i1, "st_ino in s1 after a remount")
        eq(len({_inos(s1)[r] for r in links}), 1, "st_ino of the hard-linked names in s1 after a remount")


def _drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _epoch(paths):
    t = time.time()
    n = 0
    for idx, blobs in _loader(paths):
        n += len(idx)
    eq(n, len(paths), "samples in one epoch")
    return len(paths) / (time.time() - t)


@test
def snapshot_and_epoch_timings_20000_files():
    """Information: time to snapshot 20,000 files; DataLoader files/s over the snapshot,
    epoch 1 after drop_caches and epoch 2, and the same over a native directory."""
    skip_native()
    import tempfile
    N = 20000
    with Store() as s:
        ds = dataset(s, "many")
        rels = []
        for k in range(100):
            os.mkdir(os.path.join(ds, "d%03d" % k))
        blob = data("many", 4096)
        for i in range(N):
            rel = "d%03d/f%05d" % (i % 100, i)
            size = 512 + (i * 131) % 3584
            fd = os.open(os.path.join(ds, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, blob[:size])
            os.close(fd)
            rels.append(rel)
        t = time.time()
        snap = snapshot(ds, "t20k")
        dt = time.time() - t
        print("# snapshot of a %d-file tree: %.3f s" % (N, dt), flush=True)
        eq(sum(len(os.listdir(os.path.join(snap, "d%03d" % k))) for k in range(100)), N,
           "files listed in the snapshot")
        paths = [os.path.join(snap, r) for r in rels]
        _drop_caches()
        e1 = _epoch(paths)
        e2 = _epoch(paths)
        print("# DataLoader(num_workers=2, batch_size=16) over the snapshot: epoch 1 (after drop_caches) "
              "%.0f files/s, epoch 2 %.0f files/s" % (e1, e2), flush=True)
        native = tempfile.mkdtemp(prefix="aifs-native-")
        try:
            for k in range(100):
                os.mkdir(os.path.join(native, "d%03d" % k))
            for i, rel in enumerate(rels):
                with open(os.path.join(native, rel), "wb") as f:
                    f.write(blob[:512 + (i * 131) % 3584])
            npaths = [os.path.join(native, r) for r in rels]
            _drop_caches()
            n1 = _epoch(npaths)
            n2 = _epoch(npaths)
            print("# same over a native directory (%s): epoch 1 %.0f files/s, epoch 2 %.0f files/s"
                  % (os.path.dirname(native), n1, n2), flush=True)
        finally:
            import shutil
            shutil.rmtree(native, ignore_errors=True)


if __name__ == "__main__":
    main()
