#!/usr/bin/python3
"""Follower mounts (issue 21): a mount of a store whose data is in RADOS, from
its local replica of the metadata, that sees what the writer commits as the
writer ships it (part 1), and whose writes to checkpoint and journal areas the
writer makes (parts 2 and 4).  Against a real one-node cluster (ceph.py)
started once for this file; the writer and the followers run on this host, in
directories of their own, sharing nothing but the cluster, as hosts would."""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceph  # noqa: E402
from harness import (AIFS_BIN, AIFSCTL_BIN, Fail, Skip, Store, check, data, eq,  # noqa: E402
                     main, read_all, run, run_as, skip_native, test, write_file)

CLUSTER = None


class Writer(Store):
    """A store whose data is in rados:POOL/NAME of the test cluster."""

    def mkfs(self):
        rc, out = run([AIFSCTL_BIN, "mkfs", "--data", "rados:%s" % CLUSTER.pool, "--ceph-conf",
                       CLUSTER.conf, self.store])
        if rc != 0:
            raise Fail("aifsctl mkfs --data: exit %d: %s" % (rc, out))
        with open(os.path.join(self.store, "aifs.conf")) as f:
            conf = dict(ln.split(" = ", 1) for ln in f.read().splitlines() if " = " in ln)
        self.spec = conf["hot"]


