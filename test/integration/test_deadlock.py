#!/usr/bin/python3
"""Concurrent checkpoint saves never hang the mount (issue 16).

The workload of the issue, run by an unprivileged user from several processes
and threads: savers in checkpoints/ directories looping over their names with
open(name, "wb").write(1-100 KB), os.replace (30%), os.unlink (20%) and reads of
NAME@v1 (30%); renames across two directories; a dataset directory snapshotted
and its snapshots removed while it is written; journal files appended to under
audit/; stat storms; readers of .aifs/versions/NAME/N; keep_versions and a
directory's own retention pruning; promote and restore.

Checks: every worker process ends by itself within a bound (a hang is reported
with the kernel stacks of the daemon's threads, then the FUSE connection is
aborted through /sys/fs/fuse/connections/N/abort so that the suite goes on);
the mount answers afterwards; each name and each version read serves a
complete payload (each carries its own length and SHA-256); fsck is clean.

AIFS_STRESS_SECONDS (default 30) is how long the workers run; AIFS_STRESS_SEED
replays a run.  Workers run this file with --worker.
"""

import hashlib
import json
import os
import random
import re
import stat
import struct
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PYTHON = "/usr/bin/python3"
UID = GID = 4242          # the unprivileged user the workers run as
MAGIC = b"AIFSDL01"
HEAD = len(MAGIC) + 4 + 32
NAMES = 20                # names per saver thread
GRACE = 90.0              # a worker may overrun its deadline by this much
PROBE_TIMEOUT = 30.0      # a listing of a directory of the mount takes at most this


def seconds():
    return float(os.environ.get("AIFS_STRESS_SECONDS") or 30)


# ------------------------------------------------------------------ payloads

def payload(rnd):
    """1-100 KB of random bytes behind a header with their length and SHA-256."""
    body = rnd.randbytes(rnd.randint(1024, 100 * 1024))
    return MAGIC + struct.pack("<I", len(body)) + hashlib.sha256(body).digest() + body


def payload_error(b):
    """None if B is one whole payload, else what is wrong with it."""
    if len(b) < HEAD or b[:len(MAGIC)] != MAGIC:
        return "not a payload header (%d bytes: %r)" % (len(b), b[:16])
    n = struct.unpack("<I", b[len(MAGIC):len(MAGIC) + 4])[0]
    if len(b) != HEAD + n:
        return "length %d, header says %d" % (len(b), HEAD + n)
    if hashlib.sha256(b[HEAD:]).digest() != b[len(MAGIC) + 4:HEAD]:
        return "SHA-256 of the body does not match its header (%d bytes)" % len(b)
    return None


# ------------------------------------------------------------------ workers
#
# A worker process runs a few threads until its deadline, then prints one JSON
# line: counts per operation, errors seen (expected ones are counted, others
# listed) and the slowest operation.  It exits 1 if anything was wrong.

# errnos a racing namespace may legitimately give
RACY = {2, 16, 17, 39}    # ENOENT, EBUSY, EEXIST, ENOTEMPTY
FAIL = object()           # what Worker.op returns when the operation failed
# DIR/.aifs/versions/NAME is one directory per file: when the file is renamed
# while the kernel still holds it under the old name, the kernel may fail to
# move it (ESTALE; it tries again at the next lookup)
VIEWS = RACY | {116}
# during a write session the name serves the last version, which is read-only
# (setxattr needs write access)
SESSION = RACY | {13}


