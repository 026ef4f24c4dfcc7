"""Data correctness of the read and write paths: what was written is read,
through the page cache, O_DIRECT and mappings, in every area.

Each test here reproduces a case that once returned wrong bytes.
"""

import ctypes
import errno
import mmap
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFS_BIN, AIFSCTL_BIN, Store, check, eq, force_unmount, main,  # noqa: E402
                     mounted, pread_all, raises, run, same_bytes, skip_native, test)

AREAS = ("plain", "datasets", "checkpoints")


def area_dir(s, area):
    """A fresh directory of AREA inside mount S."""
    if area == "plain":
        return s.work("plain")
    d = os.path.join(s.mnt, area, "t")
    os.mkdir(d)
    return d


def direct_read(path, length, offset=0):
    """Read through O_DIRECT into an aligned buffer (whole 4 KiB blocks)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        n = (length + offset % 4096 + 4095) // 4096 * 4096
        buf = mmap.mmap(-1, n)
        got = os.preadv(fd, [buf], offset - offset % 4096)
        start = offset % 4096
        return bytes(buf[start:min(got, start + length)])
    finally:
        os.close(fd)


def two_writes(path, second):
    """The sequence of the report: 64 bytes at 0, 64 more at SECOND, fd kept open."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, b"\xaa" * 64, 0)
    os.pwrite(fd, b"\xbb" * 64, second)
    return fd


def expected_two(second):
    want = bytearray(second + 64)
    want[0:64] = b"\xaa" * 64
    want[second:second + 64] = b"\xbb" * 64
    return bytes(want)


@test
def read_after_two_separate_writes_returns_both():
    with Store() as s:
        for area in AREAS:
            d = area_dir(s, area)
            for second in (1000, 4096, 70000):
                for how in ("cache", "direct"):
                    p = os.path.join(d, "f-%d-%s" % (second, how))
                    fd = two_writes(p, second)
                    want = expected_two(second)
                    if how == "cache":
                        eq(os.pread(fd, 1, 0), b"\xaa", "%s: pread of byte 0 after writes at 0 and %d"
                           % (area, second))
                        same_bytes(pread_all(fd, len(want) + 10, 0), want,
                                   "%s: pread of %s while the writer is open" % (area, p))
                    else:
                        same_bytes(direct_read(p, len(want)), want,
                                   "%s: O_DIRECT read of %s while the writer is open" % (area, p))
                    os.close(fd)
                    # the kernel keeps pages across opens: a later open sees them
                    with open(p, "rb") as f:
                        same_bytes(f.read(), want, "%s: read after close of %s" % (area, p))


@test
def read_after_flush_between_writes_returns_both():
    with Store() as s:
        for area in AREAS:
            d = area_dir(s, area)
            for second in (1000, 4096):
                p = os.path.join(d, "g-%d" % second)
                fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                os.pwrite(fd, b"\xaa" * 64, 0)
                os.fsync(fd)
                os.pwrite(fd, b"\xbb" * 64, second)
                want = expected_two(second)
                same_bytes(pread_all(fd, len(want), 0), want, "%s: pread after fsync between writes" % area)
                same_bytes(direct_read(p, len(want)), want, "%s: O_DIRECT read after fsync" % area)
                os.fsync(fd)
                os.pwrite(fd, b"\xcc" * 10, 3 * second)
                want = bytearray(want) + bytes(3 * second - len(want)) + b"\xcc" * 10
                same_bytes(pread_all(fd, len(want), 0), bytes(want), "%s: third write apart" % area)
                os.close(fd)
        s.remount()
        for area in AREAS:
            d = os.path.join(s.mnt, "plain") if area == "plain" else os.path.join(s.mnt, area, "t")
            for second in (1000, 4096):
                want = bytearray(expected_two(second))
                want += bytes(3 * second - len(want)) + b"\xcc" * 10
                with open(os.path.join(d, "g-%d" % second), "rb") as f:
                    same_bytes(f.read(), bytes(want), "%s: after remount" % area)


