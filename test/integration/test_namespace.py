#!/usr/bin/python3
"""POSIX namespace of aifs (issue 2, item 3), each behaviour as ext4 has it.

mknod, mkdir, rmdir, rename (incl. RENAME_NOREPLACE/EXCHANGE), link, symlink,
readdir (exact and stable under change), name length limits.
Run with AIFS_TEST_NATIVE=1 to check the expectations against the local ext4 disk.
"""

import errno
import multiprocessing
import os
import socket
import stat
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (NATIVE, Store, check, data, eq, main, raises, read_all, renameat2, same_bytes,  # noqa: E402
                     test, write_file, RENAME_EXCHANGE, RENAME_NOREPLACE)

MiB = 1 << 20


# ------------------------------------------------------------------ mknod / mkdir / rmdir

@test
def mknod_fifo_socket_chardev():
    with Store() as s:
        d = s.work()
        cases = [("reg", stat.S_IFREG | 0o640, 0),
                 ("fifo", stat.S_IFIFO | 0o600, 0),
                 ("sock", stat.S_IFSOCK | 0o755, 0),
                 ("chr", stat.S_IFCHR | 0o666, os.makedev(1, 3)),
                 ("blk", stat.S_IFBLK | 0o660, os.makedev(7, 200))]
        for name, mode, dev in cases:
            os.mknod(os.path.join(d, name), mode, dev)
        for name, mode, dev in cases:
            st = os.lstat(os.path.join(d, name))
            eq(stat.S_IFMT(st.st_mode), stat.S_IFMT(mode), "type of %s" % name)
            eq(stat.S_IMODE(st.st_mode), stat.S_IMODE(mode) & ~0o022, "mode of %s (umask 022 applied)" % name)
            if dev:
                eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (os.major(dev), os.minor(dev)), "rdev of %s" % name)
            eq(st.st_size, 0, "size of %s" % name)
        eq(sorted(os.listdir(d)), sorted(c[0] for c in cases), "listing")
        # a FIFO node works as a pipe
        fifo = os.path.join(d, "fifo")
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(wfd, b"through the fifo")
        eq(os.read(rfd, 100), b"through the fifo", "data through the FIFO")
        os.close(wfd)
        os.close(rfd)
        raises(errno.EEXIST, os.mknod, fifo, stat.S_IFIFO | 0o600, what="mknod on an existing name")


