#!/usr/bin/python3
"""Automatic lineage (issue 9): what a job read (dataset snapshots, live dataset trees,
checkpoint versions) is attached to the checkpoint versions it commits, exposed as
user.aifs.lineage and by aifsctl lineage (tree, --json, --openlineage).

Jobs are real PyTorch programs (/usr/bin/python3 with torch, DataLoader workers) started
with setsid, so that each is its own session, as a job is.  Every test is aifs-only.
"""

import errno
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Store, check, eq, main, run,  # noqa: E402
                     skip_native, test)

PY = "/usr/bin/python3"
TAMPER = os.path.join(os.path.dirname(AIFSCTL_BIN), "aifs-tamper")

# A training job: reads every file of each "data" directory through a DataLoader with
# worker processes, loads "base" if given, trains a step and saves to each of "saves".
# "ready"/"read" files written outside the mount let two jobs overlap: each waits for
# the other to be ready before reading, and for the other to have read before saving.
JOB = r'''
import json, os, sys, time
import torch

cfg = json.loads(sys.argv[1])

def wait_for(path):
    deadline = time.time() + 120
    while not os.path.exists(path):
        if time.time() > deadline:
            sys.exit("timed out waiting for " + path)
        time.sleep(0.02)

class Files(torch.utils.data.Dataset):
    def __init__(self, root):
        self.files = sorted(os.path.join(root, f) for f in os.listdir(root))
    def __len__(self):
        return len(self.files)
    def __getitem__(self, i):
        return torch.load(self.files[i])

torch.manual_seed(0)
open(cfg["ready"], "w").close()
if cfg.get("other_ready"):
    wait_for(cfg["other_ready"])
model = torch.nn.Linear(4, 2)
if cfg.get("base"):
    model.load_state_dict(torch.load(cfg["base"]))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
seen = 0
for root in cfg.get("data", []):
    loader = torch.utils.data.DataLoader(Files(root), batch_size=4, num_workers=2)
    for batch in loader:
        loss = model(batch).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(batch)
for path in cfg.get("plain_reads", []):
    with open(path, "rb") as f:
        f.read()
open(cfg["read"], "w").close()
if cfg.get("other_read"):
    wait_for(cfg["other_read"])
for path in cfg.get("saves", []):
    torch.save(model.state_dict(), path)
print("samples", seen)
'''


# ------------------------------------------------------------------ helpers

