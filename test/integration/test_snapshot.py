#!/usr/bin/python3
"""Dataset snapshots (issue 4): frozen read-only trees, no data copied, content hashes,
aifsctl snapshot and persistence.  Every test is aifs-only (skipped with
AIFS_TEST_NATIVE=1).  What a snapshot keeps while the live tree changes, and a PyTorch
DataLoader reading one, are in test_snapholds.py.
"""

import errno
import json
import os
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Fail, Store, check, data, eq, main, raises, read_all, same_bytes,  # noqa: E402
                     skip_native, test, write_file, write_synced)
from snapcase import (MiB, REC, contents, ctl, ctl_ok, dataset, fill_64mib, fork_loop,  # noqa: E402
                      hot_usage, json_lines, manifest_expected, meta_tree,
                      same_contents, same_meta, sha_hex, snapdir, snapshot, stop_child,
                      wait_until, xattr_sha)


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
        man1 = manifest_expected(snapdir(ds, "s1"))
        eq([e["path"] for e in man1], sorted(files), "paths expected in manifest of s1")
        seen = json_lines(ctl_ok("snapshot", "manifest", ds, "s1"), "manifest s1")
        eq(seen, man1, "aifsctl snapshot manifest DS s1")
        eq(json_lines(ctl_ok("snapshot", "manifest", ds, "live"), "manifest live"), man1,
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
        eq(json_lines(ctl_ok("snapshot", "manifest", ds, "s2"), "manifest s2"),
           manifest_expected(snapdir(ds, "s2")), "aifsctl snapshot manifest DS s2")
        eq(json_lines(ctl_ok("snapshot", "manifest", ds, "live"), "manifest live"),
           manifest_expected(ds), "aifsctl snapshot manifest DS live")
        eq(json_lines(ctl_ok("snapshot", "manifest", ds, "s1"), "manifest s1 later"), man1,
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


if __name__ == "__main__":
    main()
