"""aifs benchmark: every workload on aifs, a native directory and FUSE peers.

  /usr/bin/python3 test/bench/bench.py --build build [--quick] [--rounds N]
                                       [--peers passthrough_ll,bindfs|none] [sizes...]

Makes a fresh store and a native comparison directory side by side in one new
directory (default under /var/tmp, so both sit on the same disk), mounts the
store, and mounts the FUSE filesystems a user would pick instead of aifs, each
over its own native directory of the same disk:
  passthrough_ll  libfuse's example as Debian ships it in libfuse3-dev, built
                  here with gcc, mounted with -o writeback,cache=always;
  bindfs          Debian's bindfs with its default options.
With --baseline BUILD, another build of aifs (an earlier commit, say) is
mounted as one more side, "aifs-base", over a store of its own, and takes the
aifs paths (versions, snapshots, the journal): its column and aifs/base say
whether a change made any figure worse, measured in the same run.
Each workload runs on every side in turn, the side that goes first rotating
from round to round.  Then it unmounts, prints one table of medians with the
ratios aifs/native, peer/native and aifs/peer and the target of each figure,
writes every raw figure with the machine and the parameters to
bench/results/bench-YYYYmmdd-HHMMSS.json, draws the ratios against their
targets into a PNG of the same name (gnuplot), and removes its directories.

Every figure is a rate (higher is better), so a ratio above 1 means aifs is
faster.  The peers run the same workloads as the native directory: plain
directories where aifs has a policy (checkpoint versions, dataset snapshots,
the audit journal).  Sequential and random I/O use fio (psync, fallocate=none); the
rest runs in child processes (work.py) timed inside the child.  "cold" means
sync plus drop_caches=3 just before the timed part, so it needs root.

Areas that later features give a policy (checkpoints/, datasets/ snapshots,
audit/ journal) are detected on the mount; while a feature is missing the
row is measured on a plain directory and says so.  Nothing is estimated: a
row that cannot be measured prints n/a with the reason, and an error on
either side is printed under the table and kept in the JSON.

Where Ceph is installed, the RADOS figures of rados_bench.py follow (a one-node
cluster of its own: migration to a RADOS cold tier against rados bench, reads of
a store whose data is in RADOS against a local one), under "rados" in the JSON;
--no-rados skips them.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
import rados_bench  # noqa: E402
NOT_BUILT = "(feature not yet built: plain directory)"
PEERS = ("passthrough_ll", "bindfs")
BASE = "aifs-base"          # the side of --baseline BUILD
PLL_SOURCES = ("/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c",
               "/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c.gz")


class Row:
    """One line of the table: a figure, its unit, and its target (the issue's goal).

    kind "ratio": met when median(aifs)/median(native) >= target, and, with
                  beat_peer, also median(aifs) >= median(passthrough_ll).
    kind "min":   met when median(aifs) >= target (absolute, unit of the row).
    kind "max":   met when median(aifs) < target (absolute, unit of the row).
    native=False: an aifs-only figure (no native or peer column).
    """

    def __init__(self, key, label, unit, kind, target, native=True, beat_peer=False):
        self.key, self.label, self.unit = key, label, unit
        self.kind, self.target, self.native = kind, target, native
        self.beat_peer = beat_peer


ROWS = [
    Row("seq_write", "sequential write (fsync)", "MiB/s", "ratio", 1.0, beat_peer=True),
    Row("seq_read", "sequential read, cold", "MiB/s", "ratio", 0.95),
    Row("rand_read", "4 KiB random read, cold, QD1", "IOPS", "ratio", 0.95),
    Row("create", "create", "ops/s", "ratio", 0.6),
    Row("stat_warm", "stat, warm", "ops/s", "ratio", 0.9),
    Row("stat_cold", "stat, cold", "ops/s", "ratio", 0.4),
    Row("readdir", "readdir", "entries/s", "ratio", 1.0),
    Row("unlink", "unlink", "ops/s", "ratio", 0.3),
    Row("torch_save", "torch.save + fsync", "MiB/s", "ratio", 1.0),
    Row("torch_load", "torch.load, cold", "MiB/s", "ratio", 0.95),
    Row("small_write", "small-file write (+ syncfs)", "files/s", "ratio", 0.7),
    Row("loader_cold", "DataLoader epoch 1, cold", "files/s", "ratio", 0.8),
    Row("loader_warm", "DataLoader epoch 2, warm", "files/s", "ratio", 0.95),
    Row("audit", "1 KiB O_APPEND records", "records/s", "min", 50000),
    Row("commit_overhead", "version commit overhead, torch.save", "%", "max", 5,
        native=False),
    Row("snapshot", "snapshot of a file tree", "s", "max", 0.05, native=False),
    Row("rss", "daemon peak RSS (VmHWM)", "MiB", "max", 256, native=False),
]
ROW = {r.key: r for r in ROWS}


# ------------------------------------------------------------------ helpers

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def size_arg(s):
    """'2G', '512M', '100K' or a plain number of bytes -> bytes."""
    mult = {"K": 2**10, "M": 2**20, "G": 2**30}
    s = s.strip().upper().rstrip("IB")
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run(argv, timeout):
    """Run argv; return (returncode, stdout, stderr) as text. Raises TimeoutExpired."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def text_of(argv):
    """First line of a command's output, or the error that stopped it."""
    try:
        rc, out, err = run(argv, 60)
        return (out or err).strip().splitlines()[0] if (out or err).strip() else "rc %d" % rc
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable: %s" % e


def mounted(path):
    """True when path is a mount point in /proc/self/mountinfo (also for a dead FUSE mount)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4].replace("\\040", " ") == path for line in f)


def status_kib(pid, field):
    """A 'kB' field of /proc/PID/status (VmHWM, VmRSS), or None when it cannot be read."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def machine(base, build):
    """What the figures were measured on."""
    cpu = ""
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    with open("/proc/meminfo") as f:
        mem = next(int(l.split()[1]) for l in f if l.startswith("MemTotal"))
    git = text_of(["git", "-C", TOP, "rev-parse", "HEAD"])
    _, dirty, _ = run(["git", "-C", TOP, "status", "--porcelain", "--untracked-files=no"], 60)
    return {
        "host": platform.node(), "kernel": platform.release(), "cpu": cpu,
        "cpus": os.cpu_count(), "mem_kib": mem,
        "disk": text_of(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--target", base]),
        "loadavg_start": os.getloadavg(),
        "aifs": text_of([os.path.join(build, "aifs"), "-V"]),
        "git": git, "git_dirty": bool(dirty.strip()),
        "fio": text_of(["fio", "--version"]),
        "libfuse": text_of(["pkg-config", "--modversion", "fuse3"]),
        "bindfs": text_of(["bindfs", "--version"]),
        "torch": text_of([PY, "-c", "import torch; print(torch.__version__)"]),
        "python": text_of([PY, "--version"]),
    }


# ------------------------------------------------------------------ the sides

def wait_mounted(path, proc, what, log_tail):
    """Wait until proc has mounted path; raises with its log when it exits or takes 30 s."""
    deadline = time.time() + 30
    while not (mounted(path) and os.path.ismount(path)):
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d before mounting: %s"
                               % (what, proc.returncode, log_tail()))
        if time.time() > deadline:
            raise RuntimeError("%s did not mount within 30 s: %s" % (what, log_tail()))
        time.sleep(0.02)


def unmount_proc(path, proc, what, log_tail):
    """Unmount path and wait for its daemon proc; returns an error text or None."""
    err = None
    if mounted(path):
        rc, out, e = run(["umount", path], 120)
        if rc != 0:
            err = "umount: exit %d: %s" % (rc, (out + e).strip())
            for _ in range(40):
                if not mounted(path) or run(["umount", path], 120)[0] == 0:
                    break
                time.sleep(0.25)
            if mounted(path):
                run(["umount", "-l", path], 120)
    if proc is not None:
        try:
            rc = proc.wait(60)
            if rc != 0:
                err = err or "%s exited with %d after umount: %s" % (what, rc, log_tail())
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            err = err or "%s still running 60 s after umount; killed" % what
    return err


def log_tail_of(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-n:]) or "(log empty)"
    except OSError:
        return "(no log)"