@test
def inline_file_reopened_and_written_apart_keeps_its_start():
    with Store() as s:
        for area in AREAS:
            d = area_dir(s, area)
            p = os.path.join(d, "small")
            with open(p, "wb") as f:
                f.write(b"\x11" * 100)
            fd = os.open(p, os.O_RDWR)
            os.pwrite(fd, b"\x22" * 8, 9000)
            want = b"\x11" * 100 + bytes(8900) + b"\x22" * 8
            same_bytes(pread_all(fd, len(want), 0), want, "%s: inline file written apart" % area)
            os.close(fd)
            same_bytes(direct_read(p, len(want)), want, "%s: O_DIRECT after close" % area)


@test
def mapped_read_modify_write_keeps_real_data():
    with Store() as s:
        for area in AREAS:
            d = area_dir(s, area)
            p = os.path.join(d, "m")
            fd = two_writes(p, 1000)
            os.ftruncate(fd, 8192)
            m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            eq(m[0:4], b"\xaa" * 4, "%s: mapped bytes 0-3" % area)
            # a write whose source is the mapping of the same file
            n = os.pwritev(fd, [memoryview(m)[0:64]], 4096)
            eq(n, 64, "%s: pwritev from the mapping" % area)
            m[5000:5004] = b"\xdd" * 4
            m.flush()
            m.close()
            want = bytearray(8192)
            want[0:64] = b"\xaa" * 64
            want[1000:1064] = b"\xbb" * 64
            want[4096:4160] = b"\xaa" * 64
            want[5000:5004] = b"\xdd" * 4
            same_bytes(pread_all(fd, 8192, 0), bytes(want), "%s: after mapped writes" % area)
            os.close(fd)
            same_bytes(direct_read(p, 8192), bytes(want), "%s: O_DIRECT after close" % area)


# ------------------------------------------------ fallocate and size limits

FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x1, 0x2
FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_INSERT_RANGE = 0x8, 0x10, 0x20
_libc = ctypes.CDLL(None, use_errno=True)


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def avail(path):
    sv = os.statvfs(path)
    return sv.f_bavail * sv.f_frsize


class SmallStore:
    """A store on a tmpfs of SIZE MiB of its own (no other writer moves its
    free space), mounted at self.mnt; the same attributes as harness.Store."""

    def __init__(self, size_mb):
        self.size_mb = size_mb

    def __enter__(self):
        self.base = tempfile.mkdtemp(prefix="aifs-small-")
        rc, out = run(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.size_mb, "tmpfs", self.base])
        check(rc == 0, "mount tmpfs: %s" % out)
        self.store, self.mnt = os.path.join(self.base, "store"), os.path.join(self.base, "mnt")
        os.mkdir(self.mnt)
        rc, out = run([AIFSCTL_BIN, "mkfs", self.store])
        check(rc == 0, "mkfs: %s" % out)
        self.mount()
        return self

    def mount(self):
        rc, out = run([AIFS_BIN, self.store, self.mnt, "-o", "allow_other"])
        check(rc == 0, "mount: %s" % out)

    def unmount(self):
        rc, out = run(["umount", self.mnt])
        check(rc == 0, "umount: %s" % out)
        for _ in range(200):    # the daemon exits after the unmount returns
            if run(["sh", "-c", "pgrep -f 'aifs %s ' >/dev/null" % self.store])[0] != 0:
                return
            time.sleep(0.05)

    def remount(self):
        self.unmount()
        self.mount()

    def work(self, name="t"):
        p = os.path.join(self.mnt, name)
        os.mkdir(p)
        return p

    def __exit__(self, *exc):
        if mounted(self.mnt):
            force_unmount(self.mnt)
        for _ in range(100):
            if run(["umount", self.base])[0] == 0:
                break
            time.sleep(0.1)
        shutil.rmtree(self.base, ignore_errors=True)
        return False


