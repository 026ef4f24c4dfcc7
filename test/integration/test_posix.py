#!/usr/bin/python3
"""POSIX attributes and data of aifs (issue 2, item 3), each behaviour as ext4 has it.

getattr/setattr (chmod, chown, truncate, utimens, ctime), open/read/write,
fsync, unlinked open files, statfs, fallocate, 1 TiB sparse files, mmap.
Every test mounts a fresh store and works in a directory of its own; run with
AIFS_TEST_NATIVE=1 to check the expectations against the local ext4 disk.
"""

import errno
import mmap
import os
import random
import stat
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (NATIVE, Store, check, data, drop_caches, eq, fallocate, main, pread_all,  # noqa: E402
                     raises, read_all, root_only, run_as, same_bytes, test, utimensat, write_file,
                     FALLOC_FL_KEEP_SIZE,
                     FALLOC_FL_PUNCH_HOLE, UTIME_NOW, UTIME_OMIT)

USER = 1000     # an unprivileged uid/gid with no entry in /etc/passwd
MiB = 1 << 20


def tick():
    """Let the coarse kernel clock advance so that a new timestamp differs."""
    time.sleep(0.02)


# ------------------------------------------------------------------ lookup/getattr

@test
def stat_new_file_reports_type_mode_owner_size_times():
    with Store() as s:
        d = s.work()
        before = time.time_ns()
        p = os.path.join(d, "f")
        fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o640)
        os.close(fd)
        st = os.lstat(p)
        eq(stat.S_IFMT(st.st_mode), stat.S_IFREG, "file type")
        eq(stat.S_IMODE(st.st_mode), 0o640, "mode")
        eq(st.st_nlink, 1, "nlink")
        eq((st.st_uid, st.st_gid), (os.geteuid(), os.getegid()), "owner")
        eq(st.st_size, 0, "size")
        for name in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            t = getattr(st, name)
            check(before - 2 * 10**9 <= t <= time.time_ns() + 10**9,
                  "%s: expected about now (%d), saw %d" % (name, before, t))


@test
def lookup_forget_cycles_keep_inodes_valid():
    """Dropping the kernel's dentry/inode caches sends FORGETs; names still resolve."""
    with Store() as s:
        d = s.work()
        inos = {}
        for i in range(300):
            p = os.path.join(d, "f%03d" % i)
            write_file(p, b"x" * i)
            inos[p] = os.stat(p).st_ino
        fd = os.open(os.path.join(d, "f007"), os.O_RDONLY)
        for _ in range(3):
            drop_caches(2)
            for p, ino in inos.items():
                st = os.stat(p)
                eq(st.st_ino, ino, "inode number of %s after forget" % p)
                eq(st.st_size, int(p[-3:]), "size of %s after forget" % p)
        eq(os.pread(fd, 100, 0), b"x" * 7, "read through a descriptor kept open over forgets")
        os.close(fd)


# ------------------------------------------------------------------ setattr

@test
def chmod_sets_all_mode_bits():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"")
        for m in (0o7777, 0o4755, 0o2711, 0o1777, 0o0, 0o644):
            os.chmod(p, m)
            eq(stat.S_IMODE(os.lstat(p).st_mode), m, "mode after chmod %o" % m)
        sub = os.path.join(d, "sub")
        os.mkdir(sub)
        os.chmod(sub, 0o3750)
        eq(stat.S_IMODE(os.lstat(sub).st_mode), 0o3750, "directory mode after chmod 3750")