class Jobs:
    """Job scripts and their ready/read marker files in a directory outside the mount."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aifs-lineage-")
        self.n = 0

    def script(self, name):
        path = os.path.join(self.dir, name + ".py")
        with open(path, "w") as f:
            f.write(JOB)
        return path

    def start(self, name, env=None, **cfg):
        """Start job NAME in a new session (setsid); returns the Popen."""
        cfg.setdefault("ready", os.path.join(self.dir, name + ".ready"))
        cfg.setdefault("read", os.path.join(self.dir, name + ".read"))
        e = dict(os.environ)
        e.pop("AIFS_JOB", None)
        e.update(env or {})
        return subprocess.Popen(["setsid", "--wait", PY, self.script(name), json.dumps(cfg)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e)

    def marker(self, name, what):
        return os.path.join(self.dir, "%s.%s" % (name, what))

    def cleanup(self):
        subprocess.run(["rm", "-rf", self.dir])


def finish(p, name, timeout=300):
    out, _ = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise Fail("job %s: expected exit 0, saw %d: %s" % (
            name, p.returncode, out.decode(errors="replace")[-2000:]))


def run_job(jobs, name, env=None, **cfg):
    finish(jobs.start(name, env=env, **cfg), name)


def make_dataset(s, name, n, seed):
    """datasets/NAME with N tensor files (4 floats each); returns its path."""
    import torch
    p = os.path.join(s.mnt, "datasets", name)
    os.mkdir(p)
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        torch.save(torch.randn(4, generator=g), os.path.join(p, "x%03d.pt" % i))
    return p


def snapshot(ds, tag):
    os.mkdir(os.path.join(ds, ".aifs", "snapshots", tag))
    return os.path.join(ds, ".aifs", "snapshots", tag)


def lineage(path):
    try:
        return json.loads(os.getxattr(path, "user.aifs.lineage"))
    except OSError as e:
        raise Fail("getxattr user.aifs.lineage %s: expected a value, saw %s" % (
            path, errno.errorcode.get(e.errno, e.errno)))


def sources(lin):
    """The sources of a lineage as a set of comparable tuples."""
    out = set()
    for src in lin["sources"]:
        if src["kind"] == "version":
            out.add(("version", src["path"], src["version"]))
        else:
            out.add((src["kind"], src["dataset"], src["snapshot"]))
    return out


def sha_of(path):
    return os.getxattr(path, "user.aifs.sha256").decode()


def sha_sum(paths):
    """Sum modulo 2^256 of the SHA-256 of the files at PATHS."""
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            total += int(hashlib.sha256(f.read()).hexdigest(), 16)
    return "%064x" % (total % (1 << 256))


def ctl(*args):
    return run([AIFSCTL_BIN] + [str(a) for a in args])


class Scenario:
    """ds0 read live by the job that saves base/model.pt twice; then, at the same time,
    job A fine-tunes base v2 on snapshot v1 of ds1 and job B trains from base v1 on
    snapshot v1 of ds2."""

    def __init__(self, s):
        skip_native()
        self.s = s
        m = s.mnt
        self.ds0 = make_dataset(s, "ds0", 8, 0)
        self.ds1 = make_dataset(s, "ds1", 12, 1)
        self.ds2 = make_dataset(s, "ds2", 12, 2)
        snapshot(self.ds1, "v1")
        snapshot(self.ds2, "v1")
        # the live trees change after the snapshots: the jobs must read the frozen ones
        for ds in (self.ds1, self.ds2):
            with open(os.path.join(ds, "x000.pt"), "r+b") as f:
                f.write(b"changed")
        for d in ("base", "ft", "other"):
            os.mkdir(os.path.join(m, "checkpoints", d))
        self.base = os.path.join(m, "checkpoints", "base", "model.pt")
        self.ft = os.path.join(m, "checkpoints", "ft", "model.pt")
        self.other = os.path.join(m, "checkpoints", "other", "model.pt")
        self.jobs = Jobs()

    def run(self):
        j = self.jobs
        run_job(j, "pretrain", data=[self.ds0], saves=[self.base, self.base])
        a = j.start("job_a", data=[os.path.join(self.ds1, ".aifs/snapshots/v1")],
                    base=self.base + "@v2", saves=[self.ft],
                    other_ready=j.marker("job_b", "ready"), other_read=j.marker("job_b", "read"))
        b = j.start("job_b", data=[os.path.join(self.ds2, ".aifs/snapshots/v1")],
                    base=self.base + "@v1", saves=[self.other],
                    other_ready=j.marker("job_a", "ready"), other_read=j.marker("job_a", "read"))
        try:
            finish(a, "job_a")
            finish(b, "job_b")
        finally:
            for p in (a, b):
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def close(self):
        self.jobs.cleanup()


def scenario_test(fn):
    """Run FN(scenario) on a fresh store with the scenario's jobs done."""
    def wrapper():
        skip_native()
        with Store() as s:
            sc = Scenario(s)
            try:
                sc.run()
                fn(s, sc)
            finally:
                sc.close()
    wrapper.__name__ = fn.__name__
    return test(wrapper)


# ------------------------------------------------------------------ tests

A_SOURCES = {("snapshot", "datasets/ds1", "v1"), ("version", "checkpoints/base/model.pt", 2)}
B_SOURCES = {("snapshot", "datasets/ds2", "v1"), ("version", "checkpoints/base/model.pt", 1)}