class Worker:
    def __init__(self, cfg, role):
        self.cfg = cfg
        self.mnt = cfg["mnt"]
        self.end = time.time() + cfg["seconds"]
        self.lock = threading.Lock()
        self.counts = {}
        self.bad = []
        self.slow = (0.0, "")
        self.seed = cfg["seed"]
        self.role = role

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def wrong(self, text):
        with self.lock:
            if len(self.bad) < 20:
                self.bad.append(text)
            self.counts["wrong"] = self.counts.get("wrong", 0) + 1

    def op(self, what, fn, *args, ok=RACY):
        """Run one operation; count it, its expected errors, and time it.
        Returns its result, or FAIL."""
        t0 = time.time()
        try:
            r = fn(*args)
            self.count(what)
            return r
        except OSError as e:
            if e.errno in ok:
                self.count("%s:%s" % (what, os.strerror(e.errno)))
                return FAIL
            self.wrong("%s %s: %s" % (what, args[:1], e))
            return FAIL
        finally:
            dt = time.time() - t0
            with self.lock:
                if dt > self.slow[0]:
                    self.slow = (dt, "%s %s" % (what, args[:1]))

    def rnd(self, i):
        return random.Random("%s/%s/%d" % (self.seed, self.role, i))

    def run(self, threads):
        ts = [threading.Thread(target=self.guard, args=(fn, i), daemon=True)
              for i, fn in enumerate(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print(json.dumps({"role": self.role, "counts": self.counts, "wrong": self.bad,
                          "slowest": self.slow}), flush=True)
        return 1 if self.bad else 0

    def guard(self, fn, i):
        try:
            fn(self.rnd(i))
        except BaseException:
            self.wrong("thread %d died: %s" % (i, traceback.format_exc()))

    def more(self):
        return time.time() < self.end

    # -- operations
    def save(self, path, rnd):
        b = payload(rnd)
        with open(path, "wb") as f:
            f.write(b)
        return b

    def read_version(self, path):
        """Read a version (FILE@vN or .aifs/versions/FILE/N): it must be whole."""
        with open(path, "rb") as f:
            b = f.read()
        err = payload_error(b)
        if err:
            self.wrong("version %s: %s" % (os.path.relpath(path, self.mnt), err))
        return b


def saver(w, d, own, everyone, across=None):
    """One saver thread: the issue's loop over its own names in directory D."""
    def loop(rnd):
        while w.more():
            name = rnd.choice(own)
            path = os.path.join(d, name)
            w.op("save", w.save, path, rnd)
            r = rnd.random()
            if r < 0.3:
                dst_dir, pool = (across if across and rnd.random() < 0.5 else (d, everyone))
                w.op("replace", os.replace, path, os.path.join(dst_dir, rnd.choice(pool)))
            elif r < 0.5:
                w.op("unlink", os.unlink, os.path.join(d, rnd.choice(everyone)))
            elif r < 0.8:
                w.op("read@v1", w.read_version, os.path.join(d, rnd.choice(everyone) + "@v1"))
    return loop


def stat_storm(w, dirs):
    def loop(rnd):
        while w.more():
            d, names = rnd.choice(dirs)
            p = os.path.join(d, rnd.choice(names))
            r = rnd.random()
            if r < 0.6:
                w.op("stat", os.stat, p)
            elif r < 0.7:
                w.op("listdir", os.listdir, d)
            elif r < 0.85:
                w.op("getxattr", os.getxattr, p, "user.aifs.version", ok=RACY | {61})
            else:
                # the name itself: a reader that raced a save's start may see
                # that save's bytes, so only that it reads is checked here
                w.op("read", lambda q: open(q, "rb").read(), p)
    return loop


def version_reader(w, dirs):
    def loop(rnd):
        while w.more():
            d, names = rnd.choice(dirs)
            vd = os.path.join(d, ".aifs", "versions", rnd.choice(names))
            ns = w.op("list-versions", os.listdir, vd, ok=VIEWS)
            if ns is not FAIL and ns:
                w.op("read-version", w.read_version, os.path.join(vd, rnd.choice(ns)), ok=VIEWS)
    return loop


def snapshotter(w, ds):
    def loop(rnd):
        k = 0
        live = []
        while w.more():
            k += 1
            tag = "s%d" % k
            if w.op("snapshot", os.mkdir, os.path.join(ds, ".aifs", "snapshots", tag)) is not FAIL:
                live.append(tag)
                files = w.op("list-snapshot", os.listdir, os.path.join(ds, ".aifs", "snapshots", tag))
                for f in (files if files is not FAIL else [])[:3]:
                    w.op("read-snapshot", lambda q: open(q, "rb").read(),
                         os.path.join(ds, ".aifs", "snapshots", tag, f))
            while len(live) > 2 or (live and rnd.random() < 0.3):
                w.op("unsnapshot", os.rmdir, os.path.join(ds, ".aifs", "snapshots", live.pop(0)))
            time.sleep(rnd.random() * 0.05)
        for tag in live:
            w.op("unsnapshot", os.rmdir, os.path.join(ds, ".aifs", "snapshots", tag))
    return loop


def dataset_writer(w, ds):
    def loop(rnd):
        while w.more():
            w.op("dataset-write", w.save, os.path.join(ds, "f%d" % rnd.randrange(10)), rnd)
    return loop


def journal_appender(w, jd):
    def loop(rnd):
        k = 0
        while w.more():
            k += 1
            path = os.path.join(jd, "log%d-%d" % (os.getpid(), k))
            fd = w.op("journal-open", os.open, path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if fd is FAIL:
                continue
            for i in range(rnd.randint(1, 50)):
                w.op("journal-append", os.write, fd, b"record %d of %s\n" % (i, path.encode()))
            w.op("journal-close", os.close, fd)     # seals the file
    return loop


def promoter(w, d, names, dest):
    rel = os.path.relpath(dest, w.mnt)

    def loop(rnd):
        k = 0
        while w.more():
            p = os.path.join(d, rnd.choice(names))
            if rnd.random() < 0.5:
                k += 1
                w.op("promote", os.setxattr, p, "user.aifs.promote",
                     ("%s/p%d-%s-%d" % (rel, os.getpid(), os.path.basename(d), k)).encode(), ok=SESSION | {61})
            else:
                vs = w.op("list-versions", os.listdir, os.path.join(d, ".aifs", "versions",
                                                                    os.path.basename(p)), ok=VIEWS)
                if vs is not FAIL and vs:
                    w.op("restore", os.setxattr, p, "user.aifs.restore",
                         rnd.choice(vs).encode(), ok=SESSION | {22})
            time.sleep(rnd.random() * 0.02)
    return loop


def worker_main(role, cfg):
    w = Worker(cfg, role)
    a, b = cfg["a"], cfg["b"]
    na = ["w%d-%02d.pt" % (t, k) for t in range(7) for k in range(NAMES)]
    nb = ["x%d-%02d.pt" % (t, k) for t in range(3) for k in range(NAMES)]
    if role == "savers-a":          # the workload: 7 threads, one directory
        threads = [saver(w, a, na[t * NAMES:(t + 1) * NAMES], na) for t in range(7)]
    elif role == "savers-b":        # a second directory, renames into the first
        threads = [saver(w, b, nb[t * NAMES:(t + 1) * NAMES], nb, across=(a, na)) for t in range(3)]
    elif role == "readers":
        dirs = [(a, na), (b, nb)]
        threads = [stat_storm(w, dirs), stat_storm(w, dirs), version_reader(w, dirs),
                   version_reader(w, dirs)]
    else:                           # "misc"
        threads = [snapshotter(w, cfg["ds"]), dataset_writer(w, cfg["ds"]),
                   journal_appender(w, cfg["jd"]), promoter(w, a, na, cfg["promoted"]),
                   promoter(w, b, nb, cfg["promoted"])]
    return w.run(threads)


if len(sys.argv) == 4 and sys.argv[1] == "--worker":
    sys.exit(worker_main(sys.argv[2], json.loads(sys.argv[3])))


# ------------------------------------------------------------------ the test side

from harness import Fail, Store, check, eq, main, mounted, skip_native, test  # noqa: E402


def mount_dev(mnt):
    """"MAJ:MIN" of the mount on MNT from /proc/self/mountinfo (no stat: it may hang)."""
    mnt = os.path.realpath(mnt)
    dev = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()
            if p[4].replace("\\040", " ") == mnt:
                dev = p[2]
    return dev


def abort_connection(mnt):
    """Abort the FUSE connection of MNT (frees every process stuck in it)."""
    dev = mount_dev(mnt)
    if not dev:
        return "no mount on %s" % mnt
    conn = "/sys/fs/fuse/connections/%d" % int(dev.split(":")[1])
    if not os.path.exists(conn):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", "/sys/fs/fuse/connections"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with open(os.path.join(conn, "abort"), "w") as f:
            f.write("1")
        return "aborted %s" % conn
    except OSError as e:
        return "cannot abort %s: %s" % (conn, e)


def stacks(pid, what):
    """The kernel stacks of PID's threads, as comment lines."""
    out = []
    try:
        tids = sorted(os.listdir("/proc/%d/task" % pid), key=int)
    except OSError:
        return ["# %s %d: gone" % (what, pid)]
    for tid in tids:
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            comm = open(base + "comm").read().strip()
            st = open(base + "stat").read().rsplit(")", 1)[1].split()[0]
            frames = [ln.split()[-1] for ln in open(base + "stack").read().splitlines()][:8]
        except OSError:
            continue
        if what == "daemon" or st != "S" or any("fuse" in f or "rwsem" in f for f in frames):
            out.append("# %s %d thread %s (%s) state %s: %s" % (what, pid, tid, comm, st,
                                                              " < ".join(frames)))
    return out


class Guard:
    """Abort the mount if the block does not finish within SECS (a hang)."""

    def __init__(self, s, secs, what, pids=()):
        self.s, self.secs, self.what, self.pids = s, secs, what, list(pids)
        self.fired = None

    def __enter__(self):
        self.firing = False
        self.t = threading.Timer(self.secs, self.fire)
        self.t.daemon = True
        self.t.start()
        return self

    def fire(self):
        self.firing = True
        self.fired = hang_report(self.s, self.what, self.secs, self.pids)

    def __exit__(self, et, ev, tb):
        self.t.cancel()
        if self.firing:
            self.t.join()
        if self.fired:
            raise Fail(self.fired)
        return False


def hang_report(s, what, secs, pids=()):
    """Print what is stuck, abort the connection; returns the failure text."""
    lines = stacks(s.pid, "daemon") if s.pid else []
    for p in pids:
        lines += stacks(p, "worker")
    print("\n".join(lines[:80]), flush=True)
    print("# daemon log: " + s.log_tail(30), flush=True)
    how = abort_connection(s.mnt)
    return "%s: did not finish within %.0f s: the mount hangs (%s; %d daemon threads stuck in the kernel)" % (
        what, secs, how, sum(1 for ln in lines if "daemon" in ln and "state D" in ln))


def run_workers(s, cfg, roles):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    procs, outs = {}, {}
    for role in roles:
        outs[role] = open(os.path.join(s.base, "worker-%s.out" % role), "w+b")
        procs[role] = subprocess.Popen(
            [PYTHON, os.path.abspath(__file__), "--worker", role, json.dumps(cfg)],
            stdout=outs[role], stderr=subprocess.STDOUT, user=UID, group=GID,
            extra_groups=[], cwd="/", env=env)
    deadline = time.time() + cfg["seconds"] + GRACE
    results, hung, probe, since = {}, [], None, 0.0
    while len(results) < len(procs) and not hung:
        for role, p in procs.items():
            if role not in results and p.poll() is not None:
                outs[role].seek(0)
                results[role] = (p.returncode, outs[role].read().decode("utf-8", "replace"))
        now = time.time()
        if now > deadline:
            hung = [r for r in procs if r not in results]
            what, secs = "worker processes %s" % ", ".join(hung), cfg["seconds"] + GRACE
        elif probe is not None and probe.poll() is None and now - since > PROBE_TIMEOUT:
            hung = [r for r in procs if r not in results]
            what, secs = "a listing of checkpoints/a beside the workers", PROBE_TIMEOUT
        elif probe is None or (probe.poll() is not None and now - since > 1.0):
            # the workers may not notice a hang of the mount (each waits
            # on its own request): a probe beside them does
            probe = subprocess.Popen(["ls", "-f", cfg["a"]], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            since = now
        time.sleep(0.1)
    if hung:
        msg = hang_report(s, what, secs, [procs[r].pid for r in hung])
        for r in hung:
            procs[r].kill()
        for r in hung:
            try:
                procs[r].wait(timeout=30)
            except subprocess.TimeoutExpired:
                print("# worker %s (pid %d) still stuck after the abort" % (r, procs[r].pid), flush=True)
        raise Fail(msg)
    if probe is not None:
        probe.wait()
    problems = []
    for role, (rc, out) in results.items():
        last = out.strip().splitlines()[-1] if out.strip() else ""
        try:
            summary = json.loads(last)
        except ValueError:
            problems.append("worker %s exited %d without a summary: %s" % (role, rc, out[-1500:]))
            continue
        counts = summary["counts"]
        print("# %s: %s; slowest %.2fs (%s)" % (role, ", ".join(
            "%s %d" % kv for kv in sorted(counts.items())), summary["slowest"][0],
            summary["slowest"][1]), flush=True)
        if rc != 0 or summary["wrong"]:
            problems.append("worker %s (exit %d): %s" % (role, rc, "; ".join(summary["wrong"][:5])))
    return results, problems


def setup_dirs(s):
    cfg = {"mnt": s.mnt, "seconds": seconds(),
           "seed": int(os.environ.get("AIFS_STRESS_SEED") or random.randrange(1 << 30)),
           "a": os.path.join(s.mnt, "checkpoints", "a"),
           "b": os.path.join(s.mnt, "checkpoints", "b"),
           "promoted": os.path.join(s.mnt, "checkpoints", "promoted"),
           "ds": os.path.join(s.mnt, "datasets", "ds"),
           "jd": os.path.join(s.mnt, "audit", "j")}
    for k in ("a", "b", "promoted", "ds", "jd"):
        os.mkdir(cfg[k])
        os.chown(cfg[k], UID, GID)
        os.chmod(cfg[k], 0o777)
    # directory b keeps fewer versions than the mount does (its own retention)
    os.setxattr(cfg["b"], "user.aifs.retain", b"last=2,every=5")
    print("# seed %d (AIFS_STRESS_SEED replays), %.0f s" % (cfg["seed"], cfg["seconds"]), flush=True)
    return cfg


def check_lock_waits(s, limit=30.0):
    """The daemon's lock watchdog lines: each wait must have ended, within LIMIT s
    (a wait of a few seconds under a loaded machine is shown, not failed)."""
    waiting, bad = {}, []
    with open(s.log, errors="replace") as f:
        for ln in f:
            m = re.search(r"lock watchdog: thread (\d+).* has waited", ln)
            if m:
                waiting[m.group(1)] = ln.strip()
                print("# " + ln.strip(), flush=True)
            m = re.search(r"lock watchdog: thread (\d+) got the lock .* after ([\d.]+) s", ln)
            if m:
                print("# " + ln.strip(), flush=True)
                first = waiting.pop(m.group(1), "")
                if float(m.group(2)) > limit:
                    bad.append(first)
    bad += waiting.values()
    check(not bad, "daemon log: waits for an aifs lock that never ended or lasted over %.0f s: %s" % (
        limit, " | ".join(bad[:3])))


def check_names(s, d):
    """Every name in D serves one whole payload, and so does each of its versions."""
    names = sorted(n for n in os.listdir(d))
    bad = []
    for n in names:
        p = os.path.join(d, n)
        if not stat.S_ISREG(os.stat(p).st_mode):
            continue
        with open(p, "rb") as f:
            err = payload_error(f.read())
        if err:
            bad.append("%s: %s" % (n, err))
        vd = os.path.join(d, ".aifs", "versions", n)
        for v in (os.listdir(vd) if os.path.isdir(vd) else []):
            with open(os.path.join(vd, v), "rb") as f:
                err = payload_error(f.read())
            if err:
                bad.append("%s version %s: %s" % (n, v, err))
    check(not bad, "%s: names or versions not serving a whole payload: %s" % (
        os.path.relpath(d, s.mnt), "; ".join(bad[:5])))
    return len(names)


@test
def concurrent_saves_never_hang():
    """The issue's workload and its variants: no hang, whole versions, fsck clean."""
    skip_native()
    with Store("keep_versions=3") as s:
        cfg = setup_dirs(s)
        _, problems = run_workers(s, cfg, ["savers-a", "savers-b", "readers", "misc"])
        with Guard(s, 60, "the mount after the workers ended"):
            os.listdir(s.mnt)
            n = sum(check_names(s, cfg[k]) for k in ("a", "b", "promoted"))
            check(n > 0, "expected names left in the checkpoint directories, saw none")
            for sub in os.listdir(os.path.join(cfg["ds"], ".aifs", "snapshots")):
                os.rmdir(os.path.join(cfg["ds"], ".aifs", "snapshots", sub))
            with open(os.path.join(s.mnt, ".aifs", "stats")) as f:
                daemon = json.load(f)["daemon"]
        print("# daemon: %s" % ", ".join("%s %s" % kv for kv in sorted(daemon.items())), flush=True)
        # the invalidation thread runs: write sessions queue their names
        check(daemon["invalidations_sent"] > 0, "invalidations_sent of .aifs/stats after the run: "
              "expected > 0, saw %s" % daemon["invalidations_sent"])
        check(not problems, "; ".join(problems)[:3000])
        with Guard(s, 120, "unmount"):
            s.unmount()
        s.fsck_clean("fsck after the stress run")
        check_lock_waits(s)


@test
def hidden_name_answers_from_the_daemon():
    """A name looked up just before a save starts is not served stale once it has:
    other processes' stat and open see the last committed version at once."""
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "h")
        os.mkdir(d)
        p = os.path.join(d, "m.pt")
        rnd = random.Random(16)
        old = payload(rnd)
        with open(p, "wb") as f:
            f.write(old)
        with Guard(s, 60, "a save beside readers"):
            for i in range(20):
                eq(os.stat(p).st_size, len(old), "size of the name before save %d" % i)
                new = payload(rnd)
                with open(p, "r+b") as f:      # no O_TRUNC: the session starts at the write
                    f.write(new[:4096])
                    f.flush()
                    # another process: the name and what it opens are the last version
                    out = subprocess.run([PYTHON, "-c", "import os,sys; p=sys.argv[1]; "
                                          "print(os.stat(p).st_size, len(open(p,'rb').read()))", p],
                                         stdout=subprocess.PIPE, timeout=30).stdout.split()
                    eq([int(x) for x in out], [len(old), len(old)],
                       "stat size and bytes read of the name by another process during save %d" % i)
                    f.seek(0)
                    f.write(new)
                    f.truncate()
                old = new
                eq(os.stat(p).st_size, len(old), "size of the name after save %d" % i)
                with open(p, "rb") as f:
                    eq(payload_error(f.read()), None, "content after save %d" % i)


if __name__ == "__main__":
    main()