@test
def chown_clears_setuid_setgid():
    root_only()
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"#!/bin/sh\n")
        os.chmod(p, 0o6755)
        os.chown(p, USER, USER)
        st = os.lstat(p)
        eq((st.st_uid, st.st_gid), (USER, USER), "owner after chown")
        eq(stat.S_IMODE(st.st_mode), 0o755, "mode after chown of a 6755 file (setuid and setgid cleared)")
        # setgid without group execute is not a privilege bit: chown keeps it
        q = os.path.join(d, "g")
        write_file(q, b"")
        os.chmod(q, 0o2745)
        os.chown(q, USER, USER)
        eq(stat.S_IMODE(os.lstat(q).st_mode), 0o2745, "mode after chown of a 2745 file")
        # directories keep their setuid/setgid bits over chown
        sub = os.path.join(d, "sub")
        os.mkdir(sub)
        os.chmod(sub, 0o2755)
        os.chown(sub, USER, USER)
        eq(stat.S_IMODE(os.lstat(sub).st_mode), 0o2755, "directory mode after chown")
        # chown to the same owner still clears setuid on a file
        os.chmod(p, 0o4755)
        os.chown(p, USER, USER)
        eq(stat.S_IMODE(os.lstat(p).st_mode), 0o755, "mode after chown to the same owner")


@test
def write_by_non_owner_clears_setuid_setgid():
    root_only()
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"abc")
        os.chmod(p, 0o6777)

        def w():
            fd = os.open(p, os.O_WRONLY)
            os.write(fd, b"X")
            os.close(fd)
        run_as(USER, USER, w)
        eq(stat.S_IMODE(os.lstat(p).st_mode), 0o777, "mode after a write by another user")
        eq(read_all(p), b"Xbc", "content after the write")


@test
def truncate_up_reads_zeros():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        content = data("trunc", 10000)
        write_file(p, content)
        os.truncate(p, 100)
        eq(os.lstat(p).st_size, 100, "size after truncate down")
        os.truncate(p, 5 * MiB + 7)
        eq(os.lstat(p).st_size, 5 * MiB + 7, "size after truncate up")
        got = read_all(p)
        same_bytes(got, content[:100] + bytes(5 * MiB + 7 - 100), "content after truncate down then up")
        # ftruncate on an open descriptor, then write beyond
        fd = os.open(p, os.O_RDWR)
        os.ftruncate(fd, 50)
        os.pwrite(fd, b"END", 70)
        os.close(fd)
        same_bytes(read_all(p), content[:50] + bytes(20) + b"END", "content after ftruncate and a write beyond")
        os.truncate(p, 0)
        eq(read_all(p), b"", "content after truncate to 0")


@test
def truncate_changes_mtime_and_ctime():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"hello")
        a = os.lstat(p)
        tick()
        os.truncate(p, 2)
        b = os.lstat(p)
        check(b.st_mtime_ns > a.st_mtime_ns, "mtime after truncate: expected > %d, saw %d" % (a.st_mtime_ns, b.st_mtime_ns))
        check(b.st_ctime_ns > a.st_ctime_ns, "ctime after truncate: expected > %d, saw %d" % (a.st_ctime_ns, b.st_ctime_ns))


@test
def utimens_omit_and_now():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"x")
        os.utime(p, ns=(1000000000123456789, 1100000000987654321))
        st = os.lstat(p)
        eq((st.st_atime_ns, st.st_mtime_ns), (1000000000123456789, 1100000000987654321), "exact ns times")
        c0 = st.st_ctime_ns
        tick()
        t0 = time.time_ns()
        utimensat(p, UTIME_OMIT, UTIME_NOW)
        st = os.lstat(p)
        eq(st.st_atime_ns, 1000000000123456789, "atime after UTIME_OMIT")
        check(abs(st.st_mtime_ns - t0) < 2 * 10**9, "mtime after UTIME_NOW: expected about %d, saw %d" % (t0, st.st_mtime_ns))
        check(st.st_ctime_ns > c0, "ctime after utimensat: expected > %d, saw %d" % (c0, st.st_ctime_ns))
        m1 = st.st_mtime_ns
        utimensat(p, UTIME_NOW, UTIME_OMIT)
        st = os.lstat(p)
        eq(st.st_mtime_ns, m1, "mtime after UTIME_OMIT")
        check(abs(st.st_atime_ns - t0) < 2 * 10**9, "atime after UTIME_NOW: expected about %d, saw %d" % (t0, st.st_atime_ns))
        utimensat(p, (5, 6), UTIME_OMIT)
        eq((os.lstat(p).st_atime_ns, os.lstat(p).st_mtime_ns), (5000000006, m1), "times after (5s 6ns, OMIT)")
        # times before the epoch round-trip too
        os.utime(p, ns=(-1000000001, -2))
        st = os.lstat(p)
        eq((st.st_atime_ns, st.st_mtime_ns), (-1000000001, -2), "times before the epoch")