@test
def unix_socket_bind_and_connect():
    with Store() as s:
        d = s.work()
        path = os.path.join(d, "sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        eq(stat.S_IFMT(os.lstat(path).st_mode), stat.S_IFSOCK, "type of the bound socket")
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(path)
        conn, _ = srv.accept()
        cli.sendall(b"ping")
        eq(conn.recv(10), b"ping", "data through the socket")
        for x in (conn, cli, srv):
            x.close()
        os.unlink(path)
        eq(os.listdir(d), [], "listing after unlink of the socket")


@test
def mkdir_nlink_counts():
    with Store() as s:
        d = s.work()
        eq(os.lstat(d).st_nlink, 2, "nlink of an empty directory")
        for i in range(3):
            os.mkdir(os.path.join(d, "s%d" % i))
        write_file(os.path.join(d, "f"), b"")
        eq(os.lstat(d).st_nlink, 5, "nlink of a directory with 3 subdirectories and a file")
        eq(os.lstat(os.path.join(d, "s0")).st_nlink, 2, "nlink of a new subdirectory")
        os.rmdir(os.path.join(d, "s1"))
        eq(os.lstat(d).st_nlink, 4, "nlink after rmdir of one subdirectory")
        os.rename(os.path.join(d, "s2"), os.path.join(d, "s0", "s2"))
        eq(os.lstat(d).st_nlink, 3, "nlink of the old parent after moving a subdirectory out")
        eq(os.lstat(os.path.join(d, "s0")).st_nlink, 3, "nlink of the new parent")
        eq(os.stat(os.path.join(d, "s0", "s2", "..")).st_ino, os.stat(os.path.join(d, "s0")).st_ino,
           "inode of .. in the moved directory")
        raises(errno.EEXIST, os.mkdir, os.path.join(d, "s0"), what="mkdir of an existing name")
        raises(errno.EEXIST, os.mkdir, os.path.join(d, "f"), what="mkdir over a file")


@test
def rmdir_nonempty_enotempty():
    with Store() as s:
        d = s.work()
        sub = os.path.join(d, "sub")
        os.mkdir(sub)
        write_file(os.path.join(sub, "f"), b"")
        raises(errno.ENOTEMPTY, os.rmdir, sub, what="rmdir of a directory holding a file")
        os.unlink(os.path.join(sub, "f"))
        os.mkdir(os.path.join(sub, "inner"))
        raises(errno.ENOTEMPTY, os.rmdir, sub, what="rmdir of a directory holding a directory")
        os.rmdir(os.path.join(sub, "inner"))
        os.rmdir(sub)
        eq(os.listdir(d), [], "listing after rmdir")
        write_file(os.path.join(d, "f"), b"")
        raises(errno.ENOTDIR, os.rmdir, os.path.join(d, "f"), what="rmdir of a file")
        os.mkdir(sub)
        raises(errno.EISDIR, os.unlink, sub, what="unlink of a directory")
        raises(errno.ENOENT, os.rmdir, os.path.join(d, "missing"), what="rmdir of a missing name")
        raises(errno.ENOTDIR, os.stat, os.path.join(d, "f", "x"), what="lookup through a file")


# ------------------------------------------------------------------ rename / link / symlink

@test
def rename_replaces_target_atomically():
    with Store() as s:
        d = s.work()
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        write_file(a, b"AAA")
        write_file(b, b"BBB")
        ino_a = os.lstat(a).st_ino
        fd = os.open(b, os.O_RDONLY)
        os.rename(a, b)
        eq(sorted(os.listdir(d)), ["b"], "listing after rename over an existing file")
        eq(os.lstat(b).st_ino, ino_a, "inode of the target name")
        eq(read_all(b), b"AAA", "content of the target name")
        eq(os.fstat(fd).st_nlink, 0, "nlink of the replaced file")
        eq(os.read(fd, 10), b"BBB", "replaced file readable through its descriptor")
        os.close(fd)
        # rename onto itself is a no-op
        os.rename(b, b)
        eq(read_all(b), b"AAA", "content after rename onto itself")
        # two names of one inode: rename does nothing
        os.link(b, a)
        os.rename(a, b)
        eq(sorted(os.listdir(d)), ["a", "b"], "listing after rename between hard links of one inode")


@test
def rename_directory_rules():
    with Store() as s:
        d = s.work()
        for n in ("d1", "d2", "d3", "d1/sub"):
            os.mkdir(os.path.join(d, n))
        write_file(os.path.join(d, "d2", "f"), b"")
        write_file(os.path.join(d, "f"), b"")
        j = lambda *x: os.path.join(d, *x)  # noqa: E731
        raises(errno.ENOTEMPTY, os.rename, j("d1"), j("d2"), what="rename of a directory over a non-empty directory")
        raises(errno.EINVAL, os.rename, j("d1"), j("d1", "sub", "x"), what="rename of a directory into its own subdirectory")
        raises(errno.EISDIR, os.rename, j("f"), j("d3"), what="rename of a file over a directory")
        raises(errno.ENOTDIR, os.rename, j("d3"), j("f"), what="rename of a directory over a file")
        raises(errno.ENOENT, os.rename, j("missing"), j("x"), what="rename of a missing name")
        os.rename(j("d1"), j("d3"))        # over an empty directory
        eq(sorted(os.listdir(d)), ["d2", "d3", "f"], "listing after rename over an empty directory")
        eq(os.listdir(j("d3")), ["sub"], "content of the renamed directory")
        os.rename(j("d3"), j("d2", "moved"))
        eq(os.stat(j("d2", "moved", "..")).st_ino, os.stat(j("d2")).st_ino, ".. of a directory moved to a new parent")
        eq(sorted(os.listdir(j("d2"))), ["f", "moved"], "listing of the new parent")


@test
def rename_noreplace_gives_eexist():
    with Store() as s:
        d = s.work()
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        write_file(a, b"AAA")
        write_file(b, b"BBB")
        raises(errno.EEXIST, renameat2, a, b, RENAME_NOREPLACE, what="RENAME_NOREPLACE onto an existing file")
        eq((read_all(a), read_all(b)), (b"AAA", b"BBB"), "contents after the refused rename")
        renameat2(a, os.path.join(d, "c"), RENAME_NOREPLACE)
        eq(sorted(os.listdir(d)), ["b", "c"], "listing after RENAME_NOREPLACE to a free name")
        eq(read_all(os.path.join(d, "c")), b"AAA", "content of the renamed file")


@test
def rename_exchange_swaps():
    with Store() as s:
        d = s.work()
        a, b, sub = os.path.join(d, "a"), os.path.join(d, "b"), os.path.join(d, "sub")
        write_file(a, b"AAA")
        write_file(b, b"BBB")
        ia, ib = os.lstat(a).st_ino, os.lstat(b).st_ino
        renameat2(a, b, RENAME_EXCHANGE)
        eq((read_all(a), read_all(b)), (b"BBB", b"AAA"), "contents after RENAME_EXCHANGE")
        eq((os.lstat(a).st_ino, os.lstat(b).st_ino), (ib, ia), "inodes after RENAME_EXCHANGE")
        # a file with a directory in another directory
        os.mkdir(sub)
        write_file(os.path.join(sub, "inner"), b"I")
        other = os.path.join(d, "o")
        os.mkdir(other)
        write_file(os.path.join(other, "x"), b"X")
        renameat2(sub, os.path.join(other, "x"), RENAME_EXCHANGE)
        check(stat.S_ISREG(os.lstat(sub).st_mode), "sub after exchange: expected a regular file")
        eq(read_all(sub), b"X", "content of the file now at sub")
        eq(os.listdir(os.path.join(other, "x")), ["inner"], "directory now at o/x")
        eq(os.stat(os.path.join(other, "x", "..")).st_ino, os.stat(other).st_ino, ".. of the exchanged directory")
        raises(errno.ENOENT, renameat2, a, os.path.join(d, "missing"), RENAME_EXCHANGE, what="RENAME_EXCHANGE with a missing target")
        s.remount()
        eq((read_all(a), read_all(b)), (b"BBB", b"AAA"), "contents after RENAME_EXCHANGE and remount")
        eq(os.listdir(os.path.join(other, "x")), ["inner"], "exchanged directory after remount")


@test
def rename_keeps_open_descriptor_working():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "a")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.write(fd, b"one")
        os.mkdir(os.path.join(d, "sub"))
        os.rename(p, os.path.join(d, "sub", "b"))
        os.write(fd, b"two")
        os.close(fd)
        eq(read_all(os.path.join(d, "sub", "b")), b"onetwo", "content written around a rename")