@scenario_test
def finetune_lineage_has_exactly_its_snapshot_and_base_version_not_a_concurrent_jobs(s, sc):
    la, lb = lineage(sc.ft), lineage(sc.other)
    eq(sources(la), A_SOURCES, "sources of job A's checkpoint")
    eq(sources(lb), B_SOURCES, "sources of job B's checkpoint")
    check(la["job"]["sid"] != lb["job"]["sid"],
          "jobs A and B: expected different session ids, saw %s for both" % la["job"]["sid"])
    check("job_a.py" in la["job"]["cmdline"],
          "job A's command line: expected job_a.py in it, saw %r" % la["job"]["cmdline"])
    check("job_b.py" in lb["job"]["cmdline"],
          "job B's command line: expected job_b.py in it, saw %r" % lb["job"]["cmdline"])
    check(la["job"]["start"].endswith("Z") and la["job"]["start"] > "2020",
          "job A's start time: expected an ISO time, saw %r" % la["job"]["start"])
    eq(la["version"]["number"], 1, "version number of ft/model.pt")
    eq(la["version"]["sha256"], sha_of(sc.ft), "version sha256 in the lineage of ft/model.pt")
    base = [x for x in la["sources"] if x["kind"] == "version"][0]
    eq(base["sha256"], sha_of(sc.base + "@v2"), "sha256 of the base version source")
    snap = [x for x in la["sources"] if x["kind"] == "snapshot"][0]
    eq(snap["files"], 12, "files of snapshot ds1@v1")
    # walking back: base v2 was trained on the live tree of ds0 (all 8 files read)
    up = base["upstream"]
    eq(up["version"]["number"], 2, "upstream version number")
    eq(sources(up), {("live", "datasets/ds0", "live")}, "sources of base/model.pt@v2")
    live = up["sources"][0]
    eq(live["state"]["files"], 8, "distinct files of ds0 read by the pretraining job")
    files = sorted(os.path.join(sc.ds0, f) for f in os.listdir(sc.ds0))
    eq(live["state"]["sha256_sum"], sha_sum(files), "sha256 sum of ds0 as read")
    eq(live["state"]["complete"], True, "live state complete")
    # the same through the version's own names
    eq(sources(lineage(sc.ft + "@v1")), A_SOURCES, "sources of ft/model.pt@v1")
    eq(sources(lineage(os.path.join(s.mnt, "checkpoints/ft/.aifs/versions/model.pt/1"))),
       A_SOURCES, "sources of ft/.aifs/versions/model.pt/1")


@scenario_test
def aifsctl_lineage_walks_back_from_finetune_to_base_to_live_dataset(s, sc):
    rc, out = ctl("lineage", sc.ft)
    eq(rc, 0, "aifsctl lineage exit status (%s)" % out)
    lines = out.splitlines()
    check(lines and lines[0].startswith("checkpoints/ft/model.pt@v1 "),
          "first line: expected checkpoints/ft/model.pt@v1 ..., saw %r" % (lines[:1],))
    for want in ("  <- dataset datasets/ds1 snapshot v1 (12 files",
                 "  <- checkpoint checkpoints/base/model.pt@v2 (file, sha256 ",
                 "       <- dataset datasets/ds0 live tree (8 files read, sha256 sum "):
        check(any(l.startswith(want) for l in lines),
              "aifsctl lineage: expected a line starting %r, saw:\n%s" % (want, out))
    check("ds2" not in out and "@v1 (file" not in out.split("\n", 1)[1],
          "aifsctl lineage: job B's sources must not appear, saw:\n%s" % out)
    rc, js = ctl("lineage", "--json", sc.ft)
    eq(rc, 0, "aifsctl lineage --json exit status")
    eq(json.loads(js), lineage(sc.ft), "aifsctl lineage --json vs user.aifs.lineage")


@scenario_test
def lineage_survives_remount(s, sc):
    before = {p: lineage(p) for p in (sc.ft, sc.other, sc.base + "@v2")}
    s.remount()
    for p, lin in before.items():
        eq(lineage(p), lin, "user.aifs.lineage of %s after remount" % p)
    rc, out = ctl("lineage", sc.ft)
    eq(rc, 0, "aifsctl lineage after remount (%s)" % out)
    s.unmount()
    s.fsck_clean("fsck of a store with lineage records")