@test
def ctime_changes_on_chmod():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"x")
        ops = [("chmod", lambda: os.chmod(p, 0o600)),
               ("chown", lambda: os.chown(p, USER, USER) if os.geteuid() == 0 else
                os.chown(p, -1, os.getegid())),
               ("link", lambda: os.link(p, p + ".l")),
               ("rename", lambda: os.rename(p, p + ".r")),
               ("setxattr", lambda: os.setxattr(p + ".r", "user.k", b"v"))]
        for name, op in ops:
            before = os.lstat(p if os.path.exists(p) else p + ".r")
            tick()
            op()
            after = os.lstat(p if os.path.exists(p) else p + ".r")
            check(after.st_ctime_ns > before.st_ctime_ns,
                  "ctime after %s: expected > %d, saw %d" % (name, before.st_ctime_ns, after.st_ctime_ns))
            eq(after.st_mtime_ns, before.st_mtime_ns, "mtime after %s (unchanged)" % name)


@test
def write_changes_mtime_and_ctime_not_atime():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"x")
        os.utime(p, ns=(10**18, 10**18))
        a = os.lstat(p)
        fd = os.open(p, os.O_WRONLY)
        os.write(fd, b"yy")
        os.close(fd)
        b = os.lstat(p)
        check(b.st_mtime_ns > a.st_mtime_ns or b.st_mtime_ns < 10**18,
              "mtime after write: expected changed from %d, saw %d" % (a.st_mtime_ns, b.st_mtime_ns))
        check(abs(b.st_mtime_ns - time.time_ns()) < 5 * 10**9, "mtime after write: expected about now, saw %d" % b.st_mtime_ns)
        check(b.st_ctime_ns >= a.st_ctime_ns, "ctime after write: expected >= %d, saw %d" % (a.st_ctime_ns, b.st_ctime_ns))
        eq(b.st_atime_ns, 10**18, "atime after write")


@test
def dir_mtime_ctime_change_on_create_and_unlink():
    with Store() as s:
        d = s.work()
        for name, op in (("create", lambda: write_file(os.path.join(d, "f"), b"")),
                         ("mkdir", lambda: os.mkdir(os.path.join(d, "sub"))),
                         ("rename", lambda: os.rename(os.path.join(d, "f"), os.path.join(d, "g"))),
                         ("unlink", lambda: os.unlink(os.path.join(d, "g"))),
                         ("rmdir", lambda: os.rmdir(os.path.join(d, "sub")))):
            a = os.lstat(d)
            tick()
            op()
            b = os.lstat(d)
            check(b.st_mtime_ns > a.st_mtime_ns, "directory mtime after %s: expected > %d, saw %d" % (name, a.st_mtime_ns, b.st_mtime_ns))
            check(b.st_ctime_ns > a.st_ctime_ns, "directory ctime after %s: expected > %d, saw %d" % (name, a.st_ctime_ns, b.st_ctime_ns))


# ------------------------------------------------------------------ open / read / write

@test
def open_excl_eexist():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        raises(errno.EEXIST, os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, what="O_CREAT|O_EXCL on an existing file")
        os.mkdir(p + "d")
        raises(errno.EEXIST, os.open, p + "d", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, what="O_CREAT|O_EXCL on a directory")
        os.symlink("nowhere", p + "s")
        raises(errno.EEXIST, os.open, p + "s", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, what="O_CREAT|O_EXCL on a dangling symlink")
        raises(errno.ENOENT, os.open, p + "missing", os.O_RDONLY, what="open of a missing file")
        raises(errno.EISDIR, os.open, p + "d", os.O_WRONLY, what="open of a directory for writing")


