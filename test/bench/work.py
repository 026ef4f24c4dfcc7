"""Workloads of the aifs benchmark that run in a child process.

bench.py runs one workload on one side (aifs mount or native directory) as
  /usr/bin/python3 work.py KIND 'JSON-ARGS'
and reads one JSON object from the last line of stdout.  Every figure is timed
here, inside the child, around the operations alone: interpreter start-up,
imports and test-data generation are outside the timed regions.  Each
workload checks what it reads back (counts, sizes, content) and raises on a
mismatch, so a wrong answer never passes as a fast one.

Kinds:
  meta    create, stat warm, stat cold, readdir, unlink of N files in D dirs
  torch   torch.save of a fp32 state dict + fsync + close; torch.load cold
          (save alone with "load": false)
  loader  small-file write (+ syncfs); DataLoader epoch 1 cold, epoch 2 warm
  audit   1 KiB O_APPEND records into one file
  snapshot  seconds to snapshot a file tree (aifs only)
"""

import ctypes
import json
import os
import sys
import time

LIBC = ctypes.CDLL(None, use_errno=True)


def drop_caches():
    """Write back dirty data, then drop page cache, dentries and inodes (root only)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def syncfs(path):
    """syncfs(2) on the filesystem holding path; raises OSError on failure."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if LIBC.syncfs(fd) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "syncfs %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def expect(cond, what):
    if not cond:
        raise RuntimeError(what)


# ------------------------------------------------------------------ meta