@scenario_test
def openlineage_export_has_manifest_digest_and_version_sha(s, sc):
    rc, out = ctl("lineage", "--openlineage", sc.ft)
    eq(rc, 0, "aifsctl lineage --openlineage exit status (%s)" % out[-500:])
    events = [json.loads(l) for l in out.splitlines()]
    eq(len(events), 2, "RunEvents: ft/model.pt@v1 and base/model.pt@v2")
    ev = events[0]
    for key in ("eventType", "eventTime", "producer", "schemaURL", "run", "job", "inputs",
                "outputs"):
        check(key in ev, "RunEvent: expected key %s, saw %s" % (key, sorted(ev)))
    eq(ev["eventType"], "COMPLETE", "eventType")
    check(len(ev["run"]["runId"]) == 36 and ev["run"]["runId"][14] == "8",
          "runId: expected a UUID, saw %r" % ev["run"]["runId"])
    eq([o["name"] for o in ev["outputs"]], ["checkpoints/ft/model.pt@v1"], "outputs")
    eq(ev["outputs"][0]["facets"]["aifs_version"]["sha256"], sha_of(sc.ft), "output sha256")
    inputs = {i["name"]: i["facets"] for i in ev["inputs"]}
    eq(sorted(inputs), ["checkpoints/base/model.pt@v2", "datasets/ds1@v1"], "input names")
    rc, manifest = run([AIFSCTL_BIN, "snapshot", "manifest", sc.ds1, "v1"])
    eq(rc, 0, "aifsctl snapshot manifest")
    eq(inputs["datasets/ds1@v1"]["aifs_source"]["manifest_digest"],
       "sha256:" + hashlib.sha256(manifest.encode()).hexdigest(), "snapshot manifest digest")
    eq(inputs["checkpoints/base/model.pt@v2"]["aifs_source"]["sha256"], sha_of(sc.base + "@v2"),
       "input version sha256")
    eq(events[1]["outputs"][0]["name"], "checkpoints/base/model.pt@v2", "second event's output")
    eq([i["name"] for i in events[1]["inputs"]], ["datasets/ds0"], "second event's inputs")
    check(events[0]["run"]["runId"] != events[1]["run"]["runId"],
          "the two jobs: expected different runIds")


@test
def live_tree_read_is_recorded_with_its_content_state():
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds = os.path.join(s.mnt, "datasets", "raw")
            os.mkdir(ds)
            os.mkdir(os.path.join(ds, "sub"))
            paths = []
            for i, rel in enumerate(("a.txt", "b.txt", "sub/c.txt")):
                p = os.path.join(ds, rel)
                with open(p, "wb") as f:
                    f.write(b"sample %d\n" % i)
                paths.append(p)
            os.mkdir(os.path.join(s.mnt, "checkpoints", "run"))
            out = os.path.join(s.mnt, "checkpoints", "run", "model.pt")
            # a.txt is read twice: one (file, content) pair
            run_job(jobs, "prep", plain_reads=paths + paths[:1], saves=[out])
            lin = lineage(out)
            eq(sources(lin), {("live", "datasets/raw", "live")}, "sources")
            st = lin["sources"][0]["state"]
            eq(st["files"], 3, "distinct files read")
            eq(st["sha256_sum"], sha_sum(paths), "sha256 sum of the files read")
        finally:
            jobs.cleanup()


@test
def aifs_job_names_one_job_across_sessions():
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds = make_dataset(s, "shared", 4, 3)
            snapshot(ds, "t1")
            os.mkdir(os.path.join(s.mnt, "checkpoints", "named"))
            out = os.path.join(s.mnt, "checkpoints", "named", "model.pt")
            env = {"AIFS_JOB": "exp-42"}
            run_job(jobs, "reader", env=env, data=[os.path.join(ds, ".aifs/snapshots/t1")])
            run_job(jobs, "saver", env=env, saves=[out])
            lin = lineage(out)
            eq(lin["job"].get("name"), "exp-42", "job name")
            eq(sources(lin), {("snapshot", "datasets/shared", "t1")}, "sources of the named job")
            # without the name, the saver's session read nothing
            out2 = os.path.join(s.mnt, "checkpoints", "named", "plain.pt")
            run_job(jobs, "saver2", saves=[out2])
            eq(sources(lineage(out2)), set(), "sources of an unnamed job that read nothing")
        finally:
            jobs.cleanup()


@test
def directory_version_gets_the_lineage_of_the_committing_job():
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds = make_dataset(s, "dirds", 4, 4)
            snapshot(ds, "s1")
            ck = os.path.join(s.mnt, "checkpoints", "step-1")
            os.mkdir(ck)
            commit = os.path.join(jobs.dir, "commit.py")
            with open(commit, "w") as f:
                f.write("import subprocess, sys\n"
                        "for p in sys.argv[2:]:\n"
                        "    open(p, 'rb').read()\n"
                        "for n in ('a.bin', 'b.bin'):\n"
                        "    open(sys.argv[1] + '/' + n, 'wb').write(b'w' * 100)\n"
                        "subprocess.run([%r, 'checkpoint', 'commit', sys.argv[1]], check=True)\n"
                        % AIFSCTL_BIN)
            snap = os.path.join(ds, ".aifs/snapshots/s1")
            rc, out = run(["setsid", "--wait", PY, commit, ck] +
                          [os.path.join(snap, f) for f in sorted(os.listdir(snap))])
            eq(rc, 0, "committing job (%s)" % out)
            lin = lineage(ck)
            eq(lin["version"]["type"], "directory", "version type")
            eq(sources(lin), {("snapshot", "datasets/dirds", "s1")}, "sources of the directory")
        finally:
            jobs.cleanup()