@test
def open_trunc_empties_file_and_creat_keeps_it():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"0123456789")
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        eq(read_all(p), b"0123456789", "content after O_CREAT without O_TRUNC")
        eq(stat.S_IMODE(os.lstat(p).st_mode), 0o644, "mode unchanged by O_CREAT of an existing file")
        fd = os.open(p, os.O_TRUNC | os.O_WRONLY)
        eq(os.fstat(fd).st_size, 0, "size right after O_TRUNC")
        os.write(fd, b"ab")
        os.close(fd)
        eq(read_all(p), b"ab", "content after O_TRUNC and a write")


@test
def create_mode_applies_umask():
    with Store() as s:
        d = s.work()
        old = os.umask(0o027)
        try:
            os.close(os.open(os.path.join(d, "f"), os.O_CREAT | os.O_WRONLY, 0o777))
            os.mkdir(os.path.join(d, "sub"), 0o777)
            os.mknod(os.path.join(d, "fifo"), stat.S_IFIFO | 0o666)
        finally:
            os.umask(old)
        eq(stat.S_IMODE(os.lstat(os.path.join(d, "f")).st_mode), 0o750, "file mode 0777 under umask 027")
        eq(stat.S_IMODE(os.lstat(os.path.join(d, "sub")).st_mode), 0o750, "directory mode 0777 under umask 027")
        eq(stat.S_IMODE(os.lstat(os.path.join(d, "fifo")).st_mode), 0o640, "fifo mode 0666 under umask 027")


@test
def o_append_writes_at_end():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"start")
        afd = os.open(p, os.O_WRONLY | os.O_APPEND)
        wfd = os.open(p, os.O_WRONLY)
        os.write(afd, b"-a1")
        os.pwrite(wfd, b"XXXXXXXXXXXXXXXXXXXX", 0)   # extends the file through another descriptor
        os.write(afd, b"-a2")
        os.lseek(afd, 0, os.SEEK_SET)
        os.write(afd, b"-a3")
        os.close(wfd)
        os.close(afd)
        eq(read_all(p), b"XXXXXXXXXXXXXXXXXXXX-a2-a3", "content after appends around a write at 0")
        big = data("append", 3 * MiB + 5)
        afd = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.write(afd, big)
        eq(os.lseek(afd, 0, os.SEEK_CUR), 26 + len(big), "file offset after a large append")
        os.close(afd)
        same_bytes(read_all(p), b"XXXXXXXXXXXXXXXXXXXX-a2-a3" + big, "content after a large append")


@test
def holes_read_as_zeros():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.pwrite(fd, b"head", 0)
        os.pwrite(fd, b"middle", 3 * MiB + 11)
        os.pwrite(fd, b"tail", 10 * MiB - 4)
        eq(os.fstat(fd).st_size, 10 * MiB, "size")
        got = pread_all(fd, 10 * MiB, 0)
        os.close(fd)
        exp = bytearray(10 * MiB)
        exp[0:4] = b"head"
        exp[3 * MiB + 11:3 * MiB + 17] = b"middle"
        exp[10 * MiB - 4:] = b"tail"
        same_bytes(got, bytes(exp), "content of a file with holes")
        s.remount()
        same_bytes(read_all(p), bytes(exp), "content of a file with holes after remount")


@test
def write_read_unaligned_across_large_extents():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        rnd = random.Random(4242)
        model = bytearray()
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        for i in range(200):
            off = rnd.randrange(0, 6 * MiB)
            n = rnd.choice([1, 7, 4095, 4096, 4097, 65537, MiB - 1, MiB + 1, 2 * MiB + 3])
            buf = data(("u", i), n)
            os.pwrite(fd, buf, off)
            if len(model) < off + n:
                model.extend(bytes(off + n - len(model)))
            model[off:off + n] = buf
            if i % 20 == 0:
                ro = rnd.randrange(0, len(model))
                rn = rnd.randrange(1, 3 * MiB)
                same_bytes(pread_all(fd, rn, ro), bytes(model[ro:ro + rn]), "read %d at %d after write %d" % (rn, ro, i), ro)
        os.close(fd)
        same_bytes(read_all(p), bytes(model), "whole file")
        s.remount()
        same_bytes(read_all(p), bytes(model), "whole file after remount")