@test
def fallocate_reserves_what_it_promises():
    skip_native()
    with SmallStore(256) as s:
        for area in AREAS:
            d = area_dir(s, area)
            p = os.path.join(d, "r")
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
            before = avail(s.mnt)
            fallocate(fd, 0, 0, 8 << 20)
            st = os.fstat(fd)
            eq(st.st_size, 8 << 20, "%s: size after fallocate of 8 MiB" % area)
            check(st.st_blocks * 512 >= 8 << 20, "%s: st_blocks after fallocate of 8 MiB: expected "
                  ">= %d bytes, saw %d" % (area, 8 << 20, st.st_blocks * 512))
            check(avail(s.mnt) <= before - (7 << 20), "%s: statfs free space after reserving 8 MiB: "
                  "expected <= %d, saw %d" % (area, before - (7 << 20), avail(s.mnt)))
            raises(errno.ENOSPC, fallocate, fd, 0, 0, 2 * before, what="%s: fallocate of twice the free space" % area)
            fallocate(fd, FALLOC_FL_KEEP_SIZE, 8 << 20, 1 << 20)
            eq(os.fstat(fd).st_size, 8 << 20, "%s: size after KEEP_SIZE fallocate" % area)
            check(os.fstat(fd).st_blocks * 512 >= 9 << 20, "%s: st_blocks after KEEP_SIZE" % area)
            # writes consume the reservation: blocks stay what was promised
            pwrite_all_data(fd, b"\x5a" * (4 << 20), 0)
            os.fsync(fd)
            check(os.fstat(fd).st_blocks * 512 < 10 << 20, "%s: written bytes counted twice in st_blocks" % area)
            same_bytes(pread_all(fd, 8 << 20, 0), b"\x5a" * (4 << 20) + bytes(4 << 20),
                       "%s: content after fallocate and write" % area)
            os.close(fd)
        s.remount()
        p = os.path.join(s.mnt, "plain", "r")
        check(os.stat(p).st_blocks * 512 >= 9 << 20, "st_blocks of a reservation after remount: saw %d"
              % (os.stat(p).st_blocks * 512))
        for area in AREAS:
            os.unlink(os.path.join(s.mnt, "plain", "r") if area == "plain" else
                      os.path.join(s.mnt, area, "t", "r"))