class Follower:
    def __init__(self, spec, extra="", replica=None, env=None):
        self.base = tempfile.mkdtemp(prefix="aifs-follow-")
        os.chmod(self.base, 0o755)      # other users reach the mount
        self.mnt = os.path.join(self.base, "mnt")
        self.replica = replica or os.path.join(self.base, "replica")
        os.mkdir(self.mnt)
        self.log = open(os.path.join(self.base, "aifs.log"), "w")
        argv = [AIFS_BIN, "--follow", spec, self.mnt, "-f", "-o",
                "allow_other,replica=%s,ceph_conf=%s%s" % (self.replica, CLUSTER.conf, extra)]
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        deadline = time.time() + 60
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None or time.time() > deadline:
                self.log.flush()
                with open(self.log.name) as f:
                    raise Fail("follower did not mount: %s" % f.read()[-2000:])
            time.sleep(0.1)

    def close_keep(self):
        """Unmount, keeping the replica."""
        subprocess.run(["umount", self.mnt])
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Unmount and remove everything; a daemon that did not exit 0 (a
        sanitizer's report, a crash) fails the test unless it failed already."""
        subprocess.run(["umount", self.mnt], stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        with open(self.log.name, errors="replace") as f:
            tail = f.read()[-3000:]
        shutil.rmtree(self.base, ignore_errors=True)
        if sys.exc_info()[0] is not None:
            sys.stderr.write("# the follower's log, last lines:\n%s\n" % tail)
        if self.proc.returncode != 0 and sys.exc_info()[0] is None:
            raise Fail("the follower exited with status %d: %s" % (self.proc.returncode, tail))


def eventually(fn, what, timeout=15.0):
    """FN() is true within TIMEOUT seconds (the documented lag is about 2 s)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if fn():
                return
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise Fail("%s: not seen by the follower within %.0f s%s" % (
        what, timeout, " (last error: %s)" % last if last else ""))


def content(path):
    with open(path, "rb") as f:
        return f.read()


@test
def follower_sees_files_versions_snapshots_and_journal_records():
    skip_native()
    with Writer() as w:
        write_file(os.path.join(w.mnt, "datasets", "before"), data("b", 300000))
        os.sync()
        time.sleep(2)           # shipped before the follower starts
        f = Follower(w.spec)
        try:
            eq(content(os.path.join(f.mnt, "datasets", "before")), data("b", 300000),
               "a file committed before the follower started")
            # a new file, then a change of it
            p = os.path.join(w.mnt, "datasets", "new")
            write_file(p, data("n1", 200000))
            eventually(lambda: content(os.path.join(f.mnt, "datasets", "new")) ==
                       data("n1", 200000), "a new file")
            write_file(p, data("n2", 250000))
            eventually(lambda: content(os.path.join(f.mnt, "datasets", "new")) ==
                       data("n2", 250000), "a rewritten file")
            # a snapshot
            os.mkdir(os.path.join(w.mnt, "datasets", "ds"))
            write_file(os.path.join(w.mnt, "datasets", "ds", "x"), data("x", 100000))
            os.mkdir(os.path.join(w.mnt, "datasets", "ds", ".aifs", "snapshots", "v1"))
            eventually(lambda: content(os.path.join(f.mnt, "datasets", "ds", ".aifs", "snapshots",
                                                    "v1", "x")) == data("x", 100000),
                       "a snapshot")
            # checkpoint versions
            ck = os.path.join(w.mnt, "checkpoints", "model.pt")
            write_file(ck, data("m1", 400000))
            write_file(ck, data("m2", 400000))
            eventually(lambda: content(os.path.join(f.mnt, "checkpoints", "model.pt@v2")) ==
                       data("m2", 400000), "checkpoint version 2")
            eq(content(os.path.join(f.mnt, "checkpoints", "model.pt@v1")), data("m1", 400000),
               "checkpoint version 1 on the follower")
            # journal records
            log = os.path.join(w.mnt, "audit", "serve.log")
            with open(log, "a") as fh:
                fh.write("request 1\n")
            eventually(lambda: content(os.path.join(f.mnt, "audit", "serve.log")) ==
                       b"request 1\n", "a sealed journal file")
            # a removal
            os.unlink(os.path.join(w.mnt, "datasets", "before"))
            eventually(lambda: not os.path.exists(os.path.join(f.mnt, "datasets", "before")),
                       "a removed file")
            # the follower is read-only and says how far behind it is
            try:
                write_file(os.path.join(f.mnt, "datasets", "mine"), b"x")
                raise Fail("a write on the follower succeeded")
            except OSError as e:
                eq(e.errno, 30, "a write on the follower: EROFS")
            rc, out = run([AIFSCTL_BIN, "status", f.mnt])
            eq(rc, 0, "aifsctl status on the follower: %s" % out)
            check("follower   " in out and "behind" in out,
                  "aifsctl status shows the follower's lag: %s" % out)
        finally:
            f.close()


@test
def follower_restarts_from_its_replica():
    skip_native()
    keep = tempfile.mkdtemp(prefix="aifs-replica-")
    replica = os.path.join(keep, "replica")
    try:
        with Writer() as w:
            write_file(os.path.join(w.mnt, "datasets", "a"), data("a", 100000))
            time.sleep(2)
            f = Follower(w.spec, replica=replica)
            try:
                eventually(lambda: os.path.exists(os.path.join(f.mnt, "datasets", "a")), "file a")
            finally:
                f.close()
            # the writer goes on while no follower runs
            write_file(os.path.join(w.mnt, "datasets", "b"), data("b", 100000))
            time.sleep(2)
            g = Follower(w.spec, replica=replica)      # catches up from its follow.seq
            try:
                eventually(lambda: content(os.path.join(g.mnt, "datasets", "b")) ==
                           data("b", 100000), "a file written while the follower was down")
                eq(content(os.path.join(g.mnt, "datasets", "a")), data("a", 100000), "file a")
            finally:
                g.close()
    finally:
        shutil.rmtree(keep, ignore_errors=True)


@test
def follow_needs_a_rados_spec():
    skip_native()
    d = tempfile.mkdtemp(prefix="aifs-follow-")
    try:
        rc, out = run([AIFS_BIN, "--follow", "/srv/nothing", d])
        check(rc != 0 and "expected rados:POOL/NAME" in out,
              "aifs --follow with a path: %d %s" % (rc, out))
    finally:
        os.rmdir(d)


@test
def fail_over_to_a_follower_loses_nothing_acknowledged():
    """The writer's host is lost: a follower's replica becomes the writer
    (its lock broken, mounted read-write), and another follower follows the
    new writer once mounted again."""
    skip_native()
    keep = tempfile.mkdtemp(prefix="aifs-replica-")
    r1 = os.path.join(keep, "r1")
    new_mnt = os.path.join(keep, "mnt")
    os.mkdir(new_mnt)
    new = None
    try:
        with Writer(opts="remote_sync=on") as w:
            a = os.path.join(w.mnt, "datasets", "a")
            with open(a, "wb") as fh:
                fh.write(data("a", 200000))
                fh.flush()
                os.fsync(fh.fileno())       # acknowledged: in the pool
            f1 = Follower(w.spec, replica=r1)
            f2 = Follower(w.spec)
            try:
                for f in (f1, f2):
                    eventually(lambda: content(os.path.join(f.mnt, "datasets", "a")) ==
                               data("a", 200000), "file a on a follower")
                ck = os.path.join(w.mnt, "checkpoints", "m.pt")
                write_file(ck, data("m", 300000))       # a version: committed durably
                w.kill9()                               # the writer's host is lost
                f1.close_keep()
                rc, out = run([AIFSCTL_BIN, "promote-primary", "--ceph-conf", CLUSTER.conf, r1])
                eq(rc, 0, "aifsctl promote-primary of the replica: %s" % out)
                check("broke the lock of" in out, "promote-primary breaks the dead writer's "
                      "lock: %s" % out)
                new = subprocess.Popen([AIFS_BIN, r1, new_mnt, "-f", "-o", "allow_other"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.time() + 60
                while not os.path.ismount(new_mnt):
                    check(new.poll() is None and time.time() < deadline,
                          "the promoted replica mounts read-write")
                    time.sleep(0.1)
                eq(content(os.path.join(new_mnt, "datasets", "a")), data("a", 200000),
                   "file a on the new writer")
                eq(content(os.path.join(new_mnt, "checkpoints", "m.pt@v1")), data("m", 300000),
                   "the checkpoint version on the new writer")
                write_file(os.path.join(new_mnt, "datasets", "b"), data("b", 100000))
                # the other follower notices, and follows the new writer once remounted
                spec = w.spec
                f2.close_keep()
                f2.__init__(spec, replica=f2.replica)
                eventually(lambda: content(os.path.join(f2.mnt, "datasets", "b")) ==
                           data("b", 100000), "file b of the new writer on the other follower")
                eq(content(os.path.join(f2.mnt, "datasets", "a")), data("a", 200000),
                   "file a on the other follower after the fail-over")
            finally:
                f1.close()
                f2.close()
                if new is not None:
                    subprocess.run(["umount", new_mnt])
                    new.wait(timeout=60)
    finally:
        shutil.rmtree(keep, ignore_errors=True)


# ------------------------------------------------------------ writes from followers

def fail_points_armed(f, spec):
    """Arm fail points SPEC on follower F (skips without a fail-point build)."""
    try:
        os.setxattr(f.mnt, "user.aifs.failpoints", spec.encode())
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise Skip("this build has no fail points")
        raise


def versions_of(path):
    """aifsctl versions --json PATH: the list of version numbers."""
    rc, out = run([AIFSCTL_BIN, "versions", "--json", path])
    eq(rc, 0, "aifsctl versions --json %s: %s" % (path, out))
    return [v["version"] for v in json.loads(out)["versions"]]


@test
def checkpoint_saved_on_a_follower_is_a_version_on_the_writer_and_the_other_follower():
    skip_native()
    import torch
    with Writer() as w:
        os.mkdir(os.path.join(w.mnt, "checkpoints", "run"))
        os.chmod(os.path.join(w.mnt, "checkpoints", "run"), 0o777)
        time.sleep(2)
        f1, f2 = Follower(w.spec), Follower(w.spec)
        try:
            eventually(lambda: os.path.isdir(os.path.join(f1.mnt, "checkpoints", "run")), "run/")
            p1 = os.path.join(f1.mnt, "checkpoints", "run", "model.pt")
            # a plain save: the writer's version when close() returns, and the
            # follower reads its own write at once
            with open(p1, "wb") as fh:
                fh.write(data("m1", 500000))
            eq(content(p1), data("m1", 500000), "the saving follower reads its save")
            eq(versions_of(os.path.join(w.mnt, "checkpoints", "run", "model.pt")), [1],
               "versions on the writer after one save on a follower")
            eq(content(os.path.join(w.mnt, "checkpoints", "run", "model.pt@v1")),
               data("m1", 500000), "version 1 on the writer")
            # torch.save over it: version 2, everywhere
            state = {"w": torch.arange(100000, dtype=torch.float32)}
            torch.save(state, p1)
            eq(versions_of(os.path.join(w.mnt, "checkpoints", "run", "model.pt")), [1, 2],
               "versions on the writer after torch.save on the follower")
            got = torch.load(os.path.join(w.mnt, "checkpoints", "run", "model.pt"))
            check(torch.equal(got["w"], state["w"]), "torch.load on the writer")
            eq(content(p1), content(os.path.join(w.mnt, "checkpoints", "run", "model.pt")),
               "the saving follower reads its torch.save over the file it read before")
            # a name, an attribute, a directory made and removed from the follower
            os.setxattr(p1, "user.note", b"epoch 2")
            eq(os.getxattr(os.path.join(w.mnt, "checkpoints", "run", "model.pt"), "user.note"),
               b"epoch 2", "a follower's setxattr on the writer")
            eq(os.getxattr(p1, "user.note"), b"epoch 2", "the follower reads its setxattr")
            os.mkdir(os.path.join(f1.mnt, "checkpoints", "run", "old"))
            os.rename(os.path.join(f1.mnt, "checkpoints", "run", "model.pt"),
                      os.path.join(f1.mnt, "checkpoints", "run", "old", "model.pt"))
            check(os.path.exists(os.path.join(w.mnt, "checkpoints", "run", "old", "model.pt")),
                  "a follower's mkdir and rename on the writer")
            os.rename(os.path.join(f1.mnt, "checkpoints", "run", "old", "model.pt"), p1)
            os.rmdir(os.path.join(f1.mnt, "checkpoints", "run", "old"))
            check(not os.path.exists(os.path.join(w.mnt, "checkpoints", "run", "old")),
                  "a follower's rmdir on the writer")
            write_file(os.path.join(f1.mnt, "checkpoints", "run", "scratch.pt"), b"s")
            os.unlink(os.path.join(f1.mnt, "checkpoints", "run", "scratch.pt"))
            check(not os.path.exists(os.path.join(w.mnt, "checkpoints", "run", "scratch.pt")),
                  "a follower's unlink on the writer")
            check(not os.path.exists(os.path.join(f1.mnt, "checkpoints", "run", "scratch.pt")),
                  "the follower's unlink on itself")
            eq(content(os.path.join(f1.mnt, "checkpoints", "run", "model.pt@v1")),
               data("m1", 500000), "version 1 on the saving follower")
            p2 = os.path.join(f2.mnt, "checkpoints", "run", "model.pt")
            eventually(lambda: content(p2) == content(os.path.join(w.mnt, "checkpoints", "run",
                                                                   "model.pt")),
                       "the torch.save of one follower on the other")
            check(torch.equal(torch.load(p2)["w"], state["w"]), "torch.load on the other follower")
            eq(content(p2 + "@v1"), data("m1", 500000), "version 1 on the other follower")
            # an unprivileged user's save: made as that user, umask applied
            run_as(65534, 65534, _write_in, os.path.join(f1.mnt, "checkpoints", "run", "n.pt"),
                   data("nobody", 20000), 0o027)
            st = os.stat(os.path.join(w.mnt, "checkpoints", "run", "n.pt"))
            eq((st.st_uid, st.st_gid, st.st_mode & 0o777), (65534, 65534, 0o640),
               "owner and mode of an unprivileged follower's save on the writer")
            eq(content(os.path.join(w.mnt, "checkpoints", "run", "n.pt@v1")),
               data("nobody", 20000), "the unprivileged save is version 1")
            # a file of another area stays read-only on a follower
            for path in (os.path.join(f1.mnt, "datasets", "x"), os.path.join(f1.mnt, "x")):
                try:
                    write_file(path, b"x")
                    raise Fail("a write of %s on the follower succeeded" % path)
                except OSError as e:
                    eq(e.errno, errno.EROFS, "a write of %s on the follower" % path)
            # versions stay read-only
            try:
                write_file(os.path.join(f1.mnt, "checkpoints", "run", "model.pt@v1"), b"x")
                raise Fail("a write of a version on the follower succeeded")
            except OSError as e:
                eq(e.errno, errno.EROFS, "a write of a version on the follower")
            rc, out = run([AIFSCTL_BIN, "status", f1.mnt])
            check(rc == 0 and re.search(r"writes forwarded: [1-9][0-9]* made, 0 refused, 0 failed",
                                        out),
                  "aifsctl status on the follower counts its forwarded writes: %s" % out)
        finally:
            f1.close()
            f2.close()


def records(n, size=1024, tag=b"r"):
    return [(tag + b"%06d " % i).ljust(size - 1, b".") + b"\n" for i in range(n)]


@test
def journal_records_appended_on_a_follower_are_in_the_writers_signed_log():
    skip_native()
    with Writer() as w:
        time.sleep(2)
        f = Follower(w.spec)
        try:
            log = os.path.join(f.mnt, "audit", "serve.log")
            recs = records(200)
            with open(log, "ab", buffering=0) as fh:
                for r in recs[:100]:
                    fh.write(r)
                os.fsync(fh.fileno())
                # fsync: the records are in the writer's journal, the file still open
                wlog = os.path.join(w.mnt, "audit", "serve.log")
                eq(content(wlog), b"".join(recs[:100]), "the writer's file after fsync")
                eq(os.getxattr(wlog, "user.aifs.sealed"), b"false",
                   "the file is not sealed while the follower has it open")
                for r in recs[100:150]:
                    fh.write(r)
                # streamed by the follower within a second or two, before any close
                eventually(lambda: len(content(wlog)) == 150 * 1024,
                           "records streamed while the file is open")
                for r in recs[150:]:
                    fh.write(r)
            eq(content(wlog), b"".join(recs), "the writer's file after close")
            eventually(lambda: os.getxattr(wlog, "user.aifs.sealed") == b"true",
                       "the seal at the follower's last close")
            eq(content(log), b"".join(recs), "the follower reads the records")
            eventually(lambda: os.getxattr(log, "user.aifs.sealed") == b"true",
                       "sealed on the follower")
            try:
                with open(log, "ab") as fh:
                    fh.write(b"more\n")
                raise Fail("an append to a sealed journal file on a follower succeeded")
            except OSError as e:
                eq(e.errno, errno.EPERM, "an append to a sealed journal file on a follower")
        finally:
            f.close()
        w.unmount()
        rc, out = run([AIFSCTL_BIN, "audit", "verify", w.store])
        check(rc == 0 and "audit: intact" in out, "aifsctl audit verify: %s" % out[-1500:])
        d = os.path.join(w.base, "export")
        rc, out = run([AIFSCTL_BIN, "audit", "export", w.store, d])
        eq(rc, 0, "aifsctl audit export: %s" % out)
        with open(os.path.join(d, "records.jsonl")) as fh:
            recs_out = [json.loads(ln) for ln in fh]
        writes = [r for r in recs_out if r.get("op") == "write" and
                  r.get("path") == "/audit/serve.log"]
        eq(len(writes), 200, "write records of the follower's appends")
        eq(sorted(set(r.get("length") for r in writes)), [1024], "one record per 1 KiB write")
        eq([r["op"] for r in recs_out if r.get("path") == "/audit/serve.log" and
            r["op"] in ("create", "seal")], ["create", "seal"], "created and sealed once")
        w.mount()


@test
def dcp_save_from_ranks_on_two_followers_is_one_directory_version():
    skip_native()
    with Writer() as w:
        time.sleep(2)
        f0, f1 = Follower(w.spec), Follower(w.spec)
        try:
            d0 = os.path.join(f0.mnt, "checkpoints", "step100")
            d1 = os.path.join(f1.mnt, "checkpoints", "step100")
            os.makedirs(d0, exist_ok=True)          # every rank makes the directory
            os.makedirs(d1, exist_ok=True)
            write_file(os.path.join(d1, "__1_0.distcp"), data("rank1", 400000))
            write_file(os.path.join(d0, "__0_0.distcp"), data("rank0", 400000))
            # rank 0 writes .metadata last, as DCP does: .metadata.tmp renamed in
            write_file(os.path.join(d0, ".metadata.tmp"), data("meta", 3000))
            os.rename(os.path.join(d0, ".metadata.tmp"), os.path.join(d0, ".metadata"))
            wd = os.path.join(w.mnt, "checkpoints", "step100")
            eq(versions_of(wd), [1], "directory versions of the DCP save on the writer")
            v1 = os.path.join(w.mnt, "checkpoints", ".aifs", "versions", "step100", "1")
            eq(sorted(os.listdir(v1)), [".metadata", "__0_0.distcp", "__1_0.distcp"],
               "the files of directory version 1")
            eq(content(os.path.join(v1, "__1_0.distcp")), data("rank1", 400000),
               "rank 1's shard in the version")
            eq(content(os.path.join(v1, "__0_0.distcp")), data("rank0", 400000),
               "rank 0's shard in the version")
            eventually(lambda: os.listdir(os.path.join(f1.mnt, "checkpoints", ".aifs",
                                                       "versions", "step100")) == ["1"],
                       "the directory version on follower 1")
            eq(content(os.path.join(f1.mnt, "checkpoints", ".aifs", "versions", "step100", "1",
                                    "__0_0.distcp")), data("rank0", 400000),
               "rank 0's shard read on the other follower")
        finally:
            f0.close()
            f1.close()


def _job(env, code):
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run(["setsid", "--wait", sys.executable, "-c", code], env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    if p.returncode != 0:
        raise Fail("job: exit %d: %s" % (p.returncode, p.stdout.decode(errors="replace")[-2000:]))


@test
def a_job_named_alike_on_two_followers_has_one_lineage_on_the_writer():
    skip_native()
    with Writer() as w:
        ds = os.path.join(w.mnt, "datasets", "corpus")
        os.mkdir(ds)
        for i in range(4):
            write_file(os.path.join(ds, "x%d" % i), data("x%d" % i, 10000))
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t1"))
        os.mkdir(os.path.join(w.mnt, "checkpoints", "exp"))
        time.sleep(2)
        f1, f2 = Follower(w.spec), Follower(w.spec)
        try:
            snap = os.path.join(f1.mnt, "datasets", "corpus", ".aifs", "snapshots", "t1")
            eventually(lambda: len(os.listdir(snap)) == 4, "the snapshot on follower 1")
            eventually(lambda: os.path.isdir(os.path.join(f2.mnt, "checkpoints", "exp")), "exp/")
            env = {"AIFS_JOB": "exp-7"}
            # the job's reader runs on one host, its saver on another
            _job(env, "import os\n"
                 "for n in sorted(os.listdir(%r)):\n"
                 "    open(os.path.join(%r, n), 'rb').read()\n" % (snap, snap))
            time.sleep(1)      # the reads' notes reach the writer within about a second
            out = os.path.join(f2.mnt, "checkpoints", "exp", "model.pt")
            _job(env, "open(%r, 'wb').write(b'weights' * 1000)\n" % out)
            lin = json.loads(os.getxattr(os.path.join(w.mnt, "checkpoints", "exp", "model.pt"),
                                         "user.aifs.lineage"))
            eq(lin["job"].get("name"), "exp-7", "the job of the follower's save")
            eq([(s["kind"], s["dataset"], s["snapshot"]) for s in lin["sources"]],
               [("snapshot", "datasets/corpus", "t1")],
               "the sources of the save: the snapshot read on the other follower")
            # without the name, a follower's save has no job across hosts
            out2 = os.path.join(f2.mnt, "checkpoints", "exp", "plain.pt")
            _job({}, "open(%r, 'wb').write(b'weights')\n" % out2)
            try:
                got = json.loads(os.getxattr(os.path.join(w.mnt, "checkpoints", "exp",
                                                          "plain.pt"), "user.aifs.lineage"))
                eq(got.get("sources"), [], "an unnamed job's save: no sources")
            except OSError as e:
                eq(e.errno, errno.ENODATA, "lineage of an unnamed job's save on a follower")
        finally:
            f1.close()
            f2.close()


def _write_in(path, payload, umask=None):
    if umask is not None:
        os.umask(umask)
    with open(path, "wb") as fh:
        fh.write(payload)


@test
def a_write_the_writer_refuses_fails_on_the_follower():
    """Permissions and the rules of the areas are the writer's to enforce, at the
    commit: a follower whose replica still says a directory is open to all and a
    journal file unsealed (it applies nothing: fail point follow_step) is refused
    by the writer, which has made the directory root's alone and sealed the file."""
    skip_native()
    with Writer() as w:
        locked = os.path.join(w.mnt, "checkpoints", "locked")
        os.mkdir(locked)
        os.chmod(locked, 0o777)
        wlog = os.path.join(w.mnt, "audit", "one.log")
        held = open(wlog, "ab", buffering=0)       # unsealed while the writer has it open
        f = None
        try:
            held.write(b"one\n")
            time.sleep(2)
            f = Follower(w.spec)
            fl = os.path.join(f.mnt, "checkpoints", "locked")
            flog = os.path.join(f.mnt, "audit", "one.log")
            eventually(lambda: os.stat(fl).st_mode & 0o777 == 0o777, "locked/ open to all")
            eventually(lambda: content(flog) == b"one\n", "one.log")
            fail_points_armed(f, "follow_step:1+")
            os.chmod(locked, 0o755)
            held.close()                             # sealed on the writer
            time.sleep(2)
            eq(os.stat(fl).st_mode & 0o777, 0o777, "the held-back follower's view of locked/")
            eq(os.getxattr(flog, "user.aifs.sealed"), b"false",
               "the held-back follower's view of one.log")
            try:
                run_as(65534, 65534, _write_in, os.path.join(fl, "mine.pt"), b"x" * 1000)
                raise Fail("an unprivileged write the writer must refuse succeeded")
            except OSError as e:
                eq(e.errno, errno.EACCES, "an unprivileged write into root's directory")
            check(not os.path.exists(os.path.join(locked, "mine.pt")),
                  "nothing made on the writer")
            try:
                with open(flog, "ab") as fh:
                    fh.write(b"two\n")
                raise Fail("an append to a journal file the writer sealed succeeded")
            except OSError as e:
                eq(e.errno, errno.EPERM, "an append to a journal file the writer sealed")
            eq(content(wlog), b"one\n", "the sealed file on the writer")
        finally:
            held.close()
            if f:
                f.close()


@test
def with_the_writer_gone_a_follower_write_fails_with_eio_in_bounded_time():
    skip_native()
    with Writer() as w:
        os.mkdir(os.path.join(w.mnt, "checkpoints", "run"))
        time.sleep(2)
        f = Follower(w.spec, extra=",forward_timeout=5")
        try:
            p = os.path.join(f.mnt, "checkpoints", "run", "model.pt")
            eventually(lambda: os.path.isdir(os.path.dirname(p)), "run/")
            write_file(p, data("a", 100000))
            # unmounted: nobody serves, the follower knows at once
            w.unmount()
            t = time.time()
            try:
                write_file(p, data("b", 100000))
                raise Fail("a follower's save with the writer unmounted succeeded")
            except OSError as e:
                eq(e.errno, errno.EIO, "a follower's save with the writer unmounted")
            # bounded, not a speed: nobody serves, so no wait for forward_timeout
            check(time.time() - t < 30, "EIO came only after %.1f s" % (time.time() - t))
            for what, fn in (("mkdir", lambda: os.mkdir(os.path.join(f.mnt, "checkpoints", "new"))),
                             ("append", lambda: write_file(os.path.join(f.mnt, "audit", "l"),
                                                           b"x\n"))):
                try:
                    fn()
                    raise Fail("%s on the follower with the writer unmounted succeeded" % what)
                except OSError as e:
                    eq(e.errno, errno.EIO, "%s with the writer unmounted" % what)
            eq(content(p), data("a", 100000), "the follower still serves the last save")
            # killed: its watch lingers until the cluster times it out; the
            # follower waits forward_timeout at most
            w.mount()
            eventually(lambda: write_file(p, data("c", 100000)) is None and
                       content(p) == data("c", 100000), "a save once the writer is back")
            w.kill9()
            t = time.time()
            try:
                write_file(p, data("d", 100000))
                raise Fail("a follower's save with the writer killed succeeded")
            except OSError as e:
                eq(e.errno, errno.EIO, "a follower's save with the writer killed")
            # bounded by forward_timeout (5 s), with room for a loaded machine
            check(time.time() - t < 5 + 30, "EIO came after %.1f s: not bounded by "
                  "forward_timeout" % (time.time() - t))
            eq(content(p), data("c", 100000), "nothing changed on the follower")
        finally:
            f.close()


@test
def a_follower_journal_session_goes_on_across_a_writer_remount():
    """The writer unmounted while a follower has a journal file open: the file
    stays unsealed (as after a crash); once the writer is back the follower's
    next records are appended and its last close seals the file."""
    skip_native()
    with Writer() as w:
        time.sleep(2)
        f = Follower(w.spec)
        try:
            log = os.path.join(f.mnt, "audit", "long.log")
            recs = records(20, tag=b"s")
            with open(log, "ab", buffering=0) as fh:
                for r in recs[:10]:
                    fh.write(r)
                os.fsync(fh.fileno())
                w.unmount()
                w.mount()
                wlog = os.path.join(w.mnt, "audit", "long.log")
                eq(os.getxattr(wlog, "user.aifs.sealed"), b"false",
                   "unsealed after the writer's unmount")
                for r in recs[10:]:
                    fh.write(r)
                os.fsync(fh.fileno())
                eq(content(wlog), b"".join(recs), "records before and after the remount")
            eventually(lambda: os.getxattr(wlog, "user.aifs.sealed") == b"true",
                       "sealed at the follower's last close")
            eq(content(log), b"".join(recs), "the follower reads every record")
        finally:
            f.close()


def status_json(mnt):
    rc, out = run([AIFSCTL_BIN, "status", "--json", mnt])
    if rc != 0:
        raise Fail("aifsctl status --json %s: exit %d: %s" % (mnt, rc, out))
    return json.loads(out)


@test
def a_follower_evicted_by_the_cluster_reconnects_and_catches_up():
    """The cluster blocklists every client of one follower (`ceph osd blocklist
    add`, as an eviction does): the follower serves what it cached, makes its
    clients anew on its own, catches up with what the writer committed
    meanwhile, and its forwarded saves work again, with no remount; its data
    client serves uncached data again once the entry is removed; the writer
    is not affected."""
    skip_native()
    with Writer() as w:
        os.mkdir(os.path.join(w.mnt, "checkpoints", "run"))
        old = os.path.join(w.mnt, "checkpoints", "run", "old.pt")
        write_file(old, data("o", 3 << 20))
        time.sleep(2)
        f = Follower(w.spec, extra=",forward_timeout=5")
        blocked = []
        try:
            fold = os.path.join(f.mnt, "checkpoints", "run", "old.pt")
            eventually(lambda: content(fold) == data("o", 3 << 20), "old.pt")
            st = status_json(f.mnt)["follower"]
            eq(st["connected"], True, "the follower is connected before: %s" % st)
            addrs = st["client_addrs"]
            wst = status_json(w.mnt)
            check("follower" not in wst, "the writer is not a follower: %s" % wst)
            for what in ("shipped", "forward", "hot"):
                a = addrs[what]
                check(re.match(r"^[0-9.]+:[0-9]+/[0-9]+$", a) is not None,
                      "the follower's %s client has an address: %r" % (what, a))
                CLUSTER.ceph("osd", "blocklist", "add", a)
                blocked.append(a)
            eq(len(set(blocked)), 3, "three clients of their own: %s" % blocked)
            # the writer is not affected: it commits while the follower is evicted
            new = os.path.join(w.mnt, "checkpoints", "run", "new.pt")
            write_file(new, data("n", 3 << 20))
            eq(content(new), data("n", 3 << 20), "the writer reads its own save")
            # what the follower cached is served by the follower
            eq(content(fold), data("o", 3 << 20), "the follower serves what it cached")
            # it connects anew on its own and catches up (names, versions)
            fnew = os.path.join(f.mnt, "checkpoints", "run", "new.pt")
            eventually(lambda: os.path.exists(fnew), "new.pt, committed while evicted",
                       timeout=30)
            st = status_json(f.mnt)["follower"]
            check(st["clients_renewed"] >= 1 and st["connected"] is True,
                  "the follower made a client anew and is connected: %s" % st)
            check(st["client_addrs"]["shipped"] not in blocked,
                  "a new client address: %s" % st["client_addrs"])
            rc, out = run([AIFSCTL_BIN, "status", f.mnt])
            check(rc == 0 and "link       connected" in out,
                  "aifsctl status says the link is up: %s" % out)
            # forwarded saves work again, and the writer has them
            mine = os.path.join(f.mnt, "checkpoints", "run", "mine.pt")
            write_file(mine, data("m", 200000))
            eq(content(os.path.join(w.mnt, "checkpoints", "run", "mine.pt")),
               data("m", 200000), "the writer has the follower's save after the eviction")
            # the data client serves uncached data once the cluster lets it in
            CLUSTER.ceph("osd", "blocklist", "rm", addrs["hot"])
            blocked.remove(addrs["hot"])
            eventually(lambda: content(fnew) == data("n", 3 << 20),
                       "new.pt's bytes once the data client is let in", timeout=30)
        finally:
            for a in blocked:
                CLUSTER.ceph("osd", "blocklist", "rm", a, check=False)
            f.close()


@test
def a_killed_followers_journal_file_is_sealed_after_the_lease():
    """A follower holding a journal file open goes on holding it while it
    lives, idle or not; killed (kill -9), its session is forgotten after the
    writer's journal_lease: the writer seals the file, its records are in the
    signed log, and audit verify passes."""
    skip_native()
    with Writer(opts="journal_lease=10") as w:
        time.sleep(2)
        f = Follower(w.spec)
        fh = None
        try:
            log = os.path.join(f.mnt, "audit", "killed.log")
            wlog = os.path.join(w.mnt, "audit", "killed.log")
            recs = records(30, tag=b"k")
            fh = open(log, "ab", buffering=0)
            for r in recs:
                fh.write(r)
            os.fsync(fh.fileno())
            eq(content(wlog), b"".join(recs), "the writer's file after fsync")
            # idle past the lease while the follower lives: it renews its hold
            time.sleep(14)
            eq(os.getxattr(wlog, "user.aifs.sealed"), b"false",
               "a live follower's idle journal file is not sealed")
            os.kill(f.proc.pid, 9)
            f.proc.wait()
            eventually(lambda: os.getxattr(wlog, "user.aifs.sealed") == b"true",
                       "the killed follower's file sealed by the writer", timeout=60)
            eq(content(wlog), b"".join(recs), "every record fsync'd before the kill")
        finally:
            if fh:
                try:
                    fh.close()
                except OSError:
                    pass
            if f.proc.poll() is None:
                f.close()
            else:
                run(["fusermount3", "-u", "-z", f.mnt], timeout=60)
                f.log.close()
                shutil.rmtree(f.base, ignore_errors=True)
        w.unmount()
        rc, out = run([AIFSCTL_BIN, "audit", "verify", w.store])
        check(rc == 0 and "audit: intact" in out, "aifsctl audit verify: %s" % out[-1500:])
        d = os.path.join(w.base, "export")
        rc, out = run([AIFSCTL_BIN, "audit", "export", w.store, d])
        eq(rc, 0, "aifsctl audit export: %s" % out)
        with open(os.path.join(d, "records.jsonl")) as fh:
            recs_out = [json.loads(ln) for ln in fh]
        eq(len([r for r in recs_out if r.get("op") == "write" and
                r.get("path") == "/audit/killed.log"]), 30,
           "write records of the killed follower's appends")
        eq([r["op"] for r in recs_out if r.get("path") == "/audit/killed.log" and
            r["op"] in ("create", "seal")], ["create", "seal"], "created and sealed once")
        w.mount()


LOADER = r"""
import hashlib, json, os, sys
import torch
from torch.utils.data import DataLoader, Dataset

class Files(Dataset):
    def __init__(self, root):
        self.paths = sorted(os.path.join(root, n) for n in os.listdir(root))
    def __len__(self):
        return len(self.paths)
    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            b = f.read()
        return os.path.basename(self.paths[i]), torch.frombuffer(bytearray(b), dtype=torch.uint8)

seen = []
for epoch in range(2):
    got = {}
    for name, t in DataLoader(Files(sys.argv[1]), batch_size=None, num_workers=2):
        got[name] = hashlib.sha256(t.numpy().tobytes()).hexdigest()
    seen.append(got)
print(json.dumps(seen))
"""


@test
def snapshot_read_on_two_followers_while_the_writer_changes_the_live_dataset():
    """A snapshot made on the writer is read byte-exact on two followers; a
    PyTorch DataLoader (two worker processes, two epochs) on one of them reads
    exactly the snapshot while the writer keeps rewriting, adding and removing
    files of the live dataset, which the followers see change meanwhile."""
    skip_native()
    try:
        import torch  # noqa: F401
    except ImportError:
        raise Skip("python3-torch is not installed")
    import hashlib
    with Writer() as w:
        ds = os.path.join(w.mnt, "datasets", "corpus")
        os.makedirs(ds)
        want = {}
        for i in range(40):
            b = data(("sample", i), 8000 + 997 * i)
            write_file(os.path.join(ds, "s%02d.bin" % i), b)
            want["s%02d.bin" % i] = b
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t1"))
        f1 = Follower(w.spec)
        f2 = None
        stop = threading.Event()
        rounds = [0]
        errors = []

        def churn():       # the writer goes on preparing the next version of the set
            try:
                while not stop.is_set():
                    r = rounds[0]
                    write_file(os.path.join(ds, "s%02d.bin" % (r % 40)), data(("new", r), 5000 + r))
                    write_file(os.path.join(ds, "extra-%d.bin" % r), data(("extra", r), 3000))
                    if r >= 3:
                        os.unlink(os.path.join(ds, "extra-%d.bin" % (r - 3)))
                    rounds[0] = r + 1
                    time.sleep(0.05)
            except OSError as e:
                errors.append(e)
        t = threading.Thread(target=churn)
        try:
            f2 = Follower(w.spec)
            for f in (f1, f2):
                snap = os.path.join(f.mnt, "datasets", "corpus", ".aifs", "snapshots", "t1")
                eventually(lambda: sorted(os.listdir(snap)) == sorted(want), "the snapshot's names",
                           timeout=30)
                for name, b in want.items():
                    eq(content(os.path.join(snap, name)), b, "%s of the snapshot on a follower" % name)
            t.start()
            snap = os.path.join(f1.mnt, "datasets", "corpus", ".aifs", "snapshots", "t1")
            rc, out = run([sys.executable, "-c", LOADER, snap], timeout=600)
            eq(rc, 0, "the DataLoader on follower 1: %s" % out[-2000:])
            epochs = json.loads(out.strip().splitlines()[-1])
            digests = {n: hashlib.sha256(b).hexdigest() for n, b in want.items()}
            for k, got in enumerate(epochs):
                eq(got, digests, "the samples of epoch %d, against the snapshot" % (k + 1))
            # meanwhile the live dataset changed, and the followers see it change
            stop.set()
            t.join()
            r = rounds[0]
            check(r > 0, "the writer changed the live dataset during the epochs")
            live = os.path.join(f2.mnt, "datasets", "corpus", "extra-%d.bin" % (r - 1))
            eventually(lambda: content(live) == data(("extra", r - 1), 3000),
                       "the writer's latest file on follower 2")
            eq(content(os.path.join(snap, "s00.bin")), want["s00.bin"],
               "the snapshot after the changes")
        finally:
            stop.set()
            if t.is_alive():
                t.join()
            if f2:
                f2.close()
            f1.close()
        eq(errors, [], "errors of the writer's changes")


if __name__ == "__main__":
    with ceph.Cluster() as c:
        CLUSTER = c
        main()