@test
def fsync_and_fsyncdir_succeed():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.write(fd, data("fs", 2 * MiB))
        os.fsync(fd)
        os.fdatasync(fd)
        os.close(fd)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.fdatasync(dfd)
        os.close(dfd)
        rfd = os.open(p, os.O_RDONLY)
        os.fsync(rfd)
        os.close(rfd)
        same_bytes(read_all(p), data("fs", 2 * MiB), "content after fsync")


# ------------------------------------------------------------------ unlinked open files

@test
def unlink_open_file_stays_readable_until_close():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        content = data("unl", 3 * MiB)
        write_file(p, content)
        fd = os.open(p, os.O_RDWR)
        ino = os.fstat(fd).st_ino
        os.unlink(p)
        eq(os.listdir(d), [], "listing after unlink of an open file")
        raises(errno.ENOENT, os.stat, p, what="stat of the unlinked name")
        eq(os.fstat(fd).st_nlink, 0, "nlink of the open unlinked file")
        same_bytes(pread_all(fd, len(content), 0), content, "read of the open unlinked file")
        os.pwrite(fd, b"still writable", MiB)
        os.pwrite(fd, b"grown", len(content))
        exp = bytearray(content)
        exp[MiB:MiB + 14] = b"still writable"
        exp += b"grown"
        drop_caches(3)
        same_bytes(pread_all(fd, len(exp) + 10, 0), bytes(exp), "read after writing to the unlinked file")
        eq(os.fstat(fd).st_size, len(exp), "size of the unlinked file")
        # a new file of the same name is a different file
        write_file(p, b"new")
        check(os.stat(p).st_ino != ino,
              "inode of the new file: expected different from %d" % ino)
        eq(pread_all(fd, 5, len(content)), b"grown", "old file unaffected by the new name")
        os.close(fd)
        eq(read_all(p), b"new", "content of the new file")


def _space_free(s):
    """Free bytes that the file system under test can still use.

    aifs: the negated size of the store on its disk (other programs writing to
    the same disk do not disturb it); native: the file system's free bytes."""
    if NATIVE:
        st = os.statvfs(s.mnt)
        return st.f_bfree * st.f_frsize
    return -s.usage()


