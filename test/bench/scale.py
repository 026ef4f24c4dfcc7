"""How the costs of aifs grow with the store: make bench-scale.

  /usr/bin/python3 test/bench/scale.py --build build [--files 10000,100000]
        [--versions 10,1000,10000] [--records 10000,100000] [--probes 2000]

Makes one fresh store (and a native directory beside it, on the same disk) and
grows it in three phases, measuring at every size:

  files     a flat dataset directory of N empty files, per N: the time of a
            snapshot of it (then of `aifsctl snapshot list`, which reads the
            daemon's count of its files, and of its delete); a lookup (cold: stat after
            drop_caches) and a create of a new name in it, and one readdir pass
            over it, on aifs and on the native directory; then, unmounted,
            aifsctl fsck of the whole store and the time to mount it again.
  versions  one checkpoint file saved again and again up to V versions, per V:
            stat + open + 4 KiB read + close, cold and warm, and the time of
            aifsctl versions on it; then the time to mount the store again.
  records   1 KiB O_APPEND records into audit/ (a new file per step, as a
            journal file is sealed at close) up to R in all, per R:
            aifsctl audit verify of the unmounted store; then a mount again.

Every mount records its time (from exec until the mount point answers) and the
daemon's RSS just after it; the store keeps everything the earlier phases made,
so the last mount is the one of the largest store.  Each curve is printed with
the goal of issue 25 beside it and goes to bench/results/scale-*.json and a PNG
(gnuplot).  Needs root (mount, drop_caches).  Nothing here asserts a time.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the daemon handling and machine description are shared)

# curve key -> (label, unit, goal printed beside it)
CURVES = {
    "snapshot_s": ("snapshot of a directory of N files", "s",
                   "time independent of N: <= 0.05 s at 1M files"),
    "snapshot_list_s": ("`aifsctl snapshot list` of it (the daemon's count, made once)",
                        "s", "-"),
    "snapshot_delete_s": ("delete of that snapshot", "s", "-"),
    "lookup_us": ("lookup (cold stat) in a directory of N entries", "us", "flat in N"),
    "lookup_native_us": ("  same on native", "us", "-"),
    "create_us": ("create in a directory of N entries", "us", "flat in N"),
    "create_native_us": ("  same on native", "us", "-"),
    "fill_per_s": ("create rate while filling the directory", "files/s", "-"),
    "readdir_per_s": ("readdir of a directory of N entries, cold", "entries/s", ">= native"),
    "readdir_native_per_s": ("  same on native", "entries/s", "-"),
    "fsck_per_s": ("aifsctl fsck of the store (x: files in it)", "files/s",
                   "linear: a flat rate"),
    "open_cold_us": ("stat+open+read 4K+close, cold, file with V versions", "us", "flat in V"),
    "open_warm_us": ("  same, warm", "us", "flat in V"),
    "versions_per_s": ("aifsctl versions of a file with V versions", "versions/s",
                       ">= 100,000 versions/s"),
    "commit_ms": ("one version commit (4 KiB save), while growing to V", "ms", "flat in V"),
    "verify_per_s": ("aifsctl audit verify of R records", "records/s",
                     ">= 1,000,000 records/s"),
}
PHASE_X = {"files": "N files", "versions": "V versions", "records": "R records"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sizes(s):
    return sorted({int(x) for x in s.split(",") if x.strip()})


class Scale:
    """The store, its mount, the native directory, and the curves measured so far."""

    def __init__(self, p):
        self.p = p
        self.build = os.path.abspath(p.build)
        os.makedirs(p.dir, exist_ok=True)
        self.base = tempfile.mkdtemp(prefix="aifs-scale-", dir=p.dir)
        os.chmod(self.base, 0o755)
        self.store = os.path.join(self.base, "store")
        self.mnt = os.path.join(self.base, "mnt")
        self.native = os.path.join(self.base, "native")
        self.daemon = None
        self.curves = {k: [] for k in CURVES}      # key -> [(x, y)]
        self.mounts = []                           # one dict per mount
        self.errors = []
        self.files = 0                             # files made in the store so far
        self.versions = 0
        self.records = 0

    # -- mount and unmount
    def aifsctl(self, *args, timeout=3600):
        """Run aifsctl; returns (seconds, stdout); raises with its output when it fails."""
        t = time.perf_counter()
        rc, out, err = bench.run([os.path.join(self.build, "aifsctl")] + list(args), timeout)
        el = time.perf_counter() - t
        if rc != 0:
            raise RuntimeError("aifsctl %s: exit %d: %s" % (" ".join(args), rc,
                                                             (out + err).strip()[-800:]))
        return el, out

    def mount(self):
        argv = [os.path.join(self.build, "aifs"), self.store, self.mnt, "-f", "-o",
                ",".join(filter(None, ["allow_other", self.p.mount_opts]))]
        self.daemon = bench.Daemon("aifs", argv, self.mnt, os.path.join(self.base, "aifs.log"))
        t = time.perf_counter()
        self.daemon.start()
        el = time.perf_counter() - t
        rss = bench.status_kib(self.daemon.proc.pid, "VmRSS")
        m = {"files": self.files, "versions": self.versions, "records": self.records,
             "mount_s": el, "rss_mib": rss and rss / 1024}
        self.mounts.append(m)
        log("  mount with %d files, %d versions, %d records: %.2f s, RSS %.1f MiB"
            % (self.files, self.versions, self.records, el, m["rss_mib"] or 0))

    def unmount(self):
        if self.daemon is None:
            return
        hwm = bench.status_kib(self.daemon.proc.pid, "VmHWM")
        if self.mounts and hwm:
            self.mounts[-1]["hwm_mib_at_unmount"] = hwm / 1024
        err = self.daemon.stop()
        self.daemon = None
        if err:
            raise RuntimeError(err)

    def add(self, key, x, y):
        self.curves[key].append((x, y))
        log("  %-22s %10d  %12.4g %s" % (key, x, y, CURVES[key][1]))

    # -- phase 1: files
    def fill(self, d, n):
        """n empty files in directory d (made here); returns files/s."""
        os.makedirs(d)
        t = time.perf_counter()
        for i in range(n):
            os.close(os.open(os.path.join(d, "f%08d" % i), os.O_WRONLY | os.O_CREAT, 0o644))
        return n / (time.perf_counter() - t)

    def lookups(self, d, n):
        """Mean µs of a stat of a random existing name in d, with the caches dropped."""
        names = [os.path.join(d, "f%08d" % i)
                 for i in random.Random(n).sample(range(n), min(n, self.p.probes))]
        bench.drop_caches()
        os.stat(d)
        t = time.perf_counter()
        for path in names:
            os.stat(path)
        return (time.perf_counter() - t) / len(names) * 1e6

    def creates(self, d):
        """Mean µs of a create of a new name in d; the new names are removed again."""
        names = [os.path.join(d, "new%06d" % i) for i in range(self.p.probes)]
        t = time.perf_counter()
        for path in names:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        el = time.perf_counter() - t
        for path in names:
            os.unlink(path)
        return el / len(names) * 1e6

    def readdir(self, d, n):
        bench.drop_caches()
        t = time.perf_counter()
        with os.scandir(d) as it:
            seen = sum(1 for _ in it)
        el = time.perf_counter() - t
        if seen != n:
            raise RuntimeError("readdir %s: expected %d entries, saw %d" % (d, n, seen))
        return n / el

    def phase_files(self):
        for n in self.p.files:
            log("files: a directory of %d files" % n)
            d = os.path.join(self.mnt, "datasets", "flat-%d" % n)
            nd = os.path.join(self.native, "flat-%d" % n)
            self.add("fill_per_s", n, self.fill(d, n))
            self.fill(nd, n)
            self.files += n
            snap = os.path.join(d, ".aifs", "snapshots", "scale")
            t = time.perf_counter()
            os.mkdir(snap)
            self.add("snapshot_s", n, time.perf_counter() - t)
            el, _ = self.aifsctl("snapshot", "list", d)
            self.add("snapshot_list_s", n, el)
            t = time.perf_counter()
            os.rmdir(snap)
            self.add("snapshot_delete_s", n, time.perf_counter() - t)
            self.add("lookup_us", n, self.lookups(d, n))
            self.add("lookup_native_us", n, self.lookups(nd, n))
            self.add("create_us", n, self.creates(d))
            self.add("create_native_us", n, self.creates(nd))
            self.add("readdir_per_s", n, self.readdir(d, n))
            self.add("readdir_native_per_s", n, self.readdir(nd, n))
            self.unmount()
            el, _ = self.aifsctl("fsck", self.store)
            self.add("fsck_per_s", self.files, self.files / el)
            self.mount()

    # -- phase 2: versions
    def open_read(self, path, cold, times):
        """Mean µs of stat + open + 4 KiB read + close of path (drop_caches before each if cold)."""
        total = 0.0
        for _ in range(times):
            if cold:
                bench.drop_caches()
            t = time.perf_counter()
            os.stat(path)
            fd = os.open(path, os.O_RDONLY)
            got = len(os.read(fd, 4096))
            os.close(fd)
            total += time.perf_counter() - t
            if got != 4096:
                raise RuntimeError("%s: read %d bytes, expected 4096" % (path, got))
        return total / times * 1e6

    def phase_versions(self):
        path = os.path.join(self.mnt, "checkpoints", "scale", "model.bin")
        os.makedirs(os.path.dirname(path))
        for v in self.p.versions:
            log("versions: a file with %d versions" % v)
            todo = v - self.versions
            t = time.perf_counter()
            for i in range(self.versions, v):
                with open(path, "wb") as f:
                    f.write(i.to_bytes(8, "little") * 512)
            self.add("commit_ms", v, (time.perf_counter() - t) / todo * 1e3)
            self.versions = v
            self.add("open_cold_us", v, self.open_read(path, True, self.p.cold_probes))
            self.add("open_warm_us", v, self.open_read(path, False, self.p.probes))
            el, out = self.aifsctl("versions", path)
            listed = sum(1 for line in out.splitlines() if line[:1].isdigit())
            if listed != v:
                raise RuntimeError("aifsctl versions listed %d versions, expected %d"
                                   % (listed, v))
            self.add("versions_per_s", v, v / el)
            self.unmount()
            self.mount()

    # -- phase 3: audit records
    def phase_records(self):
        rec = b"r" * 1023 + b"\n"
        for r in self.p.records:
            log("records: %d audit records" % r)
            # A journal file is sealed when it is closed: each step appends to a new one.
            path = os.path.join(self.mnt, "audit", "scale-%d.log" % r)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                for _ in range(r - self.records):
                    os.write(fd, rec)
            finally:
                os.close(fd)
            self.records = r
            self.unmount()
            el, out = self.aifsctl("audit", "verify", self.store)
            self.add("verify_per_s", r, r / el)
            self.mount()

    def run(self):
        el, _ = self.aifsctl("mkfs", self.store)
        os.mkdir(self.mnt)
        os.mkdir(self.native)
        self.mount()
        for phase in (self.phase_files, self.phase_versions, self.phase_records):
            try:
                phase()
            except Exception as e:      # a failing phase is a finding; the next one still runs
                msg = "%s: %s" % (type(e).__name__, str(e).strip()[-1500:])
                self.errors.append({"phase": phase.__name__, "error": msg})
                log("  ERROR in %s: %s" % (phase.__name__, msg))
                if self.daemon is None or self.daemon.dead():
                    if self.daemon is not None:
                        self.daemon.stop()
                    self.daemon = None
                    self.mount()

    def cleanup(self):
        err = None
        try:
            self.unmount()
        except RuntimeError as e:
            err = str(e)
        if bench.mounted(self.mnt):
            return (err or "") + "; %s still mounted, %s kept" % (self.mnt, self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        return err


# ------------------------------------------------------------------ report

def growth(points):
    """y at the largest x over y at the smallest: how much the cost grew across the sizes."""
    if len(points) < 2 or not points[0][1]:
        return None
    return points[-1][1] / points[0][1]


def report(s):
    """The curves as text, each with its goal."""
    out = []
    for key, (label, unit, goal) in CURVES.items():
        pts = s.curves[key]
        if not pts:
            continue
        g = growth(pts)
        cells = ", ".join("%s: %s" % (bench.fmt(x), bench.fmt(y)) for x, y in pts)
        out.append("%-52s %-10s %s%s   [%s]" % (label, unit, cells,
                   "" if g is None else "  (x%.2f)" % g, goal))
    out.append("")
    out.append("%-10s %-10s %-10s %-10s %-10s  [mount < 2 s, no full scan; RSS bounded]"
               % ("files", "versions", "records", "mount s", "RSS MiB"))
    for m in s.mounts:
        out.append("%-10d %-10d %-10d %-10.2f %-10.1f" % (m["files"], m["versions"],
                   m["records"], m["mount_s"], m["rss_mib"] or 0))
    return "\n".join(out)


def chart(s, png, workdir):
    """Log-log panels, one per phase, and one of mount time and RSS."""
    panels = [("files", ["snapshot_s", "snapshot_list_s", "lookup_us", "lookup_native_us", "create_us",
                         "create_native_us"], "s or us"),
              ("files", ["readdir_per_s", "readdir_native_per_s", "fill_per_s",
                         "fsck_per_s"], "per s"),
              ("versions", ["open_cold_us", "open_warm_us", "commit_ms"], "us or ms"),
              ("versions", ["versions_per_s"], "per s"),
              ("records", ["verify_per_s"], "per s")]
    script = ["set terminal pngcairo size 1500,1000 font 'sans,9' noenhanced",
              "set output '%s'" % png, "set multiplot layout 2,3 title "
              "'aifs: how each cost grows (log-log); goals in the text output'",
              "set logscale xy", "set grid", "set key top left"]
    for i, (phase, keys, ylabel) in enumerate(panels):
        plots = []
        for key in keys:
            if not s.curves[key]:
                continue
            path = os.path.join(workdir, "%d-%s.dat" % (i, key))
            with open(path, "w") as f:
                for x, y in s.curves[key]:
                    f.write("%g %g\n" % (x, y))
            plots.append("'%s' using 1:2 with linespoints title '%s (%s)'"
                         % (path, key, CURVES[key][1]))
        if plots:
            script += ["set xlabel '%s'" % PHASE_X[phase], "set ylabel '%s'" % ylabel,
                       "plot " + ", ".join(plots)]
    path = os.path.join(workdir, "mounts.dat")
    with open(path, "w") as f:
        for n, m in enumerate(s.mounts):
            f.write("%d %g %g\n" % (n + 1, m["mount_s"], m["rss_mib"] or 0))
    script += ["unset logscale", "set logscale y", "set xlabel 'mount number (store grows)'",
               "set ylabel 's / MiB'",
               "plot '%s' using 1:2 with linespoints title 'mount time (s)', "
               "'%s' using 1:3 with linespoints title 'RSS after mount (MiB)'" % (path, path),
               "unset multiplot"]
    gp = os.path.join(workdir, "scale.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    rc, out, err = bench.run(["gnuplot", gp], 120)
    if rc != 0:
        raise RuntimeError("gnuplot: exit %d: %s" % (rc, (out + err).strip()))


def params():
    ap = argparse.ArgumentParser(description="How the costs of aifs grow with the store.")
    ap.add_argument("--build", default=os.path.join(bench.TOP, "build"))
    ap.add_argument("--dir", default="/var/tmp", help="where the store is made")
    ap.add_argument("--out", default=os.path.join(bench.TOP, "bench", "results"))
    ap.add_argument("--files", type=sizes, default=sizes("10000,100000"),
                    help="sizes of the flat directories, comma-separated (default 10000,100000)")
    ap.add_argument("--versions", type=sizes, default=sizes("10,1000,10000"),
                    help="version counts of one file (default 10,1000,10000)")
    ap.add_argument("--records", type=sizes, default=sizes("10000,100000"),
                    help="audit record totals (default 10000,100000)")
    ap.add_argument("--probes", type=int, default=2000,
                    help="lookups, creates and warm opens per point (default 2000)")
    ap.add_argument("--cold-probes", type=int, default=20,
                    help="cold opens per point, each after drop_caches (default 20)")
    ap.add_argument("--mount-opts", default="", help="extra aifs -o options")
    p = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root (mount, drop_caches)")
    return p


def main():
    p = params()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.time()
    s = Scale(p)
    info = bench.machine(s.base, s.build)
    log("aifs scale: %s (store in %s)" % (info["aifs"], s.base))
    fatal = None
    try:
        s.run()
    except Exception as e:
        fatal = "%s: %s" % (type(e).__name__, e)
        log("FATAL " + fatal)
    finally:
        err = s.cleanup()
        if err:
            s.errors.append({"phase": "unmount", "error": err})
    wall = time.time() - t0
    os.makedirs(p.out, exist_ok=True)
    stem = os.path.join(p.out, "scale-%s" % stamp)
    curves = {k: {"label": CURVES[k][0], "unit": CURVES[k][1], "goal": CURVES[k][2],
                  "points": v, "growth": growth(v)} for k, v in s.curves.items() if v}
    with open(stem + ".json", "w") as f:
        json.dump({"time": stamp, "wall_s": wall, "machine": info, "params": vars(p),
                   "curves": curves, "mounts": s.mounts, "errors": s.errors,
                   "fatal": fatal}, f, indent=1)
    work = tempfile.mkdtemp(prefix="aifs-scale-plot-")
    try:
        chart(s, stem + ".png", work)
        drawn = stem + ".png"
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        drawn = "not drawn: %s" % e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("aifs scale (%s): size: value per curve, (xG: growth from the smallest to the largest"
          " size), [goal]" % info["aifs"])
    print(report(s))
    for e in s.errors:
        print("error (%s): %s" % (e["phase"], e["error"]))
    if fatal:
        print("stopped early: " + fatal)
    print("total wall time %.0f s" % wall)
    print("results: %s.json" % stem)
    print("chart:   %s" % drawn)
    return 1 if (fatal or s.errors) else 0


if __name__ == "__main__":
    sys.exit(main())