@test
def link_nlink_counts():
    with Store() as s:
        d = s.work()
        a = os.path.join(d, "a")
        write_file(a, b"data")
        os.link(a, os.path.join(d, "b"))
        os.mkdir(os.path.join(d, "sub"))
        os.link(a, os.path.join(d, "sub", "c"))
        for n in ("a", "b", "sub/c"):
            st = os.lstat(os.path.join(d, n))
            eq(st.st_nlink, 3, "nlink of %s" % n)
            eq(st.st_ino, os.lstat(a).st_ino, "inode of %s" % n)
        os.unlink(os.path.join(d, "b"))
        eq(os.lstat(a).st_nlink, 2, "nlink after unlinking one name")
        raises(errno.EEXIST, os.link, a, os.path.join(d, "sub", "c"), what="link onto an existing name")
        raises(errno.EPERM, os.link, os.path.join(d, "sub"), os.path.join(d, "sublink"), what="link of a directory")
        raises(errno.ENOENT, os.link, os.path.join(d, "missing"), os.path.join(d, "x"), what="link of a missing file")
        s.remount()
        eq(os.lstat(a).st_nlink, 2, "nlink after remount")


@test
def hardlink_persists_after_original_unlinked():
    with Store() as s:
        d = s.work()
        a, b = os.path.join(d, "orig"), os.path.join(d, "link")
        content = data("hl", MiB + 3)
        write_file(a, content)
        os.link(a, b)
        os.unlink(a)
        eq(os.lstat(b).st_nlink, 1, "nlink after unlinking the original")
        same_bytes(read_all(b), content, "content through the remaining link")
        s.remount()
        eq(os.listdir(d), ["link"], "listing after remount")
        eq(os.lstat(b).st_nlink, 1, "nlink after remount")
        same_bytes(read_all(b), content, "content after remount")