@test
def unlinked_file_space_freed_after_last_close():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "big")
        size = 256 * MiB
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        chunk = data("space", 4 * MiB)
        for off in range(0, size, len(chunk)):
            os.pwrite(fd, chunk, off)
        os.fsync(fd)
        os.unlink(p)
        os.sync()
        time.sleep(0.5)
        held = _space_free(s)
        same_bytes(pread_all(fd, 4 * MiB, size - 4 * MiB), chunk, "tail of the unlinked file before close")
        os.close(fd)
        deadline = time.time() + 30
        gained = 0
        while time.time() < deadline:
            os.sync()
            gained = _space_free(s) - held
            if gained >= size // 2:
                break
            time.sleep(0.5)
        check(gained >= size // 2, "space given back within 30 s of closing an unlinked %d MiB file: expected at least "
              "%d MiB, saw %d MiB" % (size // MiB, size // 2 // MiB, gained // MiB))


# ------------------------------------------------------------------ statfs

@test
def statfs_reports_real_capacity():
    with Store() as s:
        d = s.work()
        write_file(os.path.join(d, "f"), data("sf", MiB))
        under = os.statvfs(s.store)
        st = os.statvfs(s.mnt)
        total_u = under.f_blocks * under.f_frsize
        total_m = st.f_blocks * st.f_frsize
        check(abs(total_m - total_u) <= total_u // 100,
              "total bytes: expected %d (the store's filesystem, within 1%%), saw %d" % (total_u, total_m))
        avail_u = under.f_bavail * under.f_frsize
        avail_m = st.f_bavail * st.f_frsize
        check(abs(avail_m - avail_u) <= max(total_u // 100, 512 * MiB),
              "available bytes: expected %d (within 1%% of the total), saw %d" % (avail_u, avail_m))
        check(st.f_bfree >= st.f_bavail, "f_bfree >= f_bavail: saw %d < %d" % (st.f_bfree, st.f_bavail))
        check(st.f_bsize > 0 and st.f_frsize > 0, "block sizes: expected > 0, saw %d/%d" % (st.f_bsize, st.f_frsize))
        eq(st.f_namemax, 255, "f_namemax")


# ------------------------------------------------------------------ fallocate

@test
def fallocate_mode0_grows_with_zeros():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"abc")
        fd = os.open(p, os.O_RDWR)
        fallocate(fd, 0, 0, 2)
        eq(os.fstat(fd).st_size, 3, "size after fallocate inside the file")
        fallocate(fd, 0, 1000, 3 * MiB)
        eq(os.fstat(fd).st_size, 1000 + 3 * MiB, "size after fallocate beyond EOF")
        same_bytes(pread_all(fd, 1000 + 3 * MiB, 0), b"abc" + bytes(997 + 3 * MiB), "content after fallocate")
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * MiB)
        eq(os.fstat(fd).st_size, 1000 + 3 * MiB, "size after fallocate KEEP_SIZE beyond EOF")
        os.pwrite(fd, b"Z", 10)
        os.close(fd)
        same_bytes(read_all(p), b"abc" + bytes(7) + b"Z" + bytes(1000 + 3 * MiB - 11), "content after a write")


@test
def fallocate_punch_hole_keep_size():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        content = data("punch", 4 * MiB)
        write_file(p, content)
        fd = os.open(p, os.O_RDWR)
        exp = bytearray(content)
        for off, n in ((12288, 8192), (MiB - 100, 300), (2 * MiB, MiB), (4 * MiB - 5, 100)):
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, n)
            end = min(off + n, len(exp))
            exp[off:end] = bytes(end - off)
            eq(os.fstat(fd).st_size, 4 * MiB, "size after punching [%d, +%d)" % (off, n))
        same_bytes(pread_all(fd, 4 * MiB, 0), bytes(exp), "content after punching holes")
        raises(errno.EOPNOTSUPP, fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 10, what="PUNCH_HOLE without KEEP_SIZE")
        os.close(fd)
        s.remount()
        same_bytes(read_all(p), bytes(exp), "content after punching holes and remount")


# ------------------------------------------------------------------ sizes

@test
def sparse_file_1tib():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "sparse")
        T = 1 << 40
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        eq(os.pwrite(fd, b"\xa5", T - 1), 1, "bytes written at 1 TiB - 1")
        st = os.fstat(fd)
        eq(st.st_size, T, "size")
        eq(os.pread(fd, 10, T - 1), b"\xa5", "byte at 1 TiB - 1 (read to EOF)")
        eq(os.pread(fd, 4096, T - 4096), bytes(4095) + b"\xa5", "last page")
        for off in (0, 1 << 20, 1 << 39, T - 2 * MiB):
            eq(os.pread(fd, 65536, off), bytes(65536), "zeros at %d" % off)
        eq(os.pread(fd, 10, T), b"", "read at EOF")
        os.close(fd)
        s.remount()
        eq(os.stat(p).st_size, T, "size after remount")
        fd = os.open(p, os.O_RDONLY)
        eq(os.pread(fd, 4096, T - 4096), bytes(4095) + b"\xa5", "last page after remount")
        eq(os.pread(fd, 4096, 1 << 35), bytes(4096), "zeros after remount")
        os.close(fd)
        blocks = os.stat(p).st_blocks
        os.truncate(p, 2 * T)
        eq(os.stat(p).st_size, 2 * T, "size after truncate to 2 TiB")
        os.truncate(p, 0)
        eq(os.stat(p).st_size, 0, "size after truncate to 0")
        check(blocks * 512 <= 16 * MiB, "st_blocks of a sparse 1 TiB file holding 1 byte: expected <= 16 MiB "
              "allocated (as du reports), saw %d bytes" % (blocks * 512))


# ------------------------------------------------------------------ mmap

@test
def mmap_read_matches_file():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        content = data("mm", 5 * MiB + 123)
        write_file(p, content)
        fd = os.open(p, os.O_RDONLY)
        m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
        eq(len(m), len(content), "mapping length")
        same_bytes(m[:], content, "mapped content")
        same_bytes(m[3 * MiB - 7:3 * MiB + 9000], content[3 * MiB - 7:3 * MiB + 9000], "mapped slice")
        m.close()
        os.close(fd)


