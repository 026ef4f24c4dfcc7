#!/usr/bin/python3
"""Persistence and crash safety (issue 2, item 4)."""

import multiprocessing
import os
import random
import signal
import stat
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (NATIVE, RENAME_EXCHANGE, Fail, Store, check, data, eq, main, read_all,  # noqa: E402
                     renameat2, same_bytes, skip_native, test, write_file)

MiB = 1 << 20
SIZES = [0, 1, 100, 4096, 65539, 300000, MiB, 3 * MiB + 5]


def _name(n):
    return "d%04d" % (n // 40), "file-%07d" % n, "tmp-%07d" % n, "loose-%07d" % n


def _content(kind, n):
    """The full content the writer gives file n ("crash") or its loose companion ("loose")."""
    size = SIZES[(n * (7919 if kind == "crash" else 31)) % len(SIZES)]
    return data((kind, n), size)


def _partial_ok(got, full):
    """An unfinished, never fsync'd file: no longer than intended, each byte as written or zero."""
    if len(got) > len(full):
        return "length %d > intended %d" % (len(got), len(full))
    if got == full[:len(got)]:
        return None
    for i in range(len(got)):
        if got[i] != full[i] and got[i] != 0:
            return "byte at %d is 0x%02x, neither the written 0x%02x nor zero" % (i, got[i], full[i])
    return None


def _writer(d, side, start, seed):
    """Write files until the mount dies; record each one after its fsync completes.

    Even n: write tmp-n, fsync, rename to file-n, fsync the directory.
    Odd n: write file-n directly and fsync the file only.
    Every fifth n also leaves a loose-n file that is never fsync'd.
    """
    rnd = random.Random(seed)
    sfd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    n = start
    try:
        while True:
            sub, final, tmp, loose = _name(n)
            sd = os.path.join(d, sub)
            try:
                os.mkdir(sd)
            except FileExistsError:
                pass
            content = _content("crash", n)
            size = len(content)
            target = os.path.join(sd, tmp if n % 2 == 0 else final)
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            off = 0
            while off < size:
                k = rnd.choice([1000, 65536, 500000, MiB])
                off += os.write(fd, content[off:off + k])
            os.fsync(fd)
            os.close(fd)
            if n % 2 == 0:
                os.rename(target, os.path.join(sd, final))
                dfd = os.open(sd, os.O_RDONLY | os.O_DIRECTORY)
                os.fsync(dfd)
                os.close(dfd)
            os.write(sfd, b"%d %d\n" % (n, size))
            os.fsync(sfd)
            if n % 5 == 0:
                write_file(os.path.join(sd, loose), _content("loose", n))
            n += 1
    except OSError:
        os._exit(0)
    os._exit(0)


def _recorded(side):
    out = {}
    try:
        with open(side, "rb") as f:
            for line in f.read().split(b"\n")[:-1]:
                n, size = line.split()
                out[int(n)] = int(size)
    except FileNotFoundError:
        pass
    return out


def _check_tree(d, recorded, what):
    """Every fsync'd file is byte-exact; every listed name stats; no half-applied rename."""
    for n, size in sorted(recorded.items()):
        sub, final, tmp, _ = _name(n)
        p = os.path.join(d, sub, final)
        try:
            got = read_all(p)
        except OSError as e:
            raise Fail("%s: fsync'd file %s/%s: expected %d bytes, saw %s" % (what, sub, final, size, e))
        same_bytes(got, data(("crash", n), size), "%s: fsync'd file %s/%s" % (what, sub, final))
        check(not os.path.lexists(os.path.join(d, sub, tmp)),
              "%s: %s/%s: expected gone after its rename was fsync'd, saw it present" % (what, sub, tmp))
    nfiles = 0
    for dirpath, dirnames, filenames in os.walk(d):
        names = os.listdir(dirpath)
        eq(len(names), len(set(names)), "%s: distinct names in %s" % (what, dirpath))
        st = os.lstat(dirpath)
        eq(st.st_nlink, 2 + len(dirnames), "%s: nlink of directory %s" % (what, dirpath))
        for name in names:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError as e:
                raise Fail("%s: listed name %s: expected lstat to work, saw %s" % (what, p, e))
            if stat.S_ISREG(st.st_mode):
                nfiles += 1
                eq(st.st_nlink, 1, "%s: nlink of %s" % (what, p))
                try:
                    b = read_all(p)
                except OSError as e:
                    raise Fail("%s: %s: expected readable, saw %s" % (what, p, e))
                eq(len(b), st.st_size, "%s: bytes read from %s against its size" % (what, p))
                kind, _, num = name.partition("-")
                n = int(num) if num.isdigit() else None
                if kind == "tmp":
                    final = "file-" + num
                    check(not os.path.lexists(os.path.join(dirpath, final)),
                          "%s: both %s and %s exist: half-applied rename" % (what, name, final))
                if n is not None and n not in recorded and kind in ("tmp", "file", "loose"):
                    why = _partial_ok(b, _content("loose" if kind == "loose" else "crash", n))
                    check(why is None, "%s: unfinished file %s: %s" % (what, p, why))
    return nfiles


@test
def kill9_during_writes_keeps_fsynced_files_and_fsck_clean():
    skip_native()
    seed = random.randrange(1 << 32)
    print("# kill9_during_writes_keeps_fsynced_files_and_fsck_clean: seed %d" % seed, flush=True)
    rnd = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    with Store() as s:
        d = s.work("crash")
        side = os.path.join(s.base, "fsynced.txt")     # outside the mount
        # kill moments: right after start, after k fsync'd files (+ a random delay)
        moments = [(0, 0.0), (1, 0.01), (5, 0.05), (20, 0.0), (40, 0.2), (10, 0.5),
                   (3, 0.003), (60, 0.1), (15, 0.03), (30, 0.3)]
        for rnd_i, (after, delay) in enumerate(moments):
            start = (rnd_i + 1) * 100000
            before = len(_recorded(side))
            w = ctx.Process(target=_writer, args=(d, side, start, seed + rnd_i))
            w.start()
            deadline = time.time() + 60
            while len(_recorded(side)) - before < after and time.time() < deadline and w.is_alive():
                time.sleep(0.002)
            time.sleep(delay * rnd.random() * 2)
            check(w.is_alive(), "round %d: writer died before the kill (exit %s)" % (rnd_i, w.exitcode))
            s.kill9()
            w.join(30)
            if w.is_alive():
                os.kill(w.pid, signal.SIGKILL)
                w.join()
            s.mount()
            rec = _recorded(side)
            print("# round %d: kill after %d fsync'd files this round, %d in all" % (
                rnd_i, len(rec) - before, len(rec)), flush=True)
            _check_tree(d, rec, "round %d after kill -9 and remount" % rnd_i)
        # the surviving tree is still writable and survives a clean remount
        write_file(os.path.join(d, "after"), b"after the crashes")
        s.remount()
        _check_tree(d, _recorded(side), "after a clean remount")
        eq(read_all(os.path.join(d, "after")), b"after the crashes", "file written after the crashes")
        s.unmount()
        s.fsck_clean("fsck after %d kill -9 rounds" % len(moments))


NFILES_R, NDIRS_R, NPARENTS_R, NVICTIMS_R = 200, 10, 4, 8


def _rename_tree(root):
    """Scan the rename test tree: {dir name: parent}, {(dir, file name): content}, {victim: content}."""
    dirs, files, victims = {}, {}, {}
    for parent in sorted(os.listdir(root)):
        pp = os.path.join(root, parent)
        for dname in os.listdir(pp):
            dp = os.path.join(pp, dname)
            if parent == "victims":
                victims[dname] = read_all(dp)
                continue
            check(dname not in dirs, "directory %s listed under both %s and %s" % (dname, dirs.get(dname), parent))
            dirs[dname] = parent
            for f in os.listdir(dp):
                files[(dname, f)] = read_all(os.path.join(dp, f))
    return dirs, files, victims


def _renamer(root, seed):
    """Rename without end until the mount dies: move files between directories, exchange
    files, move directories between parents, replace victims by rename."""
    rnd = random.Random(seed)
    try:
        dirs, files, victims = _rename_tree(root)
        names = sorted(files)
        gen = 0
        while True:
            op = rnd.random()
            if op < 0.4:
                k = rnd.randrange(len(names))
                d, f = names[k]
                nd = rnd.choice([x for x in dirs if x != d])
                os.rename(os.path.join(root, dirs[d], d, f), os.path.join(root, dirs[nd], nd, f))
                names[k] = (nd, f)
            elif op < 0.6:
                (d1, f1), (d2, f2) = rnd.sample(names, 2)
                renameat2(os.path.join(root, dirs[d1], d1, f1), os.path.join(root, dirs[d2], d2, f2), RENAME_EXCHANGE)
            elif op < 0.8:
                d = rnd.choice(sorted(dirs))
                np_ = rnd.choice([x for x in ("p%d" % i for i in range(NPARENTS_R)) if x != dirs[d]])
                os.rename(os.path.join(root, dirs[d], d), os.path.join(root, np_, d))
                dirs[d] = np_
            else:
                v = "v%d" % rnd.randrange(NVICTIMS_R)
                gen += 1
                tmp = os.path.join(root, "victims", v + ".new")
                write_file(tmp, b"victim %s gen %d-%d" % (v.encode(), seed % 1000, gen))
                os.rename(tmp, os.path.join(root, "victims", v))
    except OSError:
        os._exit(0)


def _check_rename_tree(root, what):
    dirs, files, victims = _rename_tree(root)
    eq(sorted(dirs), sorted("D%d" % i for i in range(NDIRS_R)), "%s: directories" % what)
    contents = sorted(files.values())
    eq(len(contents), NFILES_R, "%s: number of files" % what)
    eq(contents, sorted(b"file %d" % i for i in range(NFILES_R)), "%s: file contents (each exactly once)" % what)
    for i in range(NVICTIMS_R):
        v = "v%d" % i
        check(v in victims, "%s: victim %s: expected present (replaced only by rename), saw it missing" % (what, v))
        check(victims[v].startswith(b"victim %s " % v.encode()), "%s: content of victim %s: saw %r" % (what, v, victims[v]))
    extra = sorted(n for n in victims if not (n.startswith("v") and (n[1:].isdigit() or n.endswith(".new"))))
    eq(extra, [], "%s: unexpected names among the victims" % what)
    for parent in ("p%d" % i for i in range(NPARENTS_R)):
        pp = os.path.join(root, parent)
        eq(os.lstat(pp).st_nlink, 2 + len(os.listdir(pp)), "%s: nlink of %s" % (what, parent))
    for d, parent in dirs.items():
        eq(os.lstat(os.path.join(root, parent, d)).st_nlink, 2, "%s: nlink of %s" % (what, d))
        eq(os.stat(os.path.join(root, parent, d, "..")).st_ino, os.stat(os.path.join(root, parent)).st_ino,
           "%s: .. of %s" % (what, d))
    for (d, f) in files:
        eq(os.lstat(os.path.join(root, dirs[d], d, f)).st_nlink, 1, "%s: nlink of %s/%s" % (what, d, f))


@test
def kill9_during_renames_leaves_no_half_applied_rename():
    skip_native()
    seed = random.randrange(1 << 32)
    print("# kill9_during_renames_leaves_no_half_applied_rename: seed %d" % seed, flush=True)
    rnd = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    with Store() as s:
        root = s.work("ren")
        for i in range(NPARENTS_R):
            os.mkdir(os.path.join(root, "p%d" % i))
        os.mkdir(os.path.join(root, "victims"))
        for i in range(NVICTIMS_R):
            write_file(os.path.join(root, "victims", "v%d" % i), b"victim v%d gen 0" % i)
        for i in range(NDIRS_R):
            os.mkdir(os.path.join(root, "p0", "D%d" % i))
        for i in range(NFILES_R):
            write_file(os.path.join(root, "p0", "D%d" % (i % NDIRS_R), "f%03d" % i), b"file %d" % i)
        _check_rename_tree(root, "before any crash")
        for r in range(8):
            w = ctx.Process(target=_renamer, args=(root, seed + r))
            w.start()
            time.sleep(0.05 + rnd.random() * 0.5)
            check(w.is_alive(), "round %d: renamer died before the kill (exit %s)" % (r, w.exitcode))
            s.kill9()
            w.join(30)
            if w.is_alive():
                os.kill(w.pid, signal.SIGKILL)
                w.join()
            s.mount()
            _check_rename_tree(root, "round %d after kill -9 and remount" % r)
        dirs, _, victims = _rename_tree(root)
        moved = sum(1 for p in dirs.values() if p != "p0")
        replaced = sum(1 for n, v in victims.items() if not n.endswith(".new") and not v.endswith(b" gen 0"))
        print("# directories away from p0: %d, victims replaced: %d" % (moved, replaced), flush=True)
        check(moved + replaced > 0, "renamer: expected some renames to have happened, saw none")
        s.unmount()
        s.fsck_clean("fsck after kill -9 during renames")


@test
def kill9_with_open_unlinked_file_reaps_orphan():
    skip_native()
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "orphan")
        size = 128 * MiB
        chunk = data("orphan", 4 * MiB)
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        for off in range(0, size, len(chunk)):
            os.pwrite(fd, chunk, off)
        os.fsync(fd)
        os.unlink(p)
        write_file(os.path.join(d, "keep"), b"kept")
        os.fsync(fd)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        held = s.usage()
        check(held >= size, "store size with the open unlinked file: expected >= %d, saw %d" % (size, held))
        s.kill9()
        try:
            os.close(fd)
        except OSError:
            pass
        s.mount()
        eq(sorted(os.listdir(d)), ["keep"], "listing after kill -9 and remount")
        deadline = time.time() + 30
        while s.usage() > held - size // 2 and time.time() < deadline:
            time.sleep(0.5)
        freed = held - s.usage()
        check(freed >= size // 2, "space of the orphan within 30 s of the remount: expected at least %d MiB given back, "
              "saw %d MiB" % (size // 2 // MiB, freed // MiB))
        s.unmount()
        s.fsck_clean("fsck after reaping the orphan")


def _snapshot(paths):
    snap = {}
    for p in paths:
        st = os.lstat(p)
        x = {}
        if not stat.S_ISLNK(st.st_mode):
            x = {k: os.getxattr(p, k, follow_symlinks=False) for k in os.listxattr(p, follow_symlinks=False)}
        snap[p] = dict(mode=oct(st.st_mode), ino=st.st_ino, nlink=st.st_nlink, uid=st.st_uid, gid=st.st_gid,
                       size=st.st_size, rdev=st.st_rdev, atime_ns=st.st_atime_ns, mtime_ns=st.st_mtime_ns,
                       ctime_ns=st.st_ctime_ns, xattrs=x,
                       link=os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
    return snap


@test
def persistence_across_remount():
    with Store() as s:
        d = s.work("tree")
        j = lambda *x: os.path.join(d, *x)  # noqa: E731
        contents = {"file": data("p-file", 100000), "empty": b"", "setuid": b"#!/bin/true\n",
                    "dir1/nested/deep/file": data("p-deep", 3 * MiB + 1), "hard1": b"hard",
                    "old": b"renamed", "gone": b"deleted"}
        os.makedirs(j("dir1", "nested", "deep"))
        os.mkdir(j("emptydir"))
        for n, c in contents.items():
            write_file(j(n), c)
        fd = os.open(j("sparse"), os.O_CREAT | os.O_WRONLY, 0o644)
        os.pwrite(fd, b"end", 50 * MiB)
        os.close(fd)
        contents["sparse"] = bytes(50 * MiB) + b"end"
        os.link(j("hard1"), j("hard2"))
        contents["hard2"] = b"hard"
        os.rename(j("old"), j("new"))
        contents["new"] = contents.pop("old")
        os.unlink(j("gone"))
        del contents["gone"]
        os.symlink("file", j("sym"))
        os.symlink("/no/such/target/" + "x" * 300, j("dangling"))
        os.mkfifo(j("fifo"), 0o620)
        os.mknod(j("null"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
        os.chmod(j("file"), 0o640)
        os.chmod(j("setuid"), 0o4755)
        os.chmod(j("dir1"), 0o2750)
        os.chown(j("file"), 1234, 5678)
        os.chown(j("dir1"), 1000, 1000)
        os.lchown(j("sym"), 1111, 2222)
        os.setxattr(j("file"), "user.a", b"alpha")
        os.setxattr(j("file"), "user.bin", bytes(range(256)))
        os.setxattr(j("file"), "trusted.t", b"trusted value")
        os.setxattr(j("dir1"), "user.d", b"")
        os.setxattr(j("fifo"), "trusted.f", b"fifo xattr")
        now = time.time_ns()
        paths = [j(p) for p in ["file", "empty", "setuid", "dir1/nested/deep/file", "dir1/nested/deep",
                                "dir1/nested", "dir1", "emptydir", "sparse", "hard1", "hard2", "new",
                                "sym", "dangling", "fifo", "null"]] + [d]
        # atime ahead of mtime and ctime so that relatime on ext4 leaves it alone
        for k, p in enumerate(paths):
            os.utime(p, ns=(now + 3600 * 10**9 + k, 1500000000 * 10**9 + 123456789 + k), follow_symlinks=False)
        before = _snapshot(paths)
        listings = {p: sorted(os.listdir(p)) for p in paths if stat.S_ISDIR(os.lstat(p).st_mode)}
        s.remount()
        after = _snapshot(paths)
        for p in paths:
            for k in before[p]:
                eq(after[p][k], before[p][k], "%s of %s after remount" % (k, os.path.relpath(p, d)))
        eq(after[j("hard1")]["ino"], after[j("hard2")]["ino"], "inode of the two hard links")
        eq(after[j("hard1")]["nlink"], 2, "nlink of the hard links")
        eq(after[j("file")]["uid"], 1234, "owner of file")
        eq(after[j("null")]["rdev"], os.makedev(1, 3), "rdev of the device node")
        for p, names in listings.items():
            eq(sorted(os.listdir(p)), names, "listing of %s after remount" % os.path.relpath(p, d))
        for n, c in contents.items():
            same_bytes(read_all(j(n)), c, "content of %s after remount" % n)
        eq(read_all(j("sym")), contents["file"], "read through the symlink after remount")
        check(not os.path.lexists(j("gone")) and not os.path.lexists(j("old")),
              "removed and renamed-away names: expected absent after remount")
        # and a second remount after more changes
        os.unlink(j("hard1"))
        write_file(j("file"), b"rewritten")
        s.remount()
        eq(os.lstat(j("hard2")).st_nlink, 1, "nlink of hard2 after unlinking hard1 and remount")
        eq(read_all(j("file")), b"rewritten", "rewritten file after remount")
        eq(os.getxattr(j("file"), "user.a"), b"alpha", "xattr kept over a rewrite and remount")
        if not NATIVE:
            s.unmount()
            s.fsck_clean("fsck after persistence test")


if __name__ == "__main__":
    main()