@test
def restored_version_keeps_the_lineage_of_the_version_it_restores():
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds = make_dataset(s, "rds", 4, 6)
            snapshot(ds, "r1")
            os.mkdir(os.path.join(s.mnt, "checkpoints", "rs"))
            out = os.path.join(s.mnt, "checkpoints", "rs", "model.pt")
            run_job(jobs, "first", data=[os.path.join(ds, ".aifs/snapshots/r1")], saves=[out])
            run_job(jobs, "second", saves=[out])
            eq(sources(lineage(out)), set(), "sources of version 2 (its job read nothing)")
            rc, msg = ctl("restore", out, "1")
            eq(rc, 0, "aifsctl restore (%s)" % msg)
            lin = lineage(out)
            eq(lin["version"]["number"], 3, "version made by the restore")
            eq(sources(lin), {("snapshot", "datasets/rds", "r1")}, "sources of version 3")
            eq(lin["job"], lineage(out + "@v1")["job"], "job of version 3 (version 1's)")
        finally:
            jobs.cleanup()


@test
def lineage_off_records_nothing():
    skip_native()
    with Store(opts="lineage=off") as s:
        jobs = Jobs()
        try:
            ds = make_dataset(s, "d", 4, 5)
            snapshot(ds, "v1")
            os.mkdir(os.path.join(s.mnt, "checkpoints", "off"))
            out = os.path.join(s.mnt, "checkpoints", "off", "model.pt")
            run_job(jobs, "offjob", data=[os.path.join(ds, ".aifs/snapshots/v1")], saves=[out])
            try:
                os.getxattr(out, "user.aifs.lineage")
                raise Fail("user.aifs.lineage with lineage=off: expected ENODATA, saw a value")
            except OSError as e:
                eq(errno.errorcode.get(e.errno), "ENODATA", "getxattr error with lineage=off")
            rc, msg = ctl("lineage", out)
            eq(rc, 1, "aifsctl lineage exit status without lineage (%s)" % msg)
        finally:
            jobs.cleanup()


@test
def aifsctl_lineage_usage_and_errors():
    skip_native()
    with Store() as s:
        rc, out = ctl("lineage")
        eq(rc, 2, "aifsctl lineage without PATH")
        rc, out = ctl("lineage", "--json", "--openlineage", s.mnt)
        eq(rc, 2, "aifsctl lineage with two output modes")
        rc, out = ctl("lineage", "--help")
        eq(rc, 0, "aifsctl lineage --help")
        check("--openlineage" in out, "help text: expected --openlineage, saw %r" % out)
        p = os.path.join(s.mnt, "datasets", "f")
        with open(p, "w") as f:
            f.write("x")
        rc, out = ctl("lineage", p)
        eq(rc, 1, "aifsctl lineage of a dataset file (%s)" % out)
        check("no lineage" in out, "message: expected 'no lineage', saw %r" % out)


def lineage_stats(s):
    with open(os.path.join(s.mnt, ".aifs", "stats")) as f:
        return json.load(f)["lineage"]


@test
def ended_jobs_are_pruned_at_mount_and_running_jobs_kept():
    """A job's reads are stored until it commits; at mount the stored reads of jobs
    whose session has ended are deleted, those of a job still running are kept."""
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds = make_dataset(s, "prune", 4, 5)
            snap = snapshot(ds, "t1")
            os.mkdir(os.path.join(s.mnt, "checkpoints", "pr"))
            out = os.path.join(s.mnt, "checkpoints", "pr", "model.pt")
            run_job(jobs, "ended", data=[snap])
            go = jobs.marker("running", "go")
            running = jobs.start("running", data=[snap], other_read=go, saves=[out])
            try:
                deadline = time.time() + 120
                while not os.path.exists(jobs.marker("running", "read")):
                    check(running.poll() is None and time.time() < deadline,
                          "job running: expected it to read and wait")
                    time.sleep(0.05)
                eq(lineage_stats(s)["jobs"], 2, "jobs with stored reads before the remount")
                s.remount()
                st = lineage_stats(s)
                eq(st["ended_jobs_pruned_at_mount"], 1, "ended jobs pruned at mount")
                check(st["sources_pruned_at_mount"] >= 1,
                      "expected the ended job's source records pruned, saw %s" % st)
                eq(st["jobs"], 1, "jobs with stored reads after the remount")
            finally:
                open(go, "w").close()
                finish(running, "running")
            eq(sources(lineage(out)), {("snapshot", "datasets/prune", "t1")},
               "sources of the running job, read before the remount")
        finally:
            jobs.cleanup()