def most_files():
    """Raise the open-file limit to its hard limit: passthrough_ll keeps a descriptor
    open for every inode the kernel knows, so the default soft limit (often 1024)
    would fail its creates long before the meta workload ends."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Daemon:
    """One FUSE daemon in the foreground: its argv, mount point, process and log."""

    def __init__(self, name, argv, mnt, logpath):
        self.name, self.argv, self.mnt, self.logpath = name, argv, mnt, logpath
        self.proc = None

    def log_tail(self):
        return log_tail_of(self.logpath)

    def start(self):
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=most_files)
        logf.close()
        wait_mounted(self.mnt, self.proc, self.name, self.log_tail)

    def stop(self):
        err = unmount_proc(self.mnt, self.proc, self.name, self.log_tail)
        self.proc = None
        return err

    def dead(self):
        """Why this daemon cannot be used any more, or None while it serves its mount."""
        if self.proc is not None and self.proc.poll() is not None:
            return "%s exited with %d: %s" % (self.name, self.proc.returncode, self.log_tail())
        if not os.path.ismount(self.mnt):
            return "%s is no longer mounted" % self.mnt
        return None


def build_passthrough_ll(workdir):
    """Compile Debian's passthrough_ll example into workdir; returns the binary's path."""
    src = next((s for s in PLL_SOURCES if os.path.exists(s)), None)
    if src is None:
        raise RuntimeError("passthrough_ll.c not found (install libfuse3-dev): looked for %s"
                           % ", ".join(PLL_SOURCES))
    if src.endswith(".gz"):
        import gzip
        with gzip.open(src, "rb") as f, open(os.path.join(workdir, "passthrough_ll.c"), "wb") as o:
            o.write(f.read())
        src = os.path.join(workdir, "passthrough_ll.c")
    rc, cflags, err = run(["pkg-config", "--cflags", "--libs", "fuse3"], 60)
    if rc != 0:
        raise RuntimeError("pkg-config fuse3: %s" % err.strip())
    out = os.path.join(workdir, "passthrough_ll")
    rc, o, e = run(["gcc", "-O2", "-Wall", "-o", out, src] + cflags.split(), 300)
    if rc != 0:
        raise RuntimeError("gcc passthrough_ll.c: exit %d: %s" % (rc, (o + e).strip()[-800:]))
    return out


class Bench:
    """The temporary directory, the daemons, and the figures gathered so far."""

    def __init__(self, p):
        self.p = p
        self.build = os.path.abspath(p.build)
        os.makedirs(p.dir, exist_ok=True)
        self.base = tempfile.mkdtemp(prefix="aifs-bench-", dir=p.dir)
        os.chmod(self.base, 0o755)
        self.store = os.path.join(self.base, "store")
        self.mnt = os.path.join(self.base, "mnt")
        self.sides = ["aifs", "native"] + list(p.peers)
        if p.baseline:
            self.sides.insert(1, BASE)
        self.root = {s: os.path.join(self.base, s) for s in self.sides}
        self.root["aifs"] = self.mnt
        self.daemon_log = os.path.join(self.base, "aifs.log")
        self.daemons = {}
        self.proc = None
        self.dead = {}              # side -> why it stopped, once it has
        self.raw = {r.key: {s: [] for s in self.sides} for r in ROWS}
        self.errors = []
        self.features = {}
        self.notes = {}
        self.extra = []
        self.partial = []

    # -- store and mounts
    def mount(self):
        rc, out, err = run([os.path.join(self.build, "aifsctl"), "mkfs", self.store], 120)
        if rc != 0:
            raise RuntimeError("aifsctl mkfs: exit %d: %s" % (rc, (out + err).strip()))
        os.mkdir(self.mnt)
        os.mkdir(self.root["native"])
        d = Daemon("aifs", [os.path.join(self.build, "aifs"), self.store, self.mnt, "-f", "-o",
                            ",".join(filter(None, ["allow_other", self.p.mount_opts]))],
                   self.mnt, self.daemon_log)
        self.daemons["aifs"] = d
        d.start()
        self.proc = d.proc
        for peer in self.p.peers:
            if self.step(peer, "mount", lambda: self.mount_peer(peer)) is None:
                self.dead[peer] = "not mounted (see its error)"
        if self.p.baseline and self.step(BASE, "mount", self.mount_base) is None:
            self.dead[BASE] = "not mounted (see its error)"

    def mount_base(self):
        """Mount the --baseline build of aifs over a store of its own at base/aifs-base."""
        build = os.path.abspath(self.p.baseline)
        store = os.path.join(self.base, "store-base")
        rc, out, err = run([os.path.join(build, "aifsctl"), "mkfs", store], 120)
        if rc != 0:
            raise RuntimeError("baseline aifsctl mkfs: exit %d: %s" % (rc, (out + err).strip()))
        os.mkdir(self.root[BASE])
        d = Daemon(BASE, [os.path.join(build, "aifs"), store, self.root[BASE], "-f", "-o",
                          ",".join(filter(None, ["allow_other", self.p.mount_opts]))],
                   self.root[BASE], os.path.join(self.base, BASE + ".log"))
        self.daemons[BASE] = d
        d.start()
        return True

    def is_aifs(self, side):
        """True for the sides that take the aifs paths (aifs and the baseline build)."""
        return side in ("aifs", BASE)

    def mount_peer(self, peer):
        """Mount a peer over its own native directory base/PEER-src at base/PEER."""
        src = os.path.join(self.base, peer + "-src")
        os.mkdir(src)
        os.mkdir(self.root[peer])
        if peer == "passthrough_ll":
            bindir = os.path.join(self.base, "bin")
            os.makedirs(bindir, exist_ok=True)
            argv = [build_passthrough_ll(bindir), "-f", "-o",
                    "source=%s,writeback,cache=always" % src, self.root[peer]]
        else:
            argv = ["bindfs", "-f", src, self.root[peer]]
        d = Daemon(peer, argv, self.root[peer], os.path.join(self.base, peer + ".log"))
        self.daemons[peer] = d
        d.start()
        return True

    def unmount(self):
        """Unmount every daemon; returns an error text or None."""
        errs = []
        for side, d in self.daemons.items():
            e = d.stop()
            if e:
                errs.append(e if side == "aifs" else "%s: %s" % (side, e))
        self.proc = None
        return "; ".join(errs) or None

    def cleanup(self):
        err = self.unmount()
        left = [d.mnt for d in self.daemons.values() if mounted(d.mnt)]
        if left:
            return (err or "") + "; %s still mounted, %s kept" % (" ".join(left), self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        return err

    def log_tail(self, n=15):
        return log_tail_of(self.daemon_log, n)

    def alive(self, side="aifs"):
        """False (and the reason kept) once a FUSE side cannot be used any more."""
        if side not in self.daemons:
            return side == "native" or side not in self.dead
        if side not in self.dead:
            why = self.daemons[side].dead()
            if why:
                self.dead[side] = why
                self.errors.append({"side": side, "what": "daemon", "error": why})
        return side not in self.dead

    # -- areas and features
    def prepare_areas(self):
        """Make the lifecycle areas where mkfs did not, and note which features exist."""
        for side in self.sides:
            if not self.alive(side):
                continue
            for d in ("checkpoints", "datasets", "audit", "seq", "meta", "plain"):
                os.makedirs(os.path.join(self.root[side], d), exist_ok=True)

        def area(d):
            try:
                return os.getxattr(os.path.join(self.mnt, d), "user.aifs.area").decode()
            except OSError:
                return None
        probe = os.path.join(self.mnt, "datasets", ".aifs", "snapshots")
        self.features = {
            "checkpoint_versions": area("checkpoints") == "checkpoint",
            "journal": area("audit") == "journal",
            "snapshots": area("datasets") == "dataset" and os.path.isdir(probe),
        }
        for key, feat in (("torch_save", "checkpoint_versions"),
                          ("torch_load", "checkpoint_versions"),
                          ("loader_cold", "snapshots"), ("loader_warm", "snapshots"),
                          ("audit", "journal")):
            if not self.features[feat]:
                self.notes[key] = NOT_BUILT
        if not self.features["snapshots"]:
            self.notes["snapshot"] = "n/a (snapshots not yet built)"

    # -- running one step on one side
    def step(self, side, what, fn):
        """Run fn(); keep an error (and the daemon's state) instead of raising."""
        if not self.alive(side):
            return None
        t = time.time()
        try:
            return fn()
        except Exception as e:          # a failing workload is a finding, not a crash
            msg = "%s: %s" % (type(e).__name__, str(e).strip()[-1500:])
            if not self.alive(side):
                msg += " [%s]" % self.dead[side]
            self.errors.append({"side": side, "what": what, "error": msg})
            log("  ERROR %s on %s: %s" % (what, side, msg))
            return None
        finally:
            log("  %-7s %-6s %5.1f s" % (what, side, time.time() - t))

    def add(self, key, side, value):
        if value is not None:
            self.raw[key][side].append(value)

    def child(self, kind, args):
        """Run work.py KIND in a child process; returns its JSON result."""
        try:
            rc, out, err = run([PY, os.path.join(HERE, "work.py"), kind, json.dumps(args)],
                               self.p.timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("no result within %d s (hang?)" % self.p.timeout)
        if rc != 0:
            tail = err.strip().splitlines()[-3:] if err.strip() else ["exit %d" % rc]
            raise RuntimeError(" / ".join(tail))
        return json.loads(out.strip().splitlines()[-1])

    def fio(self, name, path, rw, bs, extra=()):
        """One fio job; returns its job object from --output-format=json."""
        argv = ["fio", "--name=" + name, "--filename=" + path, "--rw=" + rw, "--bs=" + bs,
                "--size=%d" % self.p.seq_size, "--ioengine=psync", "--fallocate=none",
                "--output-format=json"] + list(extra)
        try:
            rc, out, err = run(argv, self.p.timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("fio %s: no result within %d s (hang?)" % (rw, self.p.timeout))
        if rc != 0:
            raise RuntimeError("fio %s: exit %d: %s" % (rw, rc, (err or out).strip()[-800:]))
        job = json.loads(out[out.index("{"):])["jobs"][0]
        if job.get("error"):
            raise RuntimeError("fio %s: error %d: %s" % (rw, job["error"], err.strip()[-800:]))
        return job

    # -- workloads, one side each
    def seq(self, side, rnd):
        p = self.p
        path = os.path.join(self.root[side], "seq", "fio-%d.dat" % rnd)

        def write():
            j = self.fio("seqwrite", path, "write", "1M", ["--end_fsync=1"])
            self.extra.append({"side": side, "round": rnd, "fio_seq_write": j})
            return j["write"]["bw_bytes"] / 2**20
        self.add("seq_write", side, self.step(side, "seqwrite", write))
        if not os.path.exists(path):
            return

        def check_size():
            st = os.stat(path).st_size
            if st != p.seq_size:
                raise RuntimeError("%s: expected %d bytes after the write, saw %d"
                                   % (path, p.seq_size, st))

        def read():
            check_size()
            drop_caches()
            j = self.fio("seqread", path, "read", "1M")
            self.extra.append({"side": side, "round": rnd, "fio_seq_read": j})
            return j["read"]["bw_bytes"] / 2**20
        self.add("seq_read", side, self.step(side, "seqread", read))

        def rand():
            check_size()
            drop_caches()
            j = self.fio("randread", path, "randread", "4k",
                         ["--time_based", "--runtime=%d" % p.rand_runtime])
            self.extra.append({"side": side, "round": rnd, "fio_rand_read": j})
            return j["read"]["iops"]
        self.add("rand_read", side, self.step(side, "randread", rand))
        self.step(side, "rm", lambda: os.unlink(path))

    def meta(self, side, rnd):
        args = {"dir": os.path.join(self.root[side], "meta", "r%d" % rnd),
                "files": self.p.meta_files, "dirs": self.p.meta_dirs,
                "readdir_passes": self.p.readdir_passes, "unlink_cap": self.p.unlink_cap}
        r = self.step(side, "meta", lambda: self.child("meta", args))
        for k in ("create", "stat_warm", "stat_cold", "readdir", "unlink"):
            self.add(k, side, r and r[k])
        if r and r["unlinked"] < self.p.meta_files:
            self.notes["unlink"] = "(rate over part of the files: see below)"
            self.partial.append("unlink on %s, round %d: rate over the first %d of %d files "
                                "(stopped after --unlink-cap %d s)"
                                % (side, rnd + 1, r["unlinked"], self.p.meta_files,
                                   self.p.unlink_cap))

    def torch(self, side, rnd):
        args = {"path": os.path.join(self.root[side], "checkpoints", "model-%d.pt" % rnd),
                "mib": self.p.torch_mib, "tensor_mib": self.p.tensor_mib, "load": True}
        plain = dict(args, path=os.path.join(self.root[side], "plain", "model-%d.pt" % rnd),
                     load=False)
        # On aifs the same save also goes to a plain directory, in alternating order, for
        # the cost of making it a version (SHA-256, version record, commit at close).
        first_plain = self.is_aifs(side) and self.features["checkpoint_versions"] \
            and rnd % 2 == 1
        p = self.step(side, "torch-plain", lambda: self.child("torch", plain)) \
            if first_plain else None
        r = self.step(side, "torch", lambda: self.child("torch", args))
        self.add("torch_save", side, r and r["save"])
        self.add("torch_load", side, r and r["load"])
        if not self.is_aifs(side) or not self.features["checkpoint_versions"]:
            return
        if not first_plain:
            p = self.step(side, "torch-plain", lambda: self.child("torch", plain))
        if r and p:
            self.add("commit_overhead", side, (p["save"] / r["save"] - 1) * 100)

    def loader(self, side, rnd):
        args = {"dir": os.path.join(self.root[side], "datasets", "loader-%d" % rnd),
                "files": self.p.loader_files, "size": self.p.loader_size,
                "dirs": self.p.loader_dirs, "batch": 64, "workers": 2,
                "snapshot": self.is_aifs(side) and self.features["snapshots"]}
        r = self.step(side, "loader", lambda: self.child("loader", args))
        self.add("small_write", side, r and r["write"])
        self.add("loader_cold", side, r and r["epoch_cold"])
        self.add("loader_warm", side, r and r["epoch_warm"])

    def audit(self, side, rnd):
        args = {"path": os.path.join(self.root[side], "audit", "bench-%d.log" % rnd),
                "records": self.p.audit_records, "size": 1024}
        r = self.step(side, "audit", lambda: self.child("audit", args))
        self.add("audit", side, r and r["records"])

    def snapshot(self, side, rnd):
        """Seconds to snapshot a tree of snap_files files (aifs sides only, once a tree exists)."""
        tree = os.path.join(self.root[side], "datasets", "snaptree")
        args = {"dir": tree, "files": self.p.snap_files, "tag": "bench-%d" % rnd}
        r = self.step(side, "snapshot", lambda: self.child("snapshot", args))
        self.add("snapshot", side, r and r["seconds"])

    # -- the whole run
    def rounds(self):
        groups = [self.seq, self.meta, self.torch, self.loader, self.audit]
        n = len(self.sides)
        for rnd in range(self.p.rounds):
            order = self.sides[rnd % n:] + self.sides[:rnd % n]
            log("round %d of %d (order: %s)" % (rnd + 1, self.p.rounds, ", ".join(order)))
            for g in groups:
                for side in order:
                    g(side, rnd)
            if self.features["snapshots"]:
                for side in order:
                    if self.is_aifs(side):
                        self.snapshot(side, rnd)
        for side, d in self.daemons.items():
            if d.proc is not None and self.alive(side):
                hwm = status_kib(d.proc.pid, "VmHWM")
                self.add("rss", side, hwm and hwm / 1024)


# ------------------------------------------------------------------ report

SHORT = {"passthrough_ll": "pll", "bindfs": "bindfs", BASE: "base"}


def columns(p):
    """The sides printed beside aifs and native: the baseline build, then the peers."""
    return ([BASE] if p.baseline else []) + list(p.peers)


def median_or_none(xs):
    return statistics.median(xs) if xs else None


def quotient(a, b):
    return a / b if (a is not None and b) else None


def summarize(b):
    """Per row: medians per side, the ratios, target text, met; in ROWS order.

    ratio is aifs/native; peers[P] holds P's median, P/native and aifs/P.
    """
    out = []
    pll = "passthrough_ll"
    for r in ROWS:
        med = {s: median_or_none(b.raw[r.key][s]) for s in b.sides}
        ma, mn = med["aifs"], med["native"]
        ratio = quotient(ma, mn)
        peers = {}
        for peer in columns(b.p):
            mp = med[peer]
            # aifs over the baseline for every row (for RSS and the commit
            # overhead lower is better, so below 1 is better there)
            peers[peer] = {"median": mp, "runs": b.raw[r.key][peer],
                           "over_native": quotient(mp, mn) if r.native else None,
                           "aifs_over": quotient(ma, mp) if (r.native or peer == BASE)
                           else None}
        note = b.notes.get(r.key, "")
        if r.kind == "ratio":
            target = "≥ %.2f" % r.target if r.target is not None else "-"
            met = None if (r.target is None or ratio is None) else ratio >= r.target
            if r.beat_peer and pll in peers:
                target += " and ≥ pll"
                beat = peers[pll]["aifs_over"]
                met = None if (met is None or beat is None) else (met and beat >= 1.0)
        elif r.kind == "min":
            target = "≥ %g %s" % (r.target, r.unit)
            met = None if ma is None else ma >= r.target
        else:
            target = "< %g %s" % (r.target, r.unit)
            met = None if ma is None else ma < r.target
        if r.key == "snapshot" and not b.features.get("snapshots"):
            met = None
        out.append({"key": r.key, "label": r.label, "unit": r.unit, "aifs": ma,
                    "native": mn, "ratio": ratio, "peers": peers, "target": target,
                    "target_value": r.target, "target_kind": r.kind, "met": met,
                    "note": note, "aifs_runs": b.raw[r.key]["aifs"],
                    "native_runs": b.raw[r.key]["native"]})
    return out


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def table(rows, peers):
    """The medians and ratios as aligned text: one line per row."""
    short = [SHORT.get(p, p) for p in peers]
    head = (["workload", "unit", "aifs", "native"] + short + ["aifs/n"]
            + ["%s/n" % s for s in short] + ["aifs/%s" % s for s in short]
            + ["target", "met", ""])
    lines = []
    for r in rows:
        pv = [r["peers"][p] for p in peers]
        if r["key"] == "snapshot" and r["aifs"] is None and r["note"]:
            lines.append([r["label"], r["unit"], "n/a"] + [""] * (len(head) - 6)
                         + [r["target"], "-", r["note"]])
            continue
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        lines.append([r["label"], r["unit"], fmt(r["aifs"]), fmt(r["native"])]
                     + [fmt(x["median"]) for x in pv] + [fmt_ratio(r["ratio"])]
                     + [fmt_ratio(x["over_native"]) for x in pv]
                     + [fmt_ratio(x["aifs_over"]) for x in pv]
                     + [r["target"], met, r["note"]])
    w = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head) - 1)]
    left = (0, 1, len(head) - 3)
    fmt_line = "  ".join("%%-%ds" % x if i in left else "%%%ds" % x
                         for i, x in enumerate(w)) + "  %s"
    out = [fmt_line % tuple(head), "  ".join("-" * x for x in w)]
    out += [(fmt_line % tuple(l)).rstrip() for l in lines]
    return "\n".join(out)