@test
def symlink_readlink():
    with Store() as s:
        d = s.work()
        targets = {"rel": "f", "abs": "/etc/hostname", "dangling": "no/such/thing",
                   "long": "x/" * 1000 + "end", "dots": "../t/./f"}
        write_file(os.path.join(d, "f"), b"target content")
        for name, t in targets.items():
            os.symlink(t, os.path.join(d, name))
        for name, t in targets.items():
            p = os.path.join(d, name)
            eq(os.readlink(p), t, "readlink of %s" % name)
            st = os.lstat(p)
            check(stat.S_ISLNK(st.st_mode), "lstat of %s: expected a symlink, saw mode %o" % (name, st.st_mode))
            eq(st.st_size, len(t.encode()), "lstat size of %s" % name)
        eq(read_all(os.path.join(d, "rel")), b"target content", "read through a relative symlink")
        raises(errno.ENOENT, os.stat, os.path.join(d, "dangling"), what="stat through a dangling symlink")
        raises(errno.EINVAL, os.readlink, os.path.join(d, "f"), what="readlink of a regular file")
        raises(errno.EEXIST, os.symlink, "x", os.path.join(d, "rel"), what="symlink onto an existing name")
        s.remount()
        for name, t in targets.items():
            eq(os.readlink(os.path.join(d, name)), t, "readlink of %s after remount" % name)


# ------------------------------------------------------------------ readdir

@test
def readdir_lists_exactly():
    with Store() as s:
        d = s.work()
        names = {"plain": "f", "with space": "f", "ünïcödé-名前": "f", "x" * 255: "f",
                 "-dash": "f", ".hidden": "f", "sub": "d", "link": "l", "fifo": "p", "..x": "f"}
        for n, kind in names.items():
            p = os.path.join(d, n)
            if kind == "f":
                write_file(p, n.encode())
            elif kind == "d":
                os.mkdir(p)
            elif kind == "l":
                os.symlink("plain", p)
            else:
                os.mkfifo(p)
        for i in range(500):
            write_file(os.path.join(d, "n%04d" % i), b"")
        expect = set(names) | {"n%04d" % i for i in range(500)}
        for round_ in range(2):
            entries = list(os.scandir(d))
            seen = [e.name for e in entries]
            eq(len(seen), len(set(seen)), "number of distinct names (duplicates listed)")
            eq(sorted(seen), sorted(expect), "listing")
            for e in entries:
                st = os.lstat(e.path)
                eq(e.inode(), st.st_ino, "d_ino of %r against st_ino" % e.name)
                kind = names.get(e.name, "f")
                eq((e.is_dir(follow_symlinks=False), e.is_symlink(), e.is_file(follow_symlinks=False)),
                   (kind == "d", kind == "l", kind == "f"), "d_type of %r" % e.name)
            s.remount()
        if not NATIVE:
            check(".aifs" not in os.listdir(s.mnt), "root listing: expected no .aifs entry, saw %r" % os.listdir(s.mnt))
        eq(os.listdir(os.path.join(d, "sub")), [], "listing of an empty directory")


