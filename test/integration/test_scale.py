#!/usr/bin/python3
"""Scale: a 20,000-entry directory, concurrent writers, a 1 GiB random-offset file."""

import multiprocessing
import os
import random
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Store, data, eq, main, pread_all, pwrite_all, read_all,  # noqa: E402
                     same_bytes, test)

MiB = 1 << 20
GiB = 1 << 30


def listing_exact(d, expect, what):
    seen = os.listdir(d)
    if len(seen) != len(set(seen)):
        dups = sorted({n for n in seen if seen.count(n) > 1})[:5]
        eq(dups, [], "%s: names listed more than once" % what)
    s = set(seen)
    eq(sorted(expect - s)[:5], [], "%s: missing names (%d missing)" % (what, len(expect - s)))
    eq(sorted(s - expect)[:5], [], "%s: unexpected names (%d extra)" % (what, len(s - expect)))
    eq(len(seen), len(expect), "%s: number of entries" % what)


@test
def bigdir_20000_files_create_list_rename_remove():
    N = 20000
    with Store() as s:
        d = s.work("big")
        names = ["file-%05d" % i for i in range(N)]
        for n in names:
            fd = os.open(os.path.join(d, n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, n.encode())
            os.close(fd)
        listing_exact(d, set(names), "after creating %d files" % N)
        eq(os.stat(d).st_nlink, 2, "nlink of the directory")
        s.remount()
        listing_exact(d, set(names), "after remount")
        renamed = ["renamed-%05d" % i for i in range(N)]
        for a, b in zip(names, renamed):
            os.rename(os.path.join(d, a), os.path.join(d, b))
        listing_exact(d, set(renamed), "after renaming every file")
        for i in range(0, N, 1):
            got = read_all(os.path.join(d, renamed[i]))
            if got != names[i].encode():
                eq(got, names[i].encode(), "content of %s" % renamed[i])
        s.remount()
        listing_exact(d, set(renamed), "after rename and remount")
        for i, n in enumerate(renamed):
            os.unlink(os.path.join(d, n))
            if i == N // 2:
                listing_exact(d, set(renamed[i + 1:]), "half way through removal")
        listing_exact(d, set(), "after removing every file")
        s.remount()
        listing_exact(d, set(), "after removal and remount")
        os.rmdir(d)


def _writer(path, seed, size, q):
    try:
        rnd = random.Random(seed)
        content = data(seed, size)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        off = 0
        while off < size:
            n = rnd.choice([1, 100, 4096, 65536, 131072, 1000000, 3 * MiB])
            pwrite_all(fd, content[off:off + n], off)
            off += n
        os.fsync(fd)
        os.close(fd)
        q.put((seed, None))
    except BaseException as e:
        q.put((seed, repr(e)))


@test
def two_processes_write_different_files_concurrently():
    size = 96 * MiB
    with Store() as s:
        d = s.work()
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        seeds = ["writer-a", "writer-b"]
        procs = [ctx.Process(target=_writer, args=(os.path.join(d, sd), sd, size, q)) for sd in seeds]
        for p in procs:
            p.start()
        results = dict(q.get(timeout=600) for _ in procs)
        for p in procs:
            p.join(60)
            eq(p.exitcode, 0, "writer exit code")
        eq(results, {sd: None for sd in seeds}, "writer errors")
        for sd in seeds:
            same_bytes(read_all(os.path.join(d, sd)), data(sd, size), "content of %s" % sd)
        s.remount()
        for sd in seeds:
            same_bytes(read_all(os.path.join(d, sd)), data(sd, size), "content of %s after remount" % sd)


def _chunk(seed, i, n):
    return random.Random("%s:%d" % (seed, i)).randbytes(n)


@test
def random_offset_1gib_file_verified_after_remount():
    seed = int(os.environ.get("AIFS_SCALE_SEED", random.randrange(1 << 32)))
    print("# random_offset_1gib_file_verified_after_remount: seed %d (AIFS_SCALE_SEED)" % seed, flush=True)
    CH = 256 * 1024
    size = GiB
    nchunks = size // CH
    rnd = random.Random(seed)
    order = list(range(nchunks))
    rnd.shuffle(order)
    # then unaligned overwrites at random offsets, applied over the chunks in order
    over = []
    for k in range(300):
        off = rnd.randrange(0, size - 1)
        n = min(rnd.choice([1, 17, 4095, 4097, 100000, 300001]), size - off)
        over.append((off, n, k))
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "gib")
        t0 = time.time()
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        for i in order:
            pwrite_all(fd, _chunk(seed, i, CH), i * CH)
        for off, n, k in over:
            pwrite_all(fd, _chunk(seed, -1 - k, n), off)
        os.fsync(fd)
        eq(os.fstat(fd).st_size, size, "size")
        os.close(fd)
        t1 = time.time()
        s.remount()
        t2 = time.time()
        eq(os.stat(p).st_size, size, "size after remount")
        fd = os.open(p, os.O_RDONLY)
        by_chunk = {}
        for off, n, k in over:
            for c in range(off // CH, (off + n - 1) // CH + 1):
                by_chunk.setdefault(c, []).append((off, n, k))
        for i in range(nchunks):
            got = pread_all(fd, CH, i * CH)
            exp = _chunk(seed, i, CH)
            if i in by_chunk:
                exp = bytearray(exp)
                base = i * CH
                for off, n, k in by_chunk[i]:
                    src = _chunk(seed, -1 - k, n)
                    lo, hi = max(off, base), min(off + n, base + CH)
                    exp[lo - base:hi - base] = src[lo - off:hi - off]
                exp = bytes(exp)
            if got != exp:
                same_bytes(got, exp, "1 GiB file (seed %d), chunk %d" % (seed, i), i * CH)
        os.close(fd)
        print("# write %.1fs, remount %.1fs, verify %.1fs" % (t1 - t0, t2 - t1, time.time() - t2), flush=True)


if __name__ == "__main__":
    main()