def chart(rows, peers, png, workdir):
    """PNG of aifs/native and peer/native against the targets, and absolute rows as figure/target."""
    ratios = os.path.join(workdir, "ratios.dat")
    absolute = os.path.join(workdir, "absolute.dat")

    def num(v):
        return "NaN" if v is None else "%.4f" % v
    with open(ratios, "w") as f:
        for r in rows:
            if r["target_kind"] == "ratio" and r["ratio"] is not None:
                pr = [num(r["peers"][p]["over_native"]) if p in peers else "NaN"
                      for p in PEERS]
                f.write('"%s" %.4f %s %d %s\n' % (r["label"], r["ratio"],
                        "%.2f" % r["target_value"] if r["target_value"] else "NaN",
                        2 if r["met"] is None else int(r["met"]), " ".join(pr)))
    nabs = 0
    with open(absolute, "w") as f:
        for r in rows:
            if r["target_kind"] != "ratio" and r["aifs"]:
                if r["target_kind"] == "min":
                    score = r["aifs"] / r["target_value"]
                else:
                    score = r["target_value"] / r["aifs"] if r["aifs"] > 0 else 10.0
                f.write('"%s (%s %s)" %.4f 1 %d\n' % (r["label"], fmt(r["aifs"]), r["unit"],
                        score, 2 if r["met"] is None else int(r["met"])))
                nabs += 1
    rc, out, err = run(["gnuplot", "-e", "ratios='%s'; absolute='%s'; nabs=%d; out='%s'"
                        % (ratios, absolute, nabs, png), os.path.join(HERE, "ratios.gp")], 120)
    if rc != 0:
        raise RuntimeError("gnuplot: exit %d: %s" % (rc, (out + err).strip()))