# ---------------------------------------------------------------- the job rule (issue 23)

def cfg_arg(jobs, name, **cfg):
    """The JSON argument of job script NAME, with its own marker files."""
    cfg.setdefault("ready", jobs.marker(name, "ready"))
    cfg.setdefault("read", jobs.marker(name, "read"))
    return json.dumps(cfg)


def run_shell(argv, commands=None, timeout=600):
    """Run ARGV (a shell, in a session of its own) with COMMANDS on its stdin."""
    e = dict(os.environ)
    e.pop("AIFS_JOB", None)
    p = subprocess.run(["setsid", "--wait"] + argv, input=commands and commands.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e, timeout=timeout)
    if p.returncode != 0:
        raise Fail("%s: expected exit 0, saw %d: %s" % (
            " ".join(argv), p.returncode, p.stdout.decode(errors="replace")[-2000:]))
    return p.stdout.decode(errors="replace")


def two_trainings(s):
    """ds1 and ds2 with a snapshot v1 each, and the checkpoint directory of two runs."""
    ds1 = make_dataset(s, "ds1", 8, 1)
    ds2 = make_dataset(s, "ds2", 8, 2)
    os.mkdir(os.path.join(s.mnt, "checkpoints", "r1"))
    os.mkdir(os.path.join(s.mnt, "checkpoints", "r2"))
    return (ds1, snapshot(ds1, "v1"), os.path.join(s.mnt, "checkpoints", "r1", "model.pt"),
            ds2, snapshot(ds2, "v1"), os.path.join(s.mnt, "checkpoints", "r2", "model.pt"))


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


@test
def lineage_each_command_of_an_interactive_shell_is_its_own_job():
    """Two trainings typed one after the other into one interactive shell (bash -i
    reading its commands from a pipe): each checkpoint lists only the snapshot its own
    training read (through a DataLoader with worker processes), and the job is the
    training's command, not the shell's session."""
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds1, snap1, ck1, ds2, snap2, ck2 = two_trainings(s)
            script = jobs.script("train")
            cmds = "%s %s %s\n%s %s %s\nexit 0\n" % (
                PY, script, shlex.quote(cfg_arg(jobs, "t1", data=[snap1], saves=[ck1])),
                PY, script, shlex.quote(cfg_arg(jobs, "t2", data=[snap2], saves=[ck2])))
            run_shell(["bash", "--norc", "--noprofile", "-i"], cmds)
            l1, l2 = lineage(ck1), lineage(ck2)
            eq(sources(l1), {("snapshot", "datasets/ds1", "v1")}, "sources of the first training")
            eq(sources(l2), {("snapshot", "datasets/ds2", "v1")}, "sources of the second training")
            eq(l1["job"]["rule"], "tree", "job rule of a command of an interactive shell")
            check(l1["job"]["id"] != l2["job"]["id"], "expected two jobs, saw one: %s" % l1["job"])
            check(l1["job"]["cmdline"].startswith(PY + " " + script),
                  "job command line: expected the training's, saw %r" % l1["job"]["cmdline"])
        finally:
            jobs.cleanup()


@test
def lineage_each_command_of_a_shell_script_is_its_own_job():
    """A script run as ./pipeline.sh (its comm is the script's name, its executable
    bash) that reads a live dataset with cat, then runs two trainings: no training
    lists what the cat or the other training read."""
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds1, snap1, ck1, ds2, snap2, ck2 = two_trainings(s)
            script = jobs.script("train")
            sh = write_script(os.path.join(jobs.dir, "pipeline.sh"),
                              "#!/bin/bash\nset -e\ncat %s/x000.pt > /dev/null\n%s %s %s\n%s %s %s\n" % (
                                  shlex.quote(ds2), PY, script,
                                  shlex.quote(cfg_arg(jobs, "t1", data=[snap1], saves=[ck1])), PY,
                                  script, shlex.quote(cfg_arg(jobs, "t2", data=[snap2], saves=[ck2]))))
            run_shell([sh])
            eq(sources(lineage(ck1)), {("snapshot", "datasets/ds1", "v1")},
               "sources of the first training of the script")
            eq(sources(lineage(ck2)), {("snapshot", "datasets/ds2", "v1")},
               "sources of the second training of the script")
        finally:
            jobs.cleanup()