@test
def mmap_shared_write_persists():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        size = 3 * MiB + 123
        base = data("msw", size)
        write_file(p, base)
        exp = bytearray(base)
        fd = os.open(p, os.O_RDWR)
        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        for i, off in enumerate((0, 4095, MiB - 3, 2 * MiB + 77, size - 50)):
            buf = data(("w", i), 50)
            m[off:off + 50] = buf
            exp[off:off + 50] = buf
        m.flush()
        m.close()
        os.close(fd)
        same_bytes(read_all(p), bytes(exp), "content after mmap writes, msync, munmap, close")
        # a private mapping does not change the file
        fd = os.open(p, os.O_RDWR)
        m = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
        m[0:5] = b"PRIVA"
        m.close()
        os.close(fd)
        drop_caches(3)
        same_bytes(read_all(p), bytes(exp), "content after a private mapping write and dropped caches")
        s.remount()
        same_bytes(read_all(p), bytes(exp), "content after mmap writes and remount")


@test
def mmap_write_to_new_file_after_ftruncate():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.ftruncate(fd, 2 * MiB)
        m = mmap.mmap(fd, 2 * MiB)
        content = data("mnew", 2 * MiB)
        m[:] = content
        m.flush()
        m.close()
        os.fsync(fd)
        os.close(fd)
        s.remount()
        same_bytes(read_all(p), content, "content written only through mmap, after remount")


@test
def write_only_handle_and_cached_reader_stay_coherent():
    """aifs opens O_WRONLY handles direct (no page cache): a reader that holds
    the file open, read or mapped, must still see every write at once."""
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        base = data("coh", 3 * 4096 + 100)
        write_file(p, base)
        exp = bytearray(base)
        r = os.open(p, os.O_RDONLY)
        same_bytes(pread_all(r, len(exp) + 10, 0), bytes(exp), "first read (now cached)")
        m = mmap.mmap(r, len(exp), mmap.MAP_SHARED, mmap.PROT_READ)
        w = os.open(p, os.O_WRONLY)
        os.pwrite(w, b"B" * 100, 50)
        exp[50:150] = b"B" * 100
        same_bytes(pread_all(r, len(exp) + 10, 0), bytes(exp), "read after an overwrite")
        same_bytes(m[:], bytes(exp), "mapping after an overwrite")
        # an append behind the cached, partly filled last page
        a = os.open(p, os.O_WRONLY | os.O_APPEND)
        eq(os.write(a, b"C" * 500), 500, "append")
        exp += b"C" * 500
        eq(os.fstat(r).st_size, len(exp), "size seen by the reader after the append")
        same_bytes(pread_all(r, len(exp) + 10, 0), bytes(exp), "read after an append")
        for fd in (w, a):
            os.close(fd)
        m.close()
        os.close(r)
        # pages cached by a reader that has closed, then a write-only writer
        same_bytes(read_all(p), bytes(exp), "read by a new handle")
        w = os.open(p, os.O_WRONLY)
        os.pwrite(w, b"D" * 10, 4090)
        exp[4090:4100] = b"D" * 10
        os.close(w)
        same_bytes(read_all(p), bytes(exp), "read after a later write-only handle")
        s.remount()
        same_bytes(read_all(p), bytes(exp), "content after remount")


@test
def write_only_handle_drops_security_capability():
    root_only()
    """The kernel drops security.capability on a write; aifs leaves such files
    on the kernel's path rather than opening them direct."""
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"x" * 100)
        cap = bytes([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        os.setxattr(p, "security.capability", cap)
        eq(os.getxattr(p, "security.capability"), cap, "capability set")
        fd = os.open(p, os.O_WRONLY)
        os.pwrite(fd, b"y", 0)
        os.close(fd)
        raises(errno.ENODATA, os.getxattr, p, "security.capability",
               what="getxattr of the capability after a write")


if __name__ == "__main__":
    main()