# ------------------------------------------------------------------ main

def params():
    ap = argparse.ArgumentParser(
        description="aifs against a native directory and FUSE peers, same disk.")
    ap.add_argument("--build", default=os.path.join(TOP, "build"),
                    help="build directory with aifs and aifsctl (default build/)")
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the store and the native directory are made (default /var/tmp)")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results"),
                    help="results directory (default bench/results)")
    ap.add_argument("--quick", action="store_true", help="every size about 10x smaller")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per side (default 2, min 2)")
    ap.add_argument("--mount-opts", default="", help="extra aifs -o options")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="FUSE peers measured in the same run, comma-separated, or none "
                         "(default %s)" % ",".join(PEERS))
    ap.add_argument("--baseline", default=None, metavar="BUILD",
                    help="build directory of another aifs (an earlier commit) measured as "
                         "one more side, aifs-base, in the same run")
    ap.add_argument("--no-rados", action="store_true",
                    help="skip the RADOS figures (rados_bench.py: a one-node Ceph cluster)")
    ap.add_argument("--seq-size", type=size_arg, default=None, help="fio file (default 2G)")
    ap.add_argument("--rand-runtime", type=int, default=None,
                    help="seconds of 4 KiB random reads per run (default 20)")
    ap.add_argument("--meta-files", type=int, default=None,
                    help="default 10000 (passthrough_ll needs an open file per file: "
                         "keep it below the hard RLIMIT_NOFILE)")
    ap.add_argument("--meta-dirs", type=int, default=20)
    ap.add_argument("--readdir-passes", type=int, default=5,
                    help="times every directory is listed in the readdir figure")
    ap.add_argument("--torch-mib", type=int, default=None, help="state dict MiB (default 512)")
    ap.add_argument("--tensor-mib", type=int, default=16, help="MiB per tensor (default 16)")
    ap.add_argument("--loader-files", type=int, default=None, help="default 10000")
    ap.add_argument("--loader-size", type=size_arg, default=100 * 1024,
                    help="bytes per file (default 100K)")
    ap.add_argument("--loader-dirs", type=int, default=10)
    ap.add_argument("--audit-records", type=int, default=None, help="default 100000")
    ap.add_argument("--snap-files", type=int, default=None,
                    help="files in the snapshotted tree (default 100000)")
    ap.add_argument("--unlink-cap", type=int, default=60,
                    help="seconds after which the unlink phase stops and reports its rate")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds one step may take before it counts as hung")
    p = ap.parse_args()
    q = 10 if p.quick else 1
    defaults = {"seq_size": (2 * 2**30 // q) >> 20 << 20, "rand_runtime": max(2, 20 // q),
                "meta_files": 10000 // q, "torch_mib": 512 // q,
                "loader_files": 10000 // q, "audit_records": 100000 // q,
                "snap_files": 100000 // q}
    for k, v in defaults.items():
        if getattr(p, k) is None:
            setattr(p, k, v)
    if p.quick and p.tensor_mib > p.torch_mib:
        p.tensor_mib = max(1, p.torch_mib // 4)
    if p.rounds < 2:
        ap.error("--rounds must be at least 2")
    p.peers = [] if p.peers in ("", "none") else p.peers.split(",")
    for peer in p.peers:
        if peer not in PEERS:
            ap.error("--peers: %s is not one of %s" % (peer, ", ".join(PEERS)))
    if p.baseline and not os.path.exists(os.path.join(p.baseline, "aifs")):
        ap.error("--baseline: no aifs binary in %s" % p.baseline)
    if os.geteuid() != 0:
        ap.error("needs root (mount, allow_other, drop_caches)")
    return p


def main():
    p = params()
    t0 = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(p)
    info = machine(b.base, b.build)
    if p.baseline:
        info["aifs_base"] = text_of([os.path.join(os.path.abspath(p.baseline), "aifs"), "-V"])
    fatal = None
    log("aifs bench: %s (store, native directory and peers in %s)" % (info["aifs"], b.base))
    try:
        b.mount()
        b.prepare_areas()
        b.rounds()
    except Exception as e:
        fatal = "%s: %s" % (type(e).__name__, e)
        log("FATAL " + fatal)
    finally:
        err = b.cleanup()
        if err:
            b.errors.append({"side": "aifs", "what": "unmount", "error": err})
    rados = run_rados(p, b)
    wall = time.time() - t0
    info["loadavg_end"] = os.getloadavg()

    rows = summarize(b)
    os.makedirs(p.out, exist_ok=True)
    stem = os.path.join(p.out, "bench-%s" % stamp)
    result = {"time": stamp, "wall_s": wall, "machine": info, "params": vars(p),
              "features": b.features, "rows": rows, "raw": b.raw, "errors": b.errors,
              "partial": b.partial, "fatal": fatal, "fio_jobs": b.extra, "rados": rados}
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
    chart_err = None
    work = tempfile.mkdtemp(prefix="aifs-bench-plot-")
    try:
        chart(rows, columns(p), stem + ".png", work)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        chart_err = str(e)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("aifs, native%s: medians of %d rounds (%s%s)" % (
        "".join(", " + x for x in columns(p)), p.rounds, info["aifs"],
        ", quick sizes" if p.quick else ""))
    if "passthrough_ll" in p.peers:
        print("pll: passthrough_ll (libfuse3-dev example, -o writeback,cache=always); "
              "/n: over native")
    print("seq %s, rand read %d s, meta %d files/%d dirs, torch %d MiB, loader %d x %d B,"
          " audit %d records" % (fmt_size(p.seq_size), p.rand_runtime, p.meta_files,
                                 p.meta_dirs, p.torch_mib, p.loader_files, p.loader_size,
                                 p.audit_records))
    if p.baseline:
        print("base: aifs built in %s (%s)" % (p.baseline, info.get("aifs_base", "?")))
    print(table(rows, columns(p)))
    if rados:
        print(rados_bench.table(rados))
    for note in b.partial:
        print("partial: " + note)
    for e in b.errors:
        print("error (%s, %s): %s" % (e["side"], e["what"], e["error"]))
    if fatal:
        print("stopped early: " + fatal)
    print("total wall time %.0f s" % wall)
    print("results: %s.json" % stem)
    print("chart:   %s" % (stem + ".png" if chart_err is None else "not drawn: " + chart_err))
    return 1 if (fatal or b.errors) else 0


def run_rados(p, b):
    """The RADOS figures (rados_bench.py), or None when skipped or not possible."""
    why = "--no-rados" if p.no_rados else rados_bench.available()
    if why:
        log("RADOS figures skipped: " + why)
        return None
    try:
        return rados_bench.run(p.build, p.quick, max(3, p.rounds), p.dir)
    except Exception as e:
        b.errors.append({"side": "aifs", "what": "rados", "error": "%s: %s" % (type(e).__name__, e)})
        return None


def fmt_size(n):
    for unit, m in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= m:
            return "%g %s" % (n / m, unit)
    return "%d B" % n


if __name__ == "__main__":
    sys.exit(main())