# As torchrun does: start the workers and wait for them; rank 1 reads, rank 0 reads and saves.
LAUNCHER = r'''
import subprocess, sys
py, script, cfg1, cfg0 = sys.argv[1:5]
for cfg in (cfg1, cfg0):
    subprocess.run([py, script, cfg], check=True)
'''


@test
def lineage_launcher_and_its_workers_are_one_job():
    """A launcher started from a shell script spawns two worker processes (as torchrun
    does), each reading its own snapshot through a DataLoader with worker processes;
    the checkpoint rank 0 saves lists both snapshots; a training run after the launcher
    in the same script is a job of its own."""
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds1, snap1, ck1, ds2, snap2, ck2 = two_trainings(s)
            script = jobs.script("train")
            launcher = write_script(os.path.join(jobs.dir, "launcher.py"), LAUNCHER)
            sh = write_script(os.path.join(jobs.dir, "run.sh"), "set -e\n%s %s %s %s %s %s\n%s %s %s\n" % (
                PY, launcher, PY, script,
                shlex.quote(cfg_arg(jobs, "rank1", data=[snap2])),
                shlex.quote(cfg_arg(jobs, "rank0", data=[snap1], saves=[ck1])),
                PY, script, shlex.quote(cfg_arg(jobs, "after", saves=[ck2]))))
            run_shell(["bash", sh])
            l1 = lineage(ck1)
            eq(sources(l1), {("snapshot", "datasets/ds1", "v1"), ("snapshot", "datasets/ds2", "v1")},
               "sources of the launcher's checkpoint (both workers' reads)")
            check("launcher.py" in l1["job"]["cmdline"],
                  "job command line: expected the launcher's, saw %r" % l1["job"]["cmdline"])
            eq(sources(lineage(ck2)), set(), "sources of the training after the launcher")
        finally:
            jobs.cleanup()


# Runs a reader through sh -c, then a saver.
DRIVER = r'''
import subprocess, sys
py, script, cfg_read, cfg_save = sys.argv[1:5]
subprocess.run(["sh", "-c", '"$0" "$1" "$2"; true', py, script, cfg_read], check=True)
subprocess.run([py, script, cfg_save], check=True)
'''


@test
def lineage_aifs_job_and_setsid_widen_a_job_explicitly():
    """In one shell script: two commands named AIFS_JOB=prep are one job (the second
    saves what the first read); a driver started with setsid is one job with everything
    below it, even a command it runs through sh -c."""
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds1, snap1, ck1, ds2, snap2, ck2 = two_trainings(s)
            script = jobs.script("train")
            driver = write_script(os.path.join(jobs.dir, "driver.py"), DRIVER)
            sh = write_script(os.path.join(jobs.dir, "run.sh"), "set -e\n"
                              "AIFS_JOB=prep %s %s %s\n" % (
                                  PY, script, shlex.quote(cfg_arg(jobs, "p1", data=[snap1]))) +
                              "AIFS_JOB=prep %s %s %s\n" % (
                                  PY, script, shlex.quote(cfg_arg(jobs, "p2", saves=[ck1]))) +
                              "setsid --wait %s %s %s %s %s %s\n" % (
                                  PY, driver, PY, script,
                                  shlex.quote(cfg_arg(jobs, "d1", data=[snap2])),
                                  shlex.quote(cfg_arg(jobs, "d2", saves=[ck2]))))
            run_shell(["bash", sh])
            l1, l2 = lineage(ck1), lineage(ck2)
            eq(sources(l1), {("snapshot", "datasets/ds1", "v1")}, "sources of the AIFS_JOB=prep save")
            eq((l1["job"]["name"], l1["job"]["rule"]), ("prep", "name"), "the named job")
            eq(sources(l2), {("snapshot", "datasets/ds2", "v1")}, "sources of the setsid driver's save")
            eq(l2["job"]["rule"], "session", "job rule below setsid")
        finally:
            jobs.cleanup()