def _churn(d, stop, errors):
    i = 0
    try:
        while not stop.is_set():
            p = os.path.join(d, "churn%06d" % i)
            write_file(p, b"")
            if i >= 20:
                os.unlink(os.path.join(d, "churn%06d" % (i - 20)))
            i += 1
    except BaseException as e:
        errors.put(repr(e))


@test
def readdir_stable_under_concurrent_create_and_unlink():
    with Store() as s:
        d = s.work()
        stable = {"stable%05d" % i for i in range(3000)}
        for n in stable:
            write_file(os.path.join(d, n), b"")
        ctx = multiprocessing.get_context("fork")
        stop, errors = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_churn, args=(os.path.join(d, ""), stop, errors)) for _ in range(1)]
        for p in procs:
            p.start()
        try:
            time.sleep(0.2)
            for round_ in range(25):
                seen = os.listdir(d)
                dups = sorted({n for n in seen if seen.count(n) > 1}) if len(seen) != len(set(seen)) else []
                eq(dups, [], "names listed more than once in listing %d" % round_)
                missing = sorted(stable - set(seen))
                eq(missing[:10], [], "stable names missing from listing %d (%d missing)" % (round_, len(missing)))
                extra = sorted(n for n in set(seen) - stable if not n.startswith("churn"))
                eq(extra, [], "unexpected names in listing %d" % round_)
        finally:
            stop.set()
            for p in procs:
                p.join(30)
        check(errors.empty(), "churn process: expected no error, saw %s" % (None if errors.empty() else errors.get()))


@test
def readdir_resumes_exactly_after_unlink_and_create_mid_listing():
    """Names untouched during one listing appear exactly once, whatever else changes meanwhile."""
    with Store() as s:
        d = s.work()
        names = ["entry-%05d-%s" % (i, "x" * 40) for i in range(4000)]
        for n in names:
            write_file(os.path.join(d, n), b"")
        it = os.scandir(d)
        first = [next(it).name for _ in range(1500)]
        listed = set(first)
        unlisted = [n for n in names if n not in listed]
        removed = set(first[::3]) | set(unlisted[::3])
        for n in removed:
            os.unlink(os.path.join(d, n))
        for i in range(1000):
            write_file(os.path.join(d, "new-%05d" % i), b"")
        rest = [e.name for e in it]
        it.close()
        seen = first + rest
        dups = sorted({n for n in seen if seen.count(n) > 1}) if len(seen) != len(set(seen)) else []
        eq(dups[:5], [], "names listed more than once")
        untouched = set(names) - removed
        missing = sorted(untouched - set(seen))
        eq(missing[:5], [], "untouched names missing from the listing (%d missing)" % len(missing))
        odd = sorted(n for n in set(seen) - set(names) if not n.startswith("new-"))
        eq(odd, [], "names that never existed")
        eq(sorted(os.listdir(d)), sorted(untouched | {"new-%05d" % i for i in range(1000)}), "listing afterwards")


def _listing_matches(d, kinds, what):
    """A fresh listing of D names exactly KINDS (name -> f/d/l/p), each with its inode and type."""
    entries = list(os.scandir(d))
    eq(sorted(e.name for e in entries), sorted(kinds), "%s: names" % what)
    for e in entries:
        st = os.lstat(e.path)
        eq(e.inode(), st.st_ino, "%s: d_ino of %r against st_ino" % (what, e.name))
        k = kinds[e.name]
        eq((e.is_dir(follow_symlinks=False), e.is_symlink(), e.is_file(follow_symlinks=False)),
           (k == "d", k == "l", k == "f"), "%s: d_type of %r" % (what, e.name))


