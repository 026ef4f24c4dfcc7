#!/usr/bin/python3
"""Random-operation stress test that verifies every byte against an in-memory model.

A few files, each with a bytearray model; thousands of operations (pwrite at
random offsets and lengths including beyond EOF, pread, ftruncate up and down,
mmap reads, shared mmap writes, close/reopen, O_APPEND writes, fsync, dropped
caches, and in aifs mode unmount+remount), each read compared with the model.

AIFS_STRESS_SEED=N replays a run; AIFS_STRESS_OPS (default 40000) and
AIFS_STRESS_SECONDS (default 55) bound it.  The seed is always printed; a
mismatch reports seed, operation index, offset and the first differing byte.
"""

import collections
import mmap
import os
import random
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NATIVE, Fail, Store, main, pread_all, pwrite_all, test  # noqa: E402

MiB = 1 << 20
MAX_SIZE = 8 * MiB
NFILES = 4


class Run:
    def __init__(self, s, seed):
        self.s = s
        self.seed = seed
        self.rnd = random.Random(seed)
        self.d = s.work("stress")
        self.paths = [os.path.join(self.d, "f%d" % i) for i in range(NFILES)]
        self.models = [bytearray() for _ in range(NFILES)]
        self.fds = [None] * NFILES
        self.opi = -1
        self.recent = collections.deque(maxlen=25)
        self.counts = collections.Counter()
        for i in range(NFILES):
            self.fds[i] = os.open(self.paths[i], os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)

    # -- reporting
    def note(self, text):
        self.recent.append("op %d: %s" % (self.opi, text))

    def compare(self, got, exp, what, off):
        if got == exp:
            return
        n = min(len(got), len(exp))
        i = next((k for k in range(n) if got[k] != exp[k]), n)
        if i < n:
            detail = "first differing byte at file offset %d: expected 0x%02x, saw 0x%02x" % (off + i, exp[i], got[i])
        else:
            detail = "length: expected %d bytes, saw %d (first %d equal)" % (len(exp), len(got), n)
        print("# recent operations:\n#   " + "\n#   ".join(self.recent), flush=True)
        raise Fail("seed %d, op %d: %s at offset %d: %s" % (self.seed, self.opi, what, off, detail))

    # -- helpers
    def fd(self, i):
        if self.fds[i] is None:
            self.fds[i] = os.open(self.paths[i], os.O_RDWR)
        return self.fds[i]

    def buf(self, n):
        return self.rnd.randbytes(n)

    def length(self):
        r = self.rnd.random()
        if r < 0.3:
            return self.rnd.randint(1, 64)
        if r < 0.6:
            return self.rnd.randint(1, 8192)
        if r < 0.9:
            return self.rnd.randint(1, 262144)
        return self.rnd.randint(1, 1536 * 1024)

    def offset(self, size, n):
        r = self.rnd.random()
        if r < 0.15 or size == 0:
            off = size + self.rnd.randint(0, 300000)          # beyond EOF: a hole
        elif r < 0.25:
            off = size                                          # exactly at EOF
        else:
            off = self.rnd.randint(0, size)
        if self.rnd.random() < 0.3:
            off -= off % 4096                                   # page aligned
        return max(0, min(off, MAX_SIZE - n))

    @staticmethod
    def put(model, off, b):
        if len(model) < off:
            model.extend(bytes(off - len(model)))
        model[off:off + len(b)] = b

    # -- operations
    def op_pwrite(self, i):
        n = self.length()
        off = self.offset(len(self.models[i]), n)
        b = self.buf(n)
        self.note("pwrite f%d off=%d len=%d" % (i, off, n))
        pwrite_all(self.fd(i), b, off)
        self.put(self.models[i], off, b)

    def op_pread(self, i):
        m = self.models[i]
        off = self.rnd.randint(0, len(m) + 100)
        n = self.length()
        self.note("pread f%d off=%d len=%d (size %d)" % (i, off, n, len(m)))
        self.compare(pread_all(self.fd(i), n, off), bytes(m[off:off + n]), "pread f%d len %d" % (i, n), off)

    def op_truncate(self, i):
        m = self.models[i]
        r = self.rnd.random()
        if r < 0.4:
            new = self.rnd.randint(0, len(m))
        elif r < 0.5:
            new = 0
        else:
            new = min(MAX_SIZE, len(m) + self.rnd.randint(0, 2 * MiB))
        self.note("ftruncate f%d %d -> %d" % (i, len(m), new))
        os.ftruncate(self.fd(i), new)
        if new < len(m):
            del m[new:]
        else:
            m.extend(bytes(new - len(m)))

    def op_mmap_read(self, i):
        m = self.models[i]
        if not m:
            return
        off = self.rnd.randint(0, len(m) - 1)
        n = self.rnd.randint(1, len(m) - off)
        self.note("mmap read f%d off=%d len=%d" % (i, off, n))
        mm = mmap.mmap(self.fd(i), len(m), mmap.MAP_SHARED, mmap.PROT_READ)
        try:
            self.compare(mm[off:off + n], bytes(m[off:off + n]), "mmap read f%d len %d" % (i, n), off)
        finally:
            mm.close()

    def op_mmap_write(self, i):
        m = self.models[i]
        if not m:
            return
        mm = mmap.mmap(self.fd(i), len(m), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            for _ in range(self.rnd.randint(1, 4)):
                off = self.rnd.randint(0, len(m) - 1)
                n = self.rnd.randint(1, min(len(m) - off, 200000))
                b = self.buf(n)
                self.note("mmap write f%d off=%d len=%d" % (i, off, n))
                mm[off:off + n] = b
                m[off:off + n] = b
            if self.rnd.random() < 0.5:
                self.note("msync f%d" % i)
                mm.flush()
        finally:
            mm.close()

    def op_reopen(self, i):
        self.note("close+reopen f%d" % i)
        if self.fds[i] is not None:
            os.close(self.fds[i])
            self.fds[i] = None
        if self.rnd.random() < 0.3:
            self.note("verify whole f%d after reopen" % i)
            self.verify_file(i, "whole file after reopen")

    def op_append(self, i):
        n = self.length()
        n = min(n, MAX_SIZE - len(self.models[i]))
        if n <= 0:
            return
        b = self.buf(n)
        self.note("O_APPEND write f%d len=%d at %d" % (i, n, len(self.models[i])))
        afd = os.open(self.paths[i], os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(b)
            while view:
                view = view[os.write(afd, view):]
        finally:
            os.close(afd)
        self.models[i].extend(b)

    def op_fsync(self, i):
        self.note("fsync f%d" % i)
        os.fsync(self.fd(i))

    def op_fstat(self, i):
        self.note("fstat f%d" % i)
        size = os.fstat(self.fd(i)).st_size
        if size != len(self.models[i]):
            raise Fail("seed %d, op %d: size of f%d: expected %d, saw %d" % (self.seed, self.opi, i, len(self.models[i]), size))

    def op_drop_caches(self, i):
        self.note("drop caches")
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")

    def op_remount(self, i):
        self.note("close all, remount, verify all")
        self.close_all()
        self.s.remount()
        self.verify_all("after remount")

    # -- whole-file checks
    def verify_file(self, i, what):
        m = self.models[i]
        fd = os.open(self.paths[i], os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size != len(m):
                raise Fail("seed %d, op %d: %s: size of f%d: expected %d, saw %d" % (self.seed, self.opi, what, i, len(m), size))
            self.compare(pread_all(fd, len(m) + 1, 0), bytes(m), "%s f%d" % (what, i), 0)
        finally:
            os.close(fd)

    def verify_all(self, what):
        for i in range(NFILES):
            self.verify_file(i, what)

    def close_all(self):
        for i, fd in enumerate(self.fds):
            if fd is not None:
                os.close(fd)
                self.fds[i] = None


OPS = [("pwrite", 30), ("pread", 25), ("truncate", 6), ("mmap_read", 6), ("mmap_write", 6),
       ("reopen", 6), ("append", 6), ("fsync", 4), ("fstat", 6), ("drop_caches", 0.5),
       ("remount", 0 if NATIVE else 0.15)]


@test
def random_operations_match_in_memory_model():
    seed = int(os.environ.get("AIFS_STRESS_SEED", random.randrange(1 << 32)))
    nops = int(os.environ.get("AIFS_STRESS_OPS", "40000"))
    budget = float(os.environ.get("AIFS_STRESS_SECONDS", "55"))
    print("# random_operations_match_in_memory_model: seed %d (AIFS_STRESS_SEED=%d to replay)" % (seed, seed), flush=True)
    names = [n for n, _ in OPS]
    weights = [w for _, w in OPS]
    with Store() as s:
        r = Run(s, seed)
        t0 = time.time()
        try:
            for r.opi in range(nops):
                if time.time() - t0 > budget:
                    break
                name = r.rnd.choices(names, weights)[0]
                i = r.rnd.randrange(NFILES)
                r.counts[name] += 1
                try:
                    getattr(r, "op_" + name)(i)
                except OSError as e:
                    print("# recent operations:\n#   " + "\n#   ".join(r.recent), flush=True)
                    raise Fail("seed %d, op %d (%s f%d): unexpected error %s" % (seed, r.opi, name, i, e))
            r.opi += 1
            r.note("final verify")
            r.close_all()
            r.verify_all("final")
            s.remount()
            r.verify_all("final, after remount")
        finally:
            r.close_all()
        print("# %d operations in %.1fs (seed %d): %s; final sizes %s" % (
            r.opi, time.time() - t0, seed, dict(sorted(r.counts.items())),
            [len(m) for m in r.models]), flush=True)


if __name__ == "__main__":
    main()