@test
def lineage_ended_tree_job_is_pruned_at_mount():
    """A command of a shell (a tree job) that read a snapshot and exited has ended: the
    next mount deletes its stored reads, as for an ended session."""
    skip_native()
    with Store() as s:
        jobs = Jobs()
        try:
            ds = make_dataset(s, "prune", 4, 5)
            snap = snapshot(ds, "t1")
            script = jobs.script("reader")
            run_shell(["bash", "-c", "%s %s %s; true" % (
                PY, script, shlex.quote(cfg_arg(jobs, "reader", data=[snap])))])
            eq(lineage_stats(s)["jobs"], 1, "jobs with stored reads before the remount")
            s.remount()
            st = lineage_stats(s)
            eq((st["ended_jobs_pruned_at_mount"], st["jobs"]), (1, 0),
               "ended tree jobs pruned at mount, jobs left")
        finally:
            jobs.cleanup()


@test
def journal_file_carries_the_lineage_of_its_writer():
    """An inference server that loaded a checkpoint version writes its
    journal: the journal file leads to the version and on to the snapshot
    the version was trained on, and the log signs what it carries."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "corpus")
        os.mkdir(ds)
        for i in range(3):
            with open(os.path.join(ds, "part-%d.txt" % i), "wb") as f:
                f.write(b"text %d\n" % i * 100)
        snap = snapshot(ds, "v1")
        model = os.path.join(s.mnt, "checkpoints", "model.bin")
        train = ("import sys\n"
                 "for p in sys.argv[2:]:\n"
                 "    open(p, 'rb').read()\n"
                 "open(sys.argv[1], 'wb').write(b'weights' * 1000)\n")
        rc, out = run(["setsid", "--wait", PY, "-c", train, model] +
                      [os.path.join(snap, f) for f in sorted(os.listdir(snap))])
        eq(rc, 0, "training job (%s)" % out)
        log = os.path.join(s.mnt, "audit", "serve.log")
        serve = ("import sys\n"
                 "w = open(sys.argv[1], 'rb').read()\n"
                 "with open(sys.argv[2], 'a') as f:\n"
                 "    for i in range(3):\n"
                 "        f.write('{\"in\": %d, \"out\": %d}\\n' % (i, len(w)))\n"
                 "        f.flush()\n")
        rc, out = run(["setsid", "--wait", PY, "-c", serve, model + "@v1", log])
        eq(rc, 0, "serving job (%s)" % out)
        lin = lineage(log)
        eq(sources(lin), {("version", "checkpoints/model.bin", 1)},
           "sources of the journal file: the version the server loaded")
        rc, out = ctl("lineage", log)
        eq(rc, 0, "aifsctl lineage of the journal file (%s)" % out)
        check("checkpoints/model.bin" in out and "datasets/corpus" in out and "v1" in out,
              "aifsctl lineage of the journal file walks to the version and on to its "
              "snapshot; saw:\n" + out)
        # the log has a signed record of it, and verifies
        s.unmount()
        rc, out = ctl("audit", "verify", s.store)
        eq(rc, 0, "audit verify with a lineage record (%s)" % out)
        exp = os.path.join(s.base, "export")
        rc, out = ctl("audit", "export", s.store, exp)
        eq(rc, 0, "audit export (%s)" % out)
        recs = []
        for name in os.listdir(exp):
            if name.endswith(".jsonl"):
                with open(os.path.join(exp, name)) as f:
                    recs += [json.loads(line) for line in f if line.strip()]
        lins = [r for r in recs if r.get("op") == "lineage"]
        eq(len(lins), 1, "lineage records in the exported log")
        eq(lins[0].get("path"), "/audit/serve.log", "path of the lineage record")
        # rewriting what the journal file says its writer read is caught
        rc, out = run([TAMPER, s.store, "alter-lineage", str(lins[0]["inode"])])
        eq(rc, 0, "aifs-tamper alter-lineage (%s)" % out)
        rc, out = ctl("audit", "verify", s.store)
        check(rc != 0 and "lineage of /audit/serve.log was changed" in out,
              "audit verify after the lineage was rewritten: %d %s" % (rc, out))


if __name__ == "__main__":
    main()
