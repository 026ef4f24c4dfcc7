"""A randomized model test of file content, in the spirit of fsx: a mix of
buffered, O_DIRECT and mapped writes, truncates, fallocate modes, copy_file_range
(from a second file and within the file: shared data, see test_reflink.py) and reads
on one file, checked against an in-memory model of the file after every
operation, in every area that allows rewriting (plain, dataset, checkpoint).

AIFS_FSX_SECONDS (default 60) is the run time per area; AIFS_FSX_SEED
replays a run (the seed is printed). On a mismatch the last operations are
printed with the first differing offset.
"""

import ctypes
import errno
import mmap
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NATIVE, Store, check, fail, main, test  # noqa: E402

SECONDS = float(os.environ.get("AIFS_FSX_SECONDS", "60"))
MAXLEN = (4 << 20) + (96 << 10)    # crosses the 4 MiB write buffer
BLOCK = 4096
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE = 0x1, 0x2, 0x10
_libc = ctypes.CDLL(None, use_errno=True)


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Fsx:
    def __init__(self, path, rng):
        self.path = path
        self.rng = rng
        self.model = bytearray()
        self.log = []
        self.fd = self.dfd = -1
        self.ops = 0
        self.scale = MAXLEN
        # the source of copies: a second file whose content never changes
        self.gpath = path + ".src"
        self.gmodel = bytes(rng.randrange(256) for _ in range(4096)) * 512
        with open(self.gpath, "wb") as g:
            g.write(self.gmodel)
        self.gfd = -1
        self.open()

    # ------------------------------------------------------------ plumbing
    def open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        # O_RDWR: in a checkpoint area a read-only open during the write
        # session would read the last committed version, by design.
        self.dfd = os.open(self.path, os.O_RDWR | os.O_DIRECT)
        self.gfd = os.open(self.gpath, os.O_RDONLY)

    def close(self):
        os.close(self.gfd)
        os.close(self.dfd)
        os.close(self.fd)

    def note(self, text):
        self.log.append("%d: %s" % (self.ops, text))
        del self.log[:-20]

    def mismatch(self, what, seen, off):
        want = bytes(self.model[off:off + len(seen)])
        n = min(len(seen), len(want))
        i = next((k for k in range(n) if seen[k] != want[k]), n)
        detail = ("first difference at offset %d: expected 0x%02x, saw 0x%02x" %
                  (off + i, want[i], seen[i]) if i < n else
                  "expected %d bytes, saw %d" % (len(want), len(seen)))
        fail("%s: %s (file size %d); last operations: %s" % (
            what, detail, len(self.model), " | ".join(self.log)))

    def pattern(self, length):
        seed = self.ops & 0xff
        return bytes((seed + i * 7) & 0xff for i in range(min(length, 251))) * \
            (length // 251 + 1)

    # ----------------------------------------------------------- operations
    def offset(self):
        """Where the next write goes: the start, the end, or anywhere."""
        r = self.rng.random()
        if r < 0.15:
            return 0
        if r < 0.35:
            return min(len(self.model), MAXLEN - 1)
        return self.rng.randrange(self.scale)

    def write(self):
        off = self.offset()
        length = self.rng.randrange(1, min(64 << 10, self.scale))
        length = min(length, MAXLEN - off) or 1
        data = self.pattern(length)[:length]
        self.note("write %d+%d" % (off, length))
        n = os.pwrite(self.fd, data, off)
        check(n == length, "pwrite returned %d of %d" % (n, length))
        self.apply(off, data)

    def dwrite(self):
        off = self.rng.randrange(max(1, self.scale // BLOCK)) * BLOCK
        length = self.rng.randrange(1, 17) * BLOCK
        length = min(length, MAXLEN - off)
        buf = mmap.mmap(-1, length)
        data = self.pattern(length)[:length]
        buf[:] = data
        self.note("dwrite %d+%d" % (off, length))
        n = os.pwritev(self.dfd, [buf], off)
        check(n == length, "O_DIRECT pwritev returned %d of %d" % (n, length))
        self.apply(off, data)

    def mapwrite(self):
        size = len(self.model)
        if size == 0:
            return self.write()
        off = self.rng.randrange(size)
        length = min(self.rng.randrange(1, 32 << 10), size - off)
        data = self.pattern(length)[:length]
        self.note("mapwrite %d+%d" % (off, length))
        m = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            m[off:off + length] = data
            m.flush()
        finally:
            m.close()
        self.apply(off, data)

    def truncate(self):
        # small files live inline in the metadata until they grow: visit
        # every size class, from empty to past the write buffer
        if self.rng.random() < 0.3:
            self.scale = self.rng.choice((4096, 8192, 64 << 10, MAXLEN))
        size = self.rng.choice((0, self.rng.randrange(self.scale)))
        self.note("truncate %d" % size)
        os.ftruncate(self.fd, size)
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    def falloc(self):
        mode = self.rng.choice((0, KEEP_SIZE, PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE,
                                ZERO_RANGE | KEEP_SIZE))
        off = self.rng.randrange(self.scale)
        length = min(self.rng.randrange(1, min(256 << 10, self.scale)), MAXLEN - off) or 1
        self.note("fallocate mode 0x%x %d+%d" % (mode, off, length))
        try:
            fallocate(self.fd, mode, off, length)
        except OSError as e:
            if NATIVE and e.errno == errno.EOPNOTSUPP:
                return
            raise
        end = off + length
        size = len(self.model)
        if mode & (PUNCH_HOLE | ZERO_RANGE):
            zend = min(end, size)
            if off < zend:
                self.model[off:zend] = bytes(zend - off)
        if not (mode & KEEP_SIZE) and end > size:
            self.model.extend(bytes(end - size))

    def copyrange(self):
        """copy_file_range from the second file, or within this one (ranges apart)."""
        own = len(self.model) > 1 and self.rng.random() < 0.5
        src_fd, src = (self.fd, bytes(self.model)) if own else (self.gfd, self.gmodel)
        soff = self.rng.randrange(len(src))
        length = min(self.rng.randrange(1, min(512 << 10, self.scale) + 1), len(src) - soff)
        doff = self.offset()
        length = min(length, MAXLEN - doff)
        if length <= 0 or (own and soff < doff + length and doff < soff + length):
            return
        self.note("copy_file_range %s %d+%d to %d" % ("self" if own else "src", soff, length,
                                                      doff))
        done = 0
        while done < length:
            n = os.copy_file_range(src_fd, self.fd, length - done, soff + done, doff + done)
            check(n > 0, "copy_file_range returned %d after %d of %d bytes" % (n, done, length))
            done += n
        self.apply(doff, src[soff:soff + length])

    def apply(self, off, data):
        if off > len(self.model):
            self.model.extend(bytes(off - len(self.model)))
        self.model[off:off + len(data)] = data

    def reopen(self):
        self.note("close and reopen")
        self.close()
        self.open()

    def fsync(self):
        self.note("fsync")
        os.fsync(self.fd)

    # ---------------------------------------------------------------- checks
    def check_size(self):
        size = os.fstat(self.fd).st_size
        if size != len(self.model):
            fail("size: expected %d, saw %d; last operations: %s" % (
                len(self.model), size, " | ".join(self.log)))

    def read(self, off=None, length=None):
        if off is None:
            off = self.rng.randrange(self.scale)
            length = self.rng.randrange(1, 128 << 10)
        seen = b""
        while True:
            b = os.pread(self.fd, length - len(seen), off + len(seen))
            if not b:
                break
            seen += b
            if len(seen) == length:
                break
        want_len = max(0, min(length, len(self.model) - off))
        if len(seen) != want_len or seen != self.model[off:off + want_len]:
            self.mismatch("read %d+%d" % (off, length), seen, off)

    def dread(self):
        off = self.rng.randrange(max(1, self.scale // BLOCK)) * BLOCK
        length = self.rng.randrange(1, 33) * BLOCK
        buf = mmap.mmap(-1, length)
        n = os.preadv(self.dfd, [buf], off)
        seen = bytes(buf[:n])
        want_len = max(0, min(length, len(self.model) - off))
        if n != want_len or seen != self.model[off:off + want_len]:
            self.mismatch("O_DIRECT read %d+%d" % (off, length), seen, off)

    def mapread(self):
        size = len(self.model)
        if size == 0:
            return
        m = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        try:
            off = self.rng.randrange(size)
            length = min(self.rng.randrange(1, 64 << 10), size - off)
            seen = m[off:off + length]
        finally:
            m.close()
        if seen != self.model[off:off + length]:
            self.mismatch("mapped read %d+%d" % (off, length), seen, off)

    def full(self):
        self.check_size()
        self.read(0, len(self.model) + 10)

    def step(self):
        self.ops += 1
        op = self.rng.choices(
            (self.write, self.dwrite, self.mapwrite, self.truncate, self.falloc,
             self.read, self.dread, self.mapread, self.reopen, self.fsync, self.copyrange),
            weights=(30, 12, 8, 6, 8, 14, 8, 6, 4, 4, 6))[0]
        op()
        self.check_size()
        if self.ops % 25 == 0:
            self.full()


def run_area(area, seed):
    print("# %s: seed %d (AIFS_FSX_SEED replays it)" % (area, seed), flush=True)
    rng = random.Random(seed)
    with Store() as s:
        d = s.work("plain") if area == "plain" else os.path.join(s.mnt, area, "fsx")
        if area != "plain":
            os.makedirs(d)
        f = Fsx(os.path.join(d, "f"), rng)
        deadline = time.time() + SECONDS
        try:
            while time.time() < deadline:
                f.step()
            f.full()
            f.close()
        except BaseException:
            try:
                f.close()
            except OSError:
                pass
            raise
        # the content survives the end of the session and a remount
        with open(f.path, "rb") as fh:
            seen = fh.read()
        if seen != f.model:
            f.mismatch("read after close", seen, 0)
        s.remount()
        with open(f.path, "rb") as fh:
            seen = fh.read()
        if seen != f.model:
            f.mismatch("read after remount", seen, 0)
        print("# %s: %d operations, seed %d, final size %d" % (area, f.ops, seed, len(f.model)),
              flush=True)


def seed():
    return int(os.environ.get("AIFS_FSX_SEED") or random.SystemRandom().randrange(1 << 31))


@test
def fsx_plain():
    run_area("plain", seed())


@test
def fsx_dataset():
    run_area("datasets", seed())


@test
def fsx_checkpoint():
    run_area("checkpoints", seed())


if __name__ == "__main__":
    main()