@test
def unlink_gives_a_reservation_back():
    skip_native()
    with SmallStore(128) as s:
        d = s.work()
        room = avail(s.mnt)
        fd = os.open(os.path.join(d, "a"), os.O_RDWR | os.O_CREAT, 0o644)
        fallocate(fd, 0, 0, room * 3 // 4)
        os.close(fd)
        fd = os.open(os.path.join(d, "b"), os.O_RDWR | os.O_CREAT, 0o644)
        raises(errno.ENOSPC, fallocate, fd, 0, 0, room * 3 // 4,
               what="a second fallocate of 3/4 of the free space")
        os.close(fd)
        s.remount()     # the reservation is durable
        fd2 = os.open(os.path.join(d, "b"), os.O_RDWR)
        raises(errno.ENOSPC, fallocate, fd2, 0, 0, room * 3 // 4,
               what="the second fallocate after a remount")
        os.unlink(os.path.join(d, "a"))
        fallocate(fd2, 0, 0, room * 3 // 4)
        eq(os.fstat(fd2).st_size, room * 3 // 4, "size after the fallocate that unlink made room for")
        os.close(fd2)


def pwrite_all_data(fd, buf, off):
    view = memoryview(buf)
    while view:
        n = os.pwrite(fd, view, off)
        view, off = view[n:], off + n


@test
def fallocated_range_stays_writable_on_a_full_store():
    """A 96 MiB store: 40 MiB reserved by one file; another file fills the
    rest and gets ENOSPC; the reserved 40 MiB are still written in full."""
    skip_native()
    with SmallStore(96) as s:
        mnt = s.mnt
        a = os.open(os.path.join(mnt, "a"), os.O_RDWR | os.O_CREAT, 0o644)
        fallocate(a, 0, 0, 40 << 20)
        b = os.open(os.path.join(mnt, "b"), os.O_RDWR | os.O_CREAT, 0o644)
        wrote, err = 0, None
        try:
            while wrote < 200:
                os.write(b, os.urandom(1 << 20))
                wrote += 1
                if wrote % 4 == 0:
                    os.fsync(b)
            os.fsync(b)
        except OSError as e:
            err = e.errno
        try:
            os.close(b)
        except OSError:
            pass
        eq(err, errno.ENOSPC, "writing a second file until the store is full (after %d MiB)" % wrote)
        want = os.urandom(1 << 20)
        for i in range(40):
            pwrite_all_data(a, want, i << 20)
        os.fsync(a)
        os.close(a)
        with open(os.path.join(mnt, "a"), "rb") as f:
            for i in range(40):
                same_bytes(f.read(1 << 20), want, "reserved file, MiB %d" % i)


@test
def truncate_and_write_agree_on_the_largest_size():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "big")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        raises(errno.EFBIG, os.ftruncate, fd, 2 ** 63 - 1, what="ftruncate to 2^63-1")
        eq(os.fstat(fd).st_size, 0, "size after a refused truncate")
        limit = 1 << 62
        os.ftruncate(fd, limit)
        eq(os.fstat(fd).st_size, limit, "size after ftruncate to the limit")
        eq(os.pwrite(fd, b"z", limit - 1), 1, "write of the last byte below the limit")
        eq(os.pread(fd, 1, limit - 1), b"z", "read of the last byte")
        raises(errno.EFBIG, os.pwrite, fd, b"z", limit, what="write past the limit")
        raises(errno.EFBIG, fallocate, fd, 0, limit, 4096, what="fallocate past the limit")
        os.close(fd)


@test
def fallocate_zero_range_and_unsupported_modes():
    with Store() as s:
        for area in AREAS:
            d = area_dir(s, area)
            p = os.path.join(d, "z")
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
            data = bytes(range(256)) * 64       # 16 KiB
            pwrite_all_data(fd, data, 0)
            fallocate(fd, FALLOC_FL_ZERO_RANGE, 1000, 5000)
            want = data[:1000] + bytes(5000) + data[6000:]
            same_bytes(pread_all(fd, 20000, 0), want, "%s: after ZERO_RANGE inside the file" % area)
            fallocate(fd, FALLOC_FL_ZERO_RANGE, 16000, 4000)
            eq(os.fstat(fd).st_size, 20000, "%s: size after ZERO_RANGE past the end" % area)
            fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 20000, 4000)
            eq(os.fstat(fd).st_size, 20000, "%s: size after ZERO_RANGE|KEEP_SIZE" % area)
            want = want[:16000] + bytes(4000)
            same_bytes(pread_all(fd, 30000, 0), want, "%s: content after ZERO_RANGE" % area)
            os.close(fd)
            same_bytes(direct_read(p, 30000), want, "%s: O_DIRECT after close" % area)
            fd = os.open(p, os.O_RDWR)
            # Linux's FUSE client refuses these two modes itself (they never
            # reach a FUSE daemon): pin the errno so a change is noticed.
            for mode in (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE):
                raises(errno.EOPNOTSUPP, fallocate, fd, mode, 4096, 4096,
                       what="%s: fallocate mode 0x%x" % (area, mode))
            os.close(fd)


# -------------------------------------------- direct AIO writes vs readers

IOCB_CMD_PWRITE = 1
SYS_IO_SETUP, SYS_IO_DESTROY, SYS_IO_GETEVENTS, SYS_IO_SUBMIT = 206, 207, 208, 209
FILE_LEN = 640 << 10
CHUNK = 64 << 10
ROUNDS = 60


class Aio:
    """Linux native AIO through raw system calls (no libaio needed)."""

    def __init__(self, depth):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.ctx = ctypes.c_ulong(0)
        if self.libc.syscall(SYS_IO_SETUP, depth, ctypes.byref(self.ctx)) < 0:
            raise OSError(ctypes.get_errno(), "io_setup")

    def pwrite_all(self, fd, bufs):
        """Submit one write per (offset, buffer) at once and wait for all of them."""
        iocbs = []
        for i, (off, buf) in enumerate(bufs):
            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            iocbs.append(struct.pack("<QIiHhIQQqQII", i, 0, 0, IOCB_CMD_PWRITE, 0, fd,
                                     addr, len(buf), off, 0, 0, 0))
        raw = [ctypes.create_string_buffer(b, 64) for b in iocbs]
        ptrs = (ctypes.c_void_p * len(raw))(*[ctypes.addressof(r) for r in raw])
        n = self.libc.syscall(SYS_IO_SUBMIT, self.ctx, len(raw), ptrs)
        if n != len(raw):
            raise OSError(ctypes.get_errno(), "io_submit: %d of %d" % (n, len(raw)))
        events = ctypes.create_string_buffer(32 * len(raw))
        done = 0
        while done < len(raw):
            got = self.libc.syscall(SYS_IO_GETEVENTS, self.ctx, 1, len(raw) - done,
                                    ctypes.byref(events, 32 * done), None)
            if got < 0:
                raise OSError(ctypes.get_errno(), "io_getevents")
            for k in range(done, done + got):
                res = struct.unpack_from("<QQqq", events.raw, 32 * k)[2]
                if res != CHUNK:
                    raise OSError(-res if res < 0 else 5, "AIO write result %d" % res)
            done += got

    def close(self):
        self.libc.syscall(SYS_IO_DESTROY, self.ctx)


def reader(path, published, stop, out, ready):
    """Read the file through the page cache until told to stop; report a chunk
    older than the round the writer had completed before the read began."""
    fd = os.open(path, os.O_RDONLY)
    ready.release()
    try:
        while not stop.value:
            floor = published.value
            data = pread_all(fd, FILE_LEN, 0)
            for c in range(FILE_LEN // CHUNK):
                r = struct.unpack_from("<I", data, c * CHUNK)[0]
                # one round of slack: the writer's invalidation of round N is
                # sent after its reply, so only a read begun after round N+1
                # completed must see at least N.
                if r + 1 < floor:
                    out.put("chunk at %d read round %d after round %d was complete"
                            % (c * CHUNK, r, floor))
                    return
        out.put(None)
    finally:
        os.close(fd)


@test
def buffered_readers_see_direct_aio_rewrites():
    skip_native()
    with Store() as s:
        for area in AREAS:
            d = area_dir(s, area)
            for wflags in (os.O_RDWR, os.O_WRONLY):
                aio_rounds(os.path.join(d, "aio%d" % wflags), wflags, area)


def aio_rounds(p, wflags, area):
    """ROUNDS rewrites of P through O_DIRECT AIO (opened with WFLAGS) while
    four processes read it through the page cache."""
    with open(p, "wb") as f:
        f.write(b"".join(struct.pack("<I", 0) + bytes(CHUNK - 4) for _ in range(FILE_LEN // CHUNK)))
    published = multiprocessing.Value("i", 0)
    stop = multiprocessing.Value("i", 0)
    out = multiprocessing.Queue()
    ready = multiprocessing.Semaphore(0)
    procs = [multiprocessing.Process(target=reader, args=(p, published, stop, out, ready))
             for _ in range(4)]
    for pr in procs:
        pr.start()
    # open before the writer: in a checkpoint area a later open reads the
    # last committed version for the whole write session, by design
    for _ in procs:
        check(ready.acquire(timeout=60), "a reader did not open %s" % p)
    aio = Aio(FILE_LEN // CHUNK)
    fd = os.open(p, wflags | os.O_DIRECT)
    bufs = [mmap.mmap(-1, CHUNK) for _ in range(FILE_LEN // CHUNK)]
    try:
        for rnd in range(1, ROUNDS + 1):
            for b in bufs:
                b[0:4] = struct.pack("<I", rnd)
            aio.pwrite_all(fd, [(c * CHUNK, bufs[c]) for c in range(len(bufs))])
            published.value = rnd
    finally:
        stop.value = 1
        os.close(fd)
        aio.close()
        results = [out.get(timeout=120) for _ in procs]
        for pr in procs:
            pr.join(60)
    bad = [r for r in results if r]
    check(not bad, "%s (flags %o): a buffered reader saw stale data: %s" % (area, wflags, bad[:2]))
    with open(p, "rb") as f:
        data = f.read()
    for c in range(FILE_LEN // CHUNK):
        eq(struct.unpack_from("<I", data, c * CHUNK)[0], ROUNDS,
           "%s: round stored in chunk %d after the last write" % (area, c))


if __name__ == "__main__":
    main()
