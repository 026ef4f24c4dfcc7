"""RADOS figures of `make bench`, against a one-node Ceph cluster started for the run.

  /usr/bin/python3 test/bench/rados_bench.py --build build [--quick] [--rounds N]

Starts the test cluster of test/integration/ceph.py (one mon, one memstore OSD on
127.0.0.1) and measures, alternating from round to round:

  migrate      a move of one file to a RADOS cold tier (user.aifs.migrate, as
               `aifsctl tier migrate --to cold --wait` does, waited for in 10 ms steps) (-o migrate_bw=0, cold_compress=none: the data path, not the
               bandwidth limit or lz4), against `rados bench write` of as many bytes
               (4 MiB objects, 16 in flight) on the same pool: ratio of the medians
  read         sequential read (1 MiB reads, page cache dropped) of one file from a
               store whose data is in RADOS (--data), with an empty local cache (cold)
               and then with the file in it (warm), against the same read from a store
               with a local hot tier: ratios of the medians
  follower     on a follower mount of the --data store and on its writer, in the
               same run: a snapshot epoch, cold and warm; a torch.save of a
               checkpoint (forwarded by the follower: staged locally, its bytes put
               in the pool, the save made by the writer) and 1 KiB journal appends
               (one write(2) each, open to close); ratios follower / writer; and
               the follower's lag under a steady stream of commits

bench.py calls run() and puts the result under "rados" in its JSON; alone, this
prints a table and writes bench/results/rados-YYYYmmdd-HHMMSS.json.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "test", "integration"))
sys.dont_write_bytecode = True
import ceph  # noqa: E402

MiB = 1 << 20
CHUNK = 4 * MiB


def log(msg):
    print("# rados: " + msg, file=sys.stderr, flush=True)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(ln.split()[4] == path for ln in f)


def sh(argv, timeout=600):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, out.strip()[-800:]))
    return out


class Mount:
    """One store mounted in the foreground, as the tests do."""

    def __init__(self, build, base, name, mkfs_args, opts):
        self.build, self.opts = build, opts
        self.store = os.path.join(base, name)
        self.mnt = os.path.join(base, name + ".mnt")
        self.log = os.path.join(base, name + ".log")
        self.proc = None
        os.mkdir(self.mnt)
        sh([os.path.join(build, "aifsctl"), "mkfs"] + mkfs_args + [self.store])

    def mount(self):
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [os.path.join(self.build, "aifs"), self.store, self.mnt, "-f", "-o",
                 ",".join(["allow_other"] + self.opts)],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not (mounted(self.mnt) and os.path.ismount(self.mnt)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("aifs %s did not mount: %s" % (self.store, self.tail()))
            time.sleep(0.02)

    def unmount(self):
        if mounted(self.mnt):
            subprocess.run(["umount", self.mnt], timeout=300)
            if mounted(self.mnt):
                subprocess.run(["umount", "-l", self.mnt], timeout=60)
        if self.proc is not None:
            try:
                self.proc.wait(300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def tail(self):
        try:
            with open(self.log, "rb") as f:
                return " | ".join(f.read().decode(errors="replace").splitlines()[-10:])
        except OSError:
            return "(no log)"


def write_file(path, size):
    """SIZE random bytes (incompressible), fsynced."""
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(os.urandom(CHUNK))
        f.flush()
        os.fsync(f.fileno())


def read_rate(path, size):
    """MiB/s of a sequential read of PATH in 1 MiB reads, page cache dropped first."""
    drop_caches()
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(MiB)
            if not b:
                break
            n += len(b)
    dt = time.perf_counter() - t0
    if n != size:
        raise RuntimeError("read %d bytes of %s, %d expected" % (n, path, size))
    return size / MiB / dt


def rados_bench_rate(c, size):
    """MB/s that rados bench write reports for SIZE bytes of 4 MiB objects, 16 in flight."""
    out = c.rados("bench", "60", "write", "-b", str(CHUNK), "-t", "16",
                  "--max-objects", str(size // CHUNK), "--run-name", "aifs-bench",
                  timeout=300)
    m = re.search(r"Bandwidth \(MB/sec\):\s*([0-9.]+)", out)
    if not m:
        raise RuntimeError("rados bench: no bandwidth in %r" % out[-500:])
    return float(m.group(1))        # rados bench's "MB" are MiB (obj_bencher divides by 2^20)


def migrated(mnt, path, to):
    """Ask for PATH to move to tier TO and return once the tier thread is idle again: as
    aifsctl tier migrate --wait does, polling every 10 ms instead of 100 ms."""
    os.setxattr(path, "user.aifs.migrate", to.encode())
    deadline = time.time() + 600
    while time.time() < deadline:
        time.sleep(0.01)
        st = json.loads(os.getxattr(mnt, "user.aifs.tierstat"))
        if st["migration"]["queued"] == 0:
            return
    raise RuntimeError("migration of %s to %s not done within 600 s" % (path, to))


def migrate_rate(m, path, size):
    t0 = time.perf_counter()
    migrated(m.mnt, path, "cold")
    dt = time.perf_counter() - t0
    tier = os.getxattr(path, "user.aifs.tier").decode()
    if tier != "cold":
        raise RuntimeError("after a migration to cold, user.aifs.tier is %r" % tier)
    migrated(m.mnt, path, "hot")
    return size / MiB / dt


def cache_stats(build, mnt):
    return json.loads(sh([os.path.join(build, "aifsctl"), "status", "--json", mnt]))["cache"]


def ratio(a, b):
    return a / b if a and b else None


class Follower:
    """A follower mount (aifs --follow) of the store in rados spec SPEC."""

    def __init__(self, build, base, spec, conf):
        self.mnt = os.path.join(base, "follower.mnt")
        self.log = os.path.join(base, "follower.log")
        os.mkdir(self.mnt)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [os.path.join(build, "aifs"), "--follow", spec, self.mnt, "-f", "-o",
                 "allow_other,replica=%s,ceph_conf=%s" % (os.path.join(base, "replica"), conf)],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not (mounted(self.mnt) and os.path.ismount(self.mnt)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the follower did not mount")
            time.sleep(0.05)

    def unmount(self):
        subprocess.run(["umount", self.mnt], timeout=300)
        try:
            self.proc.wait(300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tree_rate(root):
    """MiB/s of reading every file of ROOT once, in name order (a DataLoader's epoch)."""
    t0 = time.perf_counter()
    n = 0
    for name in sorted(os.listdir(root)):
        with open(os.path.join(root, name), "rb", buffering=0) as f:
            while True:
                b = f.read(MiB)
                if not b:
                    break
                n += len(b)
    if not n:
        raise RuntimeError("no bytes read under %s" % root)
    return n / MiB / (time.perf_counter() - t0)


def wait_path(path, timeout=60.0):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise RuntimeError("%s did not appear within %.0f s" % (path, timeout))
        time.sleep(0.01)


SAVE = r"""
import sys, time, torch
t = torch.rand(int(sys.argv[2]) // 4)
t0 = time.perf_counter()
torch.save({"w": t}, sys.argv[1])
print(time.perf_counter() - t0)
"""


def save_rate(path, size):
    """MiB/s of one torch.save of SIZE bytes of tensor to PATH (open to close)."""
    p = subprocess.run(["/usr/bin/python3", "-c", SAVE, path, str(size)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
    if p.returncode != 0:
        raise RuntimeError("torch.save to %s: %s" % (path, p.stderr.decode()[-500:]))
    return size / MiB / float(p.stdout.decode().split()[-1])


def append_rates(path, n):
    """Records per second of N 1 KiB appends (one write(2) each) to the journal
    file PATH: from its open to its close, and of the writes alone."""
    rec = b"r" * 1023 + b"\n"
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        t1 = time.perf_counter()
        for _ in range(n):
            os.write(fd, rec)
        t2 = time.perf_counter()
    finally:
        os.close(fd)
    return n / (time.perf_counter() - t0), n / (t2 - t1)


def follower_figures(build, base, data, spec, conf, quick, rounds):
    """A follower's reads of a snapshot against the writer's, cold and warm, and
    how long after its commit a file shows on the follower under a steady
    stream of commits (one a second fraction, for about ten seconds)."""
    nfiles = 32 if quick else 128
    ds = os.path.join(data.mnt, "datasets", "bench")
    os.makedirs(ds)
    for i in range(nfiles):
        with open(os.path.join(ds, "x%04d" % i), "wb") as f:
            f.write(os.urandom(MiB))
    os.mkdir(os.path.join(ds, ".aifs", "snapshots", "v1"))
    time.sleep(2)
    fol = Follower(build, base, spec, conf)
    out = {k: [] for k in ("writer_cold", "writer_warm", "follower_cold", "follower_warm",
                           "writer_save", "follower_save", "writer_append",
                           "follower_append", "writer_append_writes",
                           "follower_append_writes")}
    save_size = (64 if quick else 256) * MiB
    nrec = 1000 if quick else 4000
    os.makedirs(os.path.join(data.mnt, "checkpoints", "bench"))
    lags = []
    try:
        snap_w = os.path.join(ds, ".aifs", "snapshots", "v1")
        snap_f = os.path.join(fol.mnt, "datasets", "bench", ".aifs", "snapshots", "v1")
        wait_path(os.path.join(snap_f, "x%04d" % (nfiles - 1)))
        for r in range(rounds):
            for who, root in ((("writer", snap_w), ("follower", snap_f)) if r % 2 == 0 else
                              (("follower", snap_f), ("writer", snap_w))):
                drop_caches()
                out[who + "_cold"].append(tree_rate(root))
                out[who + "_warm"].append(tree_rate(root))
            for who, mnt in ((("writer", data.mnt), ("follower", fol.mnt)) if r % 2 == 0 else
                             (("follower", fol.mnt), ("writer", data.mnt))):
                out[who + "_save"].append(save_rate(
                    os.path.join(mnt, "checkpoints", "bench", "model.pt"), save_size))
                whole, writes = append_rates(
                    os.path.join(mnt, "audit", "bench-%s-%d.log" % (who, r)), nrec)
                out[who + "_append"].append(whole)
                out[who + "_append_writes"].append(writes)
        for i in range(20 if quick else 50):
            p = "lag%04d" % i
            with open(os.path.join(data.mnt, "datasets", p), "wb") as f:
                f.write(b"x" * 100)
            t = time.time()
            wait_path(os.path.join(fol.mnt, "datasets", p))
            lags.append(time.time() - t)
            time.sleep(0.2)
    finally:
        fol.unmount()
    med = {k: statistics.median(v) for k, v in out.items()}
    lags.sort()
    return {
        "files": nfiles, "save_mib": save_size // MiB, "append_records": nrec,
        "raw": out, "median": med,
        "ratios": {"follower_cold_vs_writer": ratio(med["follower_cold"], med["writer_cold"]),
                   "follower_warm_vs_writer": ratio(med["follower_warm"], med["writer_warm"]),
                   "follower_save_vs_writer": ratio(med["follower_save"], med["writer_save"]),
                   "follower_append_vs_writer": ratio(med["follower_append"],
                                                      med["writer_append"]),
                   "follower_append_writes_vs_writer": ratio(med["follower_append_writes"],
                                                             med["writer_append_writes"])},
        "lag_s": {"median": statistics.median(lags), "p95": lags[int(len(lags) * 0.95) - 1],
                  "max": lags[-1], "samples": len(lags)},
    }


def run(build, quick=False, rounds=3, workdir="/var/tmp"):
    """Every figure above, as a dict (raw values per round, medians, ratios)."""
    build = os.path.abspath(build)
    size = (64 if quick else 512) * MiB
    raw = {k: [] for k in ("rados_bench", "migrate", "read_local", "read_rados_cold",
                           "read_rados_warm")}
    base = tempfile.mkdtemp(prefix="aifs-rbench-", dir=workdir)
    os.chmod(base, 0o755)
    mounts = []
    fol = None
    t0 = time.time()
    try:
        with ceph.Cluster(memstore_bytes=max(4 << 30, 6 * size), dir=workdir) as c:
            log("cluster up in %s; file size %d MiB, %d rounds" % (c.dir, size // MiB, rounds))
            cold = Mount(build, base, "cold", ["--cold", "rados:%s/bench-cold" % c.pool,
                                               "--ceph-conf", c.conf],
                         ["migrate_bw=0", "cold_compress=none"])
            local = Mount(build, base, "local", [], [])
            data = Mount(build, base, "data", ["--data", "rados:%s/bench-data" % c.pool,
                                               "--ceph-conf", c.conf],
                         ["cache_size=%d" % (4 * size)])
            mounts = [cold, local, data]
            for m in mounts:
                m.mount()
                write_file(os.path.join(m.mnt, "f"), size)
            for r in range(rounds):
                steps = [
                    ("rados_bench", lambda: rados_bench_rate(c, size)),
                    ("migrate", lambda: migrate_rate(cold, os.path.join(cold.mnt, "f"), size)),
                ]
                for key, fn in (steps if r % 2 == 0 else steps[::-1]):
                    raw[key].append(fn())
                raw["read_local"].append(read_rate(os.path.join(local.mnt, "f"), size))
                # an empty local cache: every object comes from the pool
                data.unmount()
                shutil.rmtree(os.path.join(data.store, "cache"))
                data.mount()
                before = cache_stats(build, data.mnt)["remote_reads"]
                raw["read_rados_cold"].append(read_rate(os.path.join(data.mnt, "f"), size))
                mid = cache_stats(build, data.mnt)["remote_reads"]
                raw["read_rados_warm"].append(read_rate(os.path.join(data.mnt, "f"), size))
                after = cache_stats(build, data.mnt)["remote_reads"]
                if mid == before or after != mid:
                    raise RuntimeError("objects read from the pool: %d before the cold read, "
                                       "%d after it, %d after the warm one" % (before, mid,
                                                                               after))
                log("round %d: %s" % (r + 1, ", ".join("%s %.0f" % (k, v[-1])
                                                        for k, v in raw.items())))
            fol = follower_figures(build, base, data, "rados:%s/bench-data" % c.pool, c.conf,
                                   quick, rounds)
            log("follower: %s; lag %s" % (fol["ratios"], fol["lag_s"]))
            # the writers of stores in the pool need the cluster to unmount
            while mounts:
                mounts.pop().unmount()
    finally:
        for m in mounts:
            m.unmount()
        shutil.rmtree(base, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in raw.items() if v}
    return {
        "size_mib": size // MiB, "rounds": rounds, "wall_s": time.time() - t0,
        "unit": "MiB/s", "raw": raw, "median": med,
        "ratios": {
            "migrate_vs_rados_bench": ratio(med.get("migrate"), med.get("rados_bench")),
            "read_rados_cold_vs_local": ratio(med.get("read_rados_cold"), med.get("read_local")),
            "read_rados_warm_vs_local": ratio(med.get("read_rados_warm"), med.get("read_local")),
        },
        "targets": {"migrate_vs_rados_bench": 0.8, "follower_lag_s": 2.0},
        "follower": fol,
    }


def table(res):
    m, r = res["median"], res["ratios"]

    def f(v):
        return "n/a" if v is None else "%.2f" % v
    lines = ["RADOS (one-node cluster, memstore OSD; %d MiB, median of %d rounds, MiB/s)"
             % (res["size_mib"], res["rounds"]),
             "%-44s %10s %10s %7s" % ("figure", "aifs", "reference", "ratio"),
             "%-44s %10.0f %10.0f %7s" % ("migrate to a RADOS cold tier / rados bench write",
                                          m["migrate"], m["rados_bench"],
                                          f(r["migrate_vs_rados_bench"])),
             "%-44s %10.0f %10.0f %7s" % ("seq read, --data store, cold cache / local",
                                          m["read_rados_cold"], m["read_local"],
                                          f(r["read_rados_cold_vs_local"])),
             "%-44s %10.0f %10.0f %7s" % ("seq read, --data store, warm cache / local",
                                          m["read_rados_warm"], m["read_local"],
                                          f(r["read_rados_warm_vs_local"]))]
    fol = res.get("follower")
    if fol:
        fm, fr = fol["median"], fol["ratios"]
        lines += ["%-44s %10.0f %10.0f %7s" % ("snapshot epoch on a follower / writer, cold",
                                               fm["follower_cold"], fm["writer_cold"],
                                               f(fr["follower_cold_vs_writer"])),
                  "%-44s %10.0f %10.0f %7s" % ("snapshot epoch on a follower / writer, warm",
                                               fm["follower_warm"], fm["writer_warm"],
                                               f(fr["follower_warm_vs_writer"])),
                  "%-44s %10.0f %10.0f %7s" % ("torch.save %d MiB on a follower / writer"
                                               % fol["save_mib"],
                                               fm["follower_save"], fm["writer_save"],
                                               f(fr["follower_save_vs_writer"])),
                  "%-44s %10.0f %10.0f %7s" % ("%d x 1 KiB appends/s open-close, fol/writer"
                                               % fol["append_records"],
                                               fm["follower_append"], fm["writer_append"],
                                               f(fr["follower_append_vs_writer"])),
                  "%-44s %10.0f %10.0f %7s" % ("1 KiB appends/s, write(2)s only, fol/writer",
                                               fm["follower_append_writes"],
                                               fm["writer_append_writes"],
                                               f(fr["follower_append_writes_vs_writer"])),
                  "follower lag under a commit every 0.2 s: median %.2f s, p95 %.2f s, "
                  "max %.2f s (goal: under 2 s)" % (fol["lag_s"]["median"], fol["lag_s"]["p95"],
                                                   fol["lag_s"]["max"])]
    return "\n".join(lines)


def available():
    """Why the RADOS figures cannot be measured here, or None."""
    missing = [p for p in ("ceph-mon", "ceph-osd", "rados") if not shutil.which(p)]
    return "not installed: " + " ".join(missing) if missing else None


def main():
    ap = argparse.ArgumentParser(description="aifs RADOS figures against rados bench.")
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results"))
    ap.add_argument("--quick", action="store_true", help="64 MiB instead of 512 MiB")
    ap.add_argument("--rounds", type=int, default=3)
    p = ap.parse_args()
    why = available()
    if why:
        print("rados: " + why)
        return 1
    res = run(p.build, p.quick, p.rounds, p.dir)
    os.makedirs(p.out, exist_ok=True)
    path = os.path.join(p.out, "rados-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print(table(res))
    print("results: " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