def meta(a):
    """Metadata operations on a.files files spread over a.dirs directories: ops/s each.

    Unlink stops after a.unlink_cap seconds; "unlinked" says how many it removed.
    """
    root, nfiles, ndirs = a["dir"], a["files"], a["dirs"]
    dirs = [os.path.join(root, "d%03d" % i) for i in range(ndirs)]
    for d in dirs:
        os.makedirs(d)
    paths = [os.path.join(dirs[i % ndirs], "f%06d" % i) for i in range(nfiles)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    res = {}

    t = time.perf_counter()
    for p in paths:
        os.close(os.open(p, flags, 0o644))
    res["create"] = nfiles / (time.perf_counter() - t)

    t = time.perf_counter()
    for p in paths:
        os.stat(p)
    res["stat_warm"] = nfiles / (time.perf_counter() - t)

    drop_caches()
    t = time.perf_counter()
    for p in paths:
        os.stat(p)
    res["stat_cold"] = nfiles / (time.perf_counter() - t)

    passes = a["readdir_passes"]
    seen = 0
    t = time.perf_counter()
    for _ in range(passes):
        for d in dirs:
            with os.scandir(d) as it:
                for _e in it:
                    seen += 1
    res["readdir"] = seen / (time.perf_counter() - t)
    expect(seen == nfiles * passes,
           "readdir: expected %d entries, saw %d" % (nfiles * passes, seen))

    # Unlink in an order that takes every directory in turn; stop at the cap so
    # that a slow unlink costs a bounded time, and report how far it got.
    cap, done = a["unlink_cap"], 0
    t = time.perf_counter()
    for p in paths:
        os.unlink(p)
        done += 1
        if done % 100 == 0 and time.perf_counter() - t > cap:
            break
    res["unlink"] = done / (time.perf_counter() - t)
    res["unlinked"] = done

    left = sum(len(os.listdir(d)) for d in dirs)
    expect(left == nfiles - done,
           "after %d unlinks: expected %d entries left, saw %d" % (done, nfiles - done, left))
    if done == nfiles:
        for d in dirs:
            os.rmdir(d)
    return res


# ------------------------------------------------------------------ torch

def torch_ckpt(a):
    """torch.save (+fsync, close) and cold torch.load of a fp32 state dict: MiB/s each."""
    import torch
    torch.set_num_threads(1)
    mib, tensor_mib = a["mib"], a["tensor_mib"]
    n = max(1, mib // tensor_mib)
    side = int((tensor_mib * 2**20 // 4) ** 0.5)
    g = torch.Generator().manual_seed(1)
    sd = {"layers.%d.weight" % i: torch.rand(side, side, generator=g) for i in range(n)}
    total = sum(t.numel() * 4 for t in sd.values())
    path = a["path"]
    res = {"bytes": total, "tensors": n}

    t = time.perf_counter()
    with open(path, "wb") as f:
        torch.save(sd, f)
        f.flush()
        os.fsync(f.fileno())
    el = time.perf_counter() - t
    res["save"] = total / 2**20 / el
    res["file_bytes"] = os.stat(path).st_size
    if not a.get("load", True):
        return res

    drop_caches()
    t = time.perf_counter()
    back = torch.load(path, map_location="cpu")
    el = time.perf_counter() - t
    res["load"] = total / 2**20 / el
    expect(sorted(back) == sorted(sd), "torch.load: keys differ from what was saved")
    for k, v in sd.items():
        expect(torch.equal(back[k], v), "torch.load: tensor %s differs from what was saved" % k)
    return res


# ------------------------------------------------------------------ loader

def loader_content(pool, i, size):
    """Deterministic content of sample i: its index, then a slice of the random pool."""
    off = (i * 4099) % (len(pool) - size)
    return i.to_bytes(8, "little") + pool[off + 8:off + size]


class FileSet:
    """torch Dataset over fixed-size files; item i is (i, uint8 tensor of its bytes)."""

    def __init__(self, paths, size):
        self.paths, self.size = paths, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch
        with open(self.paths[i], "rb", buffering=0) as f:
            b = f.read()
        if len(b) != self.size:
            raise RuntimeError("%s: expected %d bytes, read %d" % (self.paths[i], self.size, len(b)))
        return i, torch.frombuffer(bytearray(b), dtype=torch.uint8)


def epoch(paths, size, a):
    """One shuffled DataLoader pass; returns samples/s after checking every sample's index."""
    import torch
    from torch.utils.data import DataLoader
    dl = DataLoader(FileSet(paths, size), batch_size=a["batch"], shuffle=True,
                    num_workers=a["workers"])
    seen = 0
    t = time.perf_counter()
    for idx, data in dl:
        head = data[:, :8].contiguous().view(torch.int64).flatten()
        expect(torch.equal(head, idx), "DataLoader: a sample's content is not its file's")
        seen += len(idx)
    el = time.perf_counter() - t
    expect(seen == len(paths), "DataLoader: expected %d samples, saw %d" % (len(paths), seen))
    return seen / el


def loader(a):
    """Write a.files files of a.size bytes (files/s, synced), then two DataLoader epochs.

    With a.snapshot the epochs read a dataset snapshot of the tree taken after the write.
    """
    import torch
    torch.set_num_threads(1)
    root, nfiles, size, ndirs = a["dir"], a["files"], a["size"], a["dirs"]
    pool = os.urandom(4 * 2**20)
    dirs = [os.path.join(root, "shard%03d" % i) for i in range(ndirs)]
    for d in dirs:
        os.makedirs(d)
    rel = [os.path.join("shard%03d" % (i % ndirs), "s%06d.bin" % i) for i in range(nfiles)]
    blobs = [loader_content(pool, i, size) for i in range(nfiles)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    res = {}

    t = time.perf_counter()
    for r, b in zip(rel, blobs):
        fd = os.open(os.path.join(root, r), flags, 0o644)
        try:
            expect(os.write(fd, b) == size, "short write to %s" % r)
        finally:
            os.close(fd)
    syncfs(root)
    el = time.perf_counter() - t
    res["write"] = nfiles / el
    res["write_mib_s"] = nfiles * size / 2**20 / el
    del blobs

    src = root
    snap = os.path.join(root, ".aifs", "snapshots", "bench-loader")
    if a["snapshot"]:
        t = time.perf_counter()
        os.mkdir(snap)
        res["snapshot_s"] = time.perf_counter() - t
        src = snap
    paths = [os.path.join(src, r) for r in rel]

    drop_caches()
    res["epoch_cold"] = epoch(paths, size, a)
    res["epoch_warm"] = epoch(paths, size, a)
    if a["snapshot"]:
        os.rmdir(snap)
    return res


# ------------------------------------------------------------------ audit

def audit(a):
    """a.records O_APPEND writes of a.size bytes to one new file: records/s (open to close)."""
    path, n, size = a["path"], a["records"], a["size"]
    rec = (b"x" * (size - 1)) + b"\n"
    t = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(n):
            expect(os.write(fd, rec) == size, "short append to %s" % path)
    finally:
        os.close(fd)
    el = time.perf_counter() - t
    st = os.stat(path).st_size
    expect(st == n * size, "%s: expected size %d after appends, saw %d" % (path, n * size, st))
    return {"records": n / el, "mib_s": n * size / 2**20 / el}


# ------------------------------------------------------------------ snapshot

def snapshot(a):
    """Seconds to snapshot a tree of a.files empty files (made once, kept between rounds)."""
    tree, nfiles = a["dir"], a["files"]
    if not os.path.isdir(tree):
        for i in range(nfiles):
            d = os.path.join(tree, "d%04d" % (i // 1000))
            if i % 1000 == 0:
                os.makedirs(d)
            os.close(os.open(os.path.join(d, "f%06d" % i), os.O_WRONLY | os.O_CREAT, 0o644))
    snap = os.path.join(tree, ".aifs", "snapshots", a["tag"])
    t = time.perf_counter()
    os.mkdir(snap)
    el = time.perf_counter() - t
    n = sum(len(os.listdir(os.path.join(snap, d))) for d in os.listdir(snap))
    expect(n == nfiles, "snapshot %s: expected %d files, saw %d" % (snap, nfiles, n))
    os.rmdir(snap)
    return {"seconds": el}


KINDS = {"meta": meta, "torch": torch_ckpt, "loader": loader, "audit": audit,
         "snapshot": snapshot}


def main():
    kind, args = sys.argv[1], json.loads(sys.argv[2])
    out = KINDS[kind](args)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