@test
def listing_of_names_the_kernel_holds_is_exact():
    """A listing after some names were looked up: the daemon sends those without attributes."""
    with Store() as s:
        d = s.work()
        # The kernel asks for the start of a listing with attributes
        # (READDIRPLUS), the rest without: the names of each kind come first.
        kinds = {"f%03d" % i: "f" for i in range(300)}
        kinds.update({"0-sub": "d", "0-sym": "l", "0-fifo": "p", "a": "f", "a-link": "f"})
        for n, k in kinds.items():
            p = os.path.join(d, n)
            if k == "d":
                os.mkdir(p)
            elif k == "l":
                os.symlink("f000", p)
            elif k == "p":
                os.mkfifo(p)
            elif n != "a-link":
                write_file(p, n.encode())
        os.link(os.path.join(d, "a"), os.path.join(d, "a-link"))
        s.remount()
        held = ["0-sub", "0-sym", "0-fifo", "a"] + sorted(kinds)[6::2]  # looked up: the kernel holds them
        for n in held:
            os.lstat(os.path.join(d, n))
        _listing_matches(d, kinds, "listing with %d of %d names held" % (len(held), len(kinds)))
        eq(os.lstat(os.path.join(d, "a-link")).st_ino, os.lstat(os.path.join(d, "a")).st_ino,
           "inode of the hard link against its first name")
        eq(os.lstat(os.path.join(d, "a")).st_nlink, 2, "link count of a file with two names")
        eq(read_all(os.path.join(d, "f002")), b"f002", "content of a held name after the listing")
        # A held name replaced, one removed, one made: the next listing is of the change.
        os.rename(os.path.join(d, "f001"), os.path.join(d, "f000"))
        os.unlink(os.path.join(d, "f004"))
        write_file(os.path.join(d, "new"), b"n")
        for n in ("f001", "f004"):
            del kinds[n]
        kinds["new"] = "f"
        _listing_matches(d, kinds, "listing after rename over a held name, unlink and create")
        eq(read_all(os.path.join(d, "f000")), b"f001", "content of the name renamed over")


# ------------------------------------------------------------------ names

@test
def name_256_bytes_enametoolong():
    with Store() as s:
        d = s.work()
        n255, n256 = "a" * 255, "a" * 256
        mb255 = "é" * 127 + "a"          # 255 bytes of UTF-8
        j = lambda n: os.path.join(d, n)  # noqa: E731
        write_file(j(n255), b"255")
        write_file(j(mb255), b"mb")
        eq(read_all(j(n255)), b"255", "content of a file with a 255-byte name")
        eq(sorted(os.listdir(d)), sorted([n255, mb255]), "listing with 255-byte names")
        raises(errno.ENAMETOOLONG, os.open, j(n256), os.O_CREAT | os.O_WRONLY, 0o644, what="create of a 256-byte name")
        raises(errno.ENAMETOOLONG, os.open, j("é" * 128), os.O_CREAT | os.O_WRONLY, 0o644, what="create of a 256-byte UTF-8 name")
        raises(errno.ENAMETOOLONG, os.mkdir, j(n256), what="mkdir of a 256-byte name")
        raises(errno.ENAMETOOLONG, os.symlink, "t", j(n256), what="symlink of a 256-byte name")
        raises(errno.ENAMETOOLONG, os.link, j(n255), j(n256), what="link to a 256-byte name")
        raises(errno.ENAMETOOLONG, os.rename, j(n255), j(n256), what="rename to a 256-byte name")
        raises(errno.ENAMETOOLONG, os.mknod, j(n256), stat.S_IFIFO | 0o600, what="mknod of a 256-byte name")
        raises(errno.ENAMETOOLONG, os.stat, j(n256), what="lookup of a 256-byte name")
        os.mkdir(j("b" * 255))
        os.rename(j(n255), j("b" * 255 + "/" + "c" * 255))
        eq(os.listdir(j("b" * 255)), ["c" * 255], "listing after rename to a 255-byte name")
        eq(sorted(os.listdir(d)), sorted(["b" * 255, mb255]), "listing after the refused operations")


if __name__ == "__main__":
    main()
