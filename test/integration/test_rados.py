#!/usr/bin/python3
"""A cold tier in Ceph RADOS (issue 20), against a real one-node cluster (ceph.py) started
once for this file: migration to and from the pool byte-exact, fsck and gc, damaged objects
read as EIO, one writer per store (the lock in the pool), and an OSD that stops answering.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceph  # noqa: E402
from harness import (AIFS_BIN, AIFSCTL_BIN, Fail, Store, check, data, eq, main,  # noqa: E402
                     raises, read_all, run, same_bytes, skip_native, test, write_file)

MiB = 1 << 20
CLUSTER = None


def ctl(*args, rc=0, timeout=300):
    code, out = run([AIFSCTL_BIN] + list(args), timeout=timeout)
    if rc is not None and code != rc:
        raise Fail("aifsctl %s: expected exit %d, saw %d: %s" % (" ".join(args), rc, code,
                                                                 out.strip()[-1500:]))
    return out


def xattr(path, name):
    try:
        return os.getxattr(path, name).decode()
    except OSError as e:
        raise Fail("getxattr %s %s: %s" % (path, name, e))


def migrate(path, to):
    ctl("tier", "migrate", path, "--to", to, "--wait")


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def wait_for(cond, what, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise Fail("%s: not reached within %.0fs" % (what, timeout))


def text_bytes(size, seed=1):
    """Bytes that lz4 compresses (repeated words)."""
    words = [b"alpha", b"beta", b"gamma", b"delta", b"tensor", b"weight", b"epoch"]
    r = data(seed, size)
    out = bytearray()
    i = 0
    while len(out) < size:
        out += words[r[i % len(r)] % len(words)] + b" "
        i += 1
    return bytes(out[:size])


def objects(ns, prefix="c."):
    """The extent objects of namespace NS of the cold tier (PREFIX "h.": the hot one)."""
    out = CLUSTER.rados("--namespace", ns, "ls")
    return sorted(x for x in out.split() if x.startswith(prefix))


class RStore(Store):
    """A store whose cold tier is rados:POOL/NAME of the test cluster."""

    def __init__(self, name=None, opts="", data=False, **kw):
        self.ns = name
        self.data = data
        super().__init__(opts=opts, **kw)

    def mkfs(self):
        spec = "rados:%s" % CLUSTER.pool + ("/" + self.ns if self.ns else "")
        rc, out = run([AIFSCTL_BIN, "mkfs", "--data" if self.data else "--cold", spec,
                       "--ceph-conf", CLUSTER.conf, self.store])
        if rc != 0:
            raise Fail("aifsctl mkfs --cold %s: expected exit 0, saw %d: %s" % (spec, rc, out))
        with open(os.path.join(self.store, "aifs.conf")) as f:
            conf = dict(ln.split(" = ", 1) for ln in f.read().splitlines() if " = " in ln)
        self.spec = conf["cold"]
        self.ns = self.spec.split("/", 1)[1]
        eq(conf.get("ceph_conf"), CLUSTER.conf, "ceph_conf in aifs.conf")
        if self.data:
            eq(conf.get("hot"), self.spec, "hot in aifs.conf of a store made with --data")


# ------------------------------------------------------------------ data

@test
def rados_cold_tier_migrates_byte_exact_both_ways():
    skip_native()
    with RStore() as s:
        with open(os.path.join(s.store, "aifs.conf")) as f:
            uuid = [ln.split(" = ")[1] for ln in f.read().splitlines() if ln.startswith("uuid")][0]
        eq(s.ns, uuid, "the default namespace is the store's uuid")
        d = s.work("d")
        files = {"text": text_bytes(5 * MiB + 123), "random": data("r", 3 * MiB + 7),
                 "zeros": bytes(2 * MiB), "small": b"tiny\n" * 100, "empty": b""}
        for name, content in files.items():
            write_file(os.path.join(d, name), content)
        for to in ("cold", "hot", "cold"):
            migrate(d, to)
            drop_caches()
            for name, content in files.items():
                p = os.path.join(d, name)
                same_bytes(read_all(p), content, "%s after migrating to %s" % (name, to))
                if len(content) > 4096:
                    eq(xattr(p, "user.aifs.tier"), to, "user.aifs.tier of %s" % name)
                with open(p, "rb") as f:
                    f.seek(len(content) // 3)
                    same_bytes(f.read(10001), content[len(content) // 3:len(content) // 3 + 10001],
                               "%s: read inside an extent after migrating to %s" % (name, to))
            if to == "cold":
                check(len(objects(s.ns)) >= 4, "objects in the pool after migrating to cold: "
                      "saw %r" % objects(s.ns))
            else:
                wait_for(lambda: not objects(s.ns), "the pool's objects removed after migrating "
                         "to hot")
        text_stored = int(xattr(os.path.join(d, "text"), "user.aifs.stored_size"))
        check(text_stored < len(files["text"]) * 0.7,
              "text in the RADOS tier: expected stored_size < 70%% of %d, saw %d" % (
                  len(files["text"]), text_stored))
        s.remount()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s after remount" % name)
        s.unmount()
        s.fsck_clean("fsck of a store with a RADOS cold tier")


def save_versions(path, n, size=2 * MiB):
    out = []
    for i in range(n):
        c = data((path, i), size)
        write_file(path + ".tmp", c)
        os.rename(path + ".tmp", path)
        out.append(c)
    return out


@test
def rados_cold_tier_takes_policies_and_pins_unchanged():
    skip_native()
    with RStore(opts="cold_after_versions=1,tier_interval=0.3") as s:
        s.remount("cold_after_versions=1,tier_interval=0.3,cold=" + s.spec)
        ck = os.path.join(s.mnt, "checkpoints")
        m = os.path.join(ck, "model.pt")
        p = os.path.join(ck, "pinned.pt")
        vm = save_versions(m, 3)
        write_file(p, data("p0", MiB))
        ctl("tier", "pin", p, "hot")
        save_versions(p, 3)
        vdir = os.path.join(ck, ".aifs", "versions", "model.pt")

        def cold_old():
            vs = sorted(int(v) for v in os.listdir(vdir))
            return len(vs) >= 3 and all(
                xattr(os.path.join(vdir, str(v)), "user.aifs.tier") == "cold" for v in vs[:-1])
        wait_for(cold_old, "versions other than the newest go to the RADOS tier")
        check(objects(s.ns), "objects in the pool for the cold versions")
        vs = sorted(int(v) for v in os.listdir(vdir))
        eq(xattr(os.path.join(vdir, str(vs[-1])), "user.aifs.tier"), "hot", "newest version")
        drop_caches()
        for v, c in zip(vs[-3:], vm):
            same_bytes(read_all(os.path.join(vdir, str(v))), c, "version %d from RADOS" % v)
        pv = os.path.join(ck, ".aifs", "versions", "pinned.pt")
        for v in os.listdir(pv):
            eq(xattr(os.path.join(pv, v), "user.aifs.tier"), "hot", "pinned file's version %s" % v)
        s.unmount()
        s.fsck_clean("fsck after version policies into RADOS")


@test
def rados_mkfs_refuses_a_namespace_in_use_and_a_bad_spec():
    skip_native()
    with RStore(name="shared", mount=False) as s:
        other = os.path.join(s.base, "other")
        rc, out = run([AIFSCTL_BIN, "mkfs", "--cold", s.spec, "--ceph-conf", CLUSTER.conf,
                       other])
        check(rc == 1 and "already holds objects" in out,
              "mkfs on a namespace in use: expected exit 1 and 'already holds objects', saw "
              "%d: %s" % (rc, out))
        rc, out = run([AIFSCTL_BIN, "mkfs", "--cold", "rados:", "--ceph-conf", CLUSTER.conf,
                       os.path.join(s.base, "third")])
        check(rc == 1 and "rados:POOL" in out, "mkfs --cold rados: expected a usage line, saw "
              "%d: %s" % (rc, out))
        rc, out = run([AIFSCTL_BIN, "mkfs", "--cold", "rados:nosuchpool/x", "--ceph-conf",
                       CLUSTER.conf, os.path.join(s.base, "fourth")])
        check(rc == 1 and "nosuchpool" in out, "mkfs on a missing pool: saw %d: %s" % (rc, out))


@test
def rados_fsck_and_gc_give_dead_objects_back():
    skip_native()
    with RStore(opts="cold_compress=none") as s:
        d = s.work("d")
        files = {}
        for i in range(6):
            files["f%d" % i] = data(("gc", i), 2 * MiB)
            write_file(os.path.join(d, "f%d" % i), files["f%d" % i])
        migrate(d, "cold")
        n0 = len(objects(s.ns))
        check(n0 >= 6, "expected >= 6 objects after migration, saw %d" % n0)
        # half of the files deleted, one overwritten in the middle (its object half dead)
        for i in range(3):
            os.unlink(os.path.join(d, "f%d" % i))
            del files["f%d" % i]
        with open(os.path.join(d, "f3"), "r+b") as f:
            f.seek(MiB // 2)
            f.write(data("new", MiB))
        files["f3"] = files["f3"][:MiB // 2] + data("new", MiB) + files["f3"][MiB // 2 + MiB:]
        wait_for(lambda: len(objects(s.ns)) < n0, "objects of deleted files removed")
        s.unmount()
        s.fsck_clean("fsck after deletes")
        out = ctl("gc", s.store)
        check(out.strip().startswith("gc: reclaimed"), "offline gc output %r" % out)
        s.fsck_clean("fsck after offline gc")
        s.mount()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s after gc" % name)
        out = ctl("gc", "--threshold", "0.9", s.mnt)
        check(out.startswith("gc: reclaimed"), "online gc output %r" % out)
        drop_caches()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s after online gc" % name)
        for name in files:
            os.unlink(os.path.join(d, name))
        wait_for(lambda: not objects(s.ns), "every object removed once every file is deleted")
        s.unmount()
        s.fsck_clean("fsck after deleting everything")


@test
def rados_damaged_object_reads_as_eio():
    skip_native()
    with RStore() as s:
        d = s.work("d")
        content = data("f", 3 * MiB)
        write_file(os.path.join(d, "f"), content)
        write_file(os.path.join(d, "g"), data("g", MiB))
        migrate(d, "cold")
        s.unmount()
        objs = objects(s.ns)
        check(objs, "expected objects in the pool")
        victim = objs[0]
        size = int(victim.split(".")[3], 16)
        bad = os.path.join(s.base, "bad")
        with open(bad, "wb") as f:
            f.write(data("bad", size))
        CLUSTER.rados("--namespace", s.ns, "put", victim, bad)
        s.mount()
        errs = 0
        for name, c in (("f", content), ("g", data("g", MiB))):
            try:
                same_bytes(read_all(os.path.join(d, name)), c, name)
            except OSError as e:
                eq(e.errno, errno.EIO, "errno of a read of a damaged object")
                errs += 1
        eq(errs, 1, "files reading as EIO (one object damaged)")
        log = open(s.log, "rb").read().decode("utf-8", "replace")
        check("checksum mismatch in object %s" % victim in log,
              "expected a log line naming the object, saw %r" % log[-800:])
        # an object gone entirely is EIO too
        CLUSTER.rados("--namespace", s.ns, "rm", victim)
        s.remount()
        errs = 0
        for name in ("f", "g"):
            try:
                read_all(os.path.join(d, name))
            except OSError as e:
                eq(e.errno, errno.EIO, "errno of a read of a missing object")
                errs += 1
        eq(errs, 1, "files reading as EIO (one object missing)")
        s.unmount()
        rc, out = s.fsck()
        check(rc == 1 and "damaged" in out, "fsck: expected the damage reported, saw %d %s" % (
            rc, out[-500:]))


@test
def rados_data_store_keeps_every_byte_in_the_pool():
    skip_native()
    with RStore(data=True) as s:
        check(not os.path.exists(os.path.join(s.store, "hot")),
              "a store made with --data has no local hot directory")
        d = s.work("d")
        files = {"a": data("a", 3 * MiB + 5), "b": text_bytes(2 * MiB), "c": b"x" * 70000}
        for name, content in files.items():
            write_file(os.path.join(d, name), content)
        fd = os.open(os.path.join(d, "a"), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        # the write buffer uploads in the background
        wait_for(lambda: len(objects(s.ns, "h.")) >= 3, "hot objects in the pool")
        drop_caches()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s read back" % name)
        migrate(d, "cold")
        check(objects(s.ns, "c."), "cold objects after migrating to cold")
        wait_for(lambda: not objects(s.ns, "h."), "hot objects removed after migrating cold")
        migrate(d, "hot")
        s.remount()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s after remount" % name)
        os.unlink(os.path.join(d, "a"))
        s.unmount()
        s.fsck_clean("fsck of a store whose data is all in RADOS")


def tree(root):
    """{relative path: bytes or 'dir'} of everything under ROOT (hidden .aifs excluded)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for dname in dirs:
            out[os.path.normpath(os.path.join(rel, dname))] = "dir"
        for f in files:
            out[os.path.normpath(os.path.join(rel, f))] = read_all(os.path.join(dirpath, f))
    return out


@test
def rados_store_recovered_from_the_pool_after_its_host_is_lost():
    skip_native()
    with RStore(data=True, opts="audit_checkpoint_secs=1") as s:
        m = s.mnt
        # plain files, fsynced and not
        os.makedirs(os.path.join(m, "work", "sub"))
        write_file(os.path.join(m, "work", "sub", "plain"), data("plain", 3 * MiB + 1))
        fd = os.open(os.path.join(m, "work", "sub", "plain"), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        write_file(os.path.join(m, "work", "small"), b"small file\n")
        # checkpoint versions
        ck = os.path.join(m, "checkpoints", "run")
        os.mkdir(ck)
        for i in range(3):
            write_file(os.path.join(ck, "model.pt"), data(("v", i), MiB + i))
        # a dataset snapshot
        ds = os.path.join(m, "datasets", "ds")
        os.mkdir(ds)
        write_file(os.path.join(ds, "a.txt"), text_bytes(200000))
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t1"))
        write_file(os.path.join(ds, "a.txt"), b"changed after the snapshot\n")
        # a journal file
        with open(os.path.join(m, "audit", "log.jsonl"), "ab") as f:
            for i in range(20):
                f.write(b'{"i": %d}\n' % i)
        # one file moved cold
        migrate(os.path.join(m, "work", "sub"), "cold")
        # a remount ships a new checkpoint (with all of the above) and drops the old logs
        s.remount()
        write_file(os.path.join(m, "work", "after_remount"), data("ar", 300000))
        logs = [x for x in CLUSTER.rados("--namespace", s.ns, "ls").split() if x.startswith("m.")]
        check(len([x for x in logs if x.startswith("m.c.") and x.count(".") == 2]) == 1,
              "one shipped checkpoint after the remount, saw %r" % logs)
        versions = sorted(os.listdir(os.path.join(ck, ".aifs", "versions", "model.pt")))
        check(len(versions) >= 3, "versions of model.pt: %r" % versions)
        before = tree(m)
        before_v = {v: read_all(os.path.join(ck, ".aifs", "versions", "model.pt", v))
                    for v in versions}
        before_snap = tree(os.path.join(ds, ".aifs", "snapshots", "t1"))
        time.sleep(3)           # the documented shipping lag, and a signed audit checkpoint
        s.kill9()
        shutil.rmtree(s.store)
        new = os.path.join(s.base, "recovered")
        out = ctl("recover", "--ceph-conf", CLUSTER.conf, s.spec, new)
        check(out.startswith("recovered "), "aifsctl recover: %r" % out)
        rc, out = run([AIFS_BIN, new, s.mnt, "-o", "allow_other"], timeout=120)
        check(rc != 0 and "aifsctl rados unlock" in out, "mount of the recovered store while "
              "the dead host's lock is held: expected a refusal, saw %d: %s" % (rc, out))
        out = ctl("rados", "unlock", new)
        check("broke the lock of" in out, "unlock of the dead host's lock: %r" % out)
        s.store = new
        s.mount()
        eq(sorted(tree(m)), sorted(before), "names in the recovered store")
        for k, v in before.items():
            got = tree(m)[k] if v == "dir" else read_all(os.path.join(m, k))
            if v == "dir":
                continue
            same_bytes(got, v, "recovered %s" % k)
        eq(sorted(os.listdir(os.path.join(ck, ".aifs", "versions", "model.pt"))), versions,
           "recovered versions of model.pt")
        for v, c in before_v.items():
            same_bytes(read_all(os.path.join(ck, ".aifs", "versions", "model.pt", v)), c,
                       "recovered version %s" % v)
        eq(tree(os.path.join(ds, ".aifs", "snapshots", "t1")), before_snap,
           "recovered snapshot t1")
        # the recovered store goes on
        raises(errno.EPERM, open, os.path.join(m, "audit", "log.jsonl"), "ab",
               what="append to the recovered, sealed journal file")
        with open(os.path.join(m, "audit", "log2.jsonl"), "ab") as f:
            f.write(b'{"after": "recovery"}\n')
        write_file(os.path.join(m, "work", "new"), b"written after recovery")
        s.unmount()
        s.fsck_clean("fsck of the recovered store")
        out = ctl("audit", "verify", new)
        check("audit: intact" in out, "audit verify of the recovered store: %r" % out[-1500:])


@test
def rados_remote_sync_makes_fsync_and_versions_recoverable_at_once():
    skip_native()
    with RStore(data=True, opts="remote_sync=on") as s:
        p = os.path.join(s.mnt, "work")
        os.mkdir(p)
        content = data("rs", MiB + 3)
        fd = os.open(os.path.join(p, "f"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, content)
        os.fsync(fd)
        os.close(fd)
        ck = os.path.join(s.mnt, "checkpoints", "m.pt")
        write_file(ck, data("ck", 70000))      # the close commits a version durably
        s.kill9()               # at once: no time for the periodic shipping
        shutil.rmtree(s.store)
        new = os.path.join(s.base, "recovered")
        ctl("recover", "--ceph-conf", CLUSTER.conf, s.spec, new)
        ctl("rados", "unlock", new)
        s.store = new
        s.mount()
        same_bytes(read_all(os.path.join(p, "f")), content, "the fsynced file, recovered")
        same_bytes(read_all(ck), data("ck", 70000), "the committed version, recovered")
        s.unmount()
        s.fsck_clean("fsck of the store recovered after remote_sync")


# ------------------------------------------------------------------ local cache

def cache_stats(mnt):
    """The "cache" object of aifsctl status --json (the hot tier's local cache)."""
    st = json.loads(ctl("status", "--json", mnt))
    check("cache" in st, "aifsctl status --json of a store whose data is in RADOS: no cache "
          "object in %r" % sorted(st))
    return st["cache"]


def cache_usage(store):
    """(bytes allocated, apparent bytes, files) of STORE/cache."""
    alloc = size = n = 0
    for dirpath, _, files in os.walk(os.path.join(store, "cache")):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except FileNotFoundError:
                continue
            alloc += st.st_blocks * 512
            size += st.st_size
            n += 1
    return alloc, size, n


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def wait_uploaded(mnt):
    wait_for(lambda: cache_stats(mnt)["dirty"] == 0, "every buffered write uploaded")


@test
def rados_cache_reads_are_byte_exact_and_a_second_read_stays_local():
    skip_native()
    with RStore(data=True, opts="cache_size=64M") as s:
        d = s.work("d")
        files = {"random": data("cr", 5 * MiB + 1), "text": text_bytes(3 * MiB + 17),
                 "small": data("cs", 70000)}
        for name, content in files.items():
            write_file(os.path.join(d, name), content)
        # an empty cache: every extent comes from the pool once
        s.unmount()
        shutil.rmtree(os.path.join(s.store, "cache"))
        s.mount()
        before = cache_stats(s.mnt)
        eq(before["bytes"], 0, "bytes in a cache emptied before the mount")
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s, first read" % name)
        first = cache_stats(s.mnt)
        check(first["remote_reads"] > before["remote_reads"] and first["misses"] > 0,
              "the first reads went to the pool: %r" % first)
        check(first["bytes"] > 0, "the first reads left copies in the cache: %r" % first)
        drop_caches()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s, second read" % name)
        second = cache_stats(s.mnt)
        eq(second["remote_reads"], first["remote_reads"], "objects read from the pool by the "
           "second reads")
        check(second["hits"] > first["hits"], "the second reads were served by the cache: "
              "first %r, second %r" % (first, second))
        metrics = read_all(os.path.join(s.mnt, ".aifs", "metrics")).decode()
        check("aifs_cache_hits_total %d\n" % second["hits"] in metrics and
              "aifs_cache_remote_reads_total %d\n" % second["remote_reads"] in metrics,
              "the cache's counters in .aifs/metrics: %r" % [ln for ln in metrics.splitlines()
                                                             if "cache" in ln])
        # what is written is read back from the cache too
        write_file(os.path.join(d, "new"), data("cn", 2 * MiB))
        drop_caches()
        same_bytes(read_all(os.path.join(d, "new")), data("cn", 2 * MiB), "a new file")
        eq(cache_stats(s.mnt)["remote_reads"], second["remote_reads"],
           "objects read from the pool for a file just written")


@test
def rados_cache_stays_within_cache_size():
    skip_native()
    limit = 16 * MiB
    with RStore(data=True, opts="cache_size=16M") as s:
        d = s.work("d")
        worst = (0, 0, 0)
        for i in range(12):         # 48 MiB through a 16 MiB cache, 8 MiB of write buffer
            write_file(os.path.join(d, "f%d" % i), data(("big", i), 4 * MiB))
            worst = max(worst, cache_usage(s.store))
        st = cache_stats(s.mnt)
        check(st["uploads"] > 0 and st["bytes"] <= limit and st["dirty"] <= limit // 2,
              "the cache after writing 48 MiB: %r" % st)
        drop_caches()
        for i in range(12):
            same_bytes(read_all(os.path.join(d, "f%d" % i)), data(("big", i), 4 * MiB),
                       "f%d read back" % i)
            worst = max(worst, cache_usage(s.store))
        alloc, size, n = worst
        check(size <= limit and alloc <= limit + n * 4096,
              "disk use of the cache: at most %d bytes expected, saw %d (%d allocated, %d files)"
              % (limit, size, alloc, n))
        st = cache_stats(s.mnt)
        check(st["evictions"] > 0 and st["bytes"] <= limit, "the cache after reading 48 MiB "
              "through it: %r" % st)


@test
def rados_cache_damaged_copy_is_dropped_and_read_from_the_pool():
    skip_native()
    with RStore(data=True, opts="cache_size=64M") as s:
        d = s.work("d")
        content = data("dmg", 3 * MiB + 5)
        write_file(os.path.join(d, "f"), content)
        fsync_path(os.path.join(d, "f"))
        wait_uploaded(s.mnt)
        rd = os.path.join(s.store, "cache", "rd")
        copies = [x for x in os.listdir(rd) if x.startswith("h.")]
        check(copies, "copies of the uploaded extents in %s: %r" % (rd, os.listdir(rd)))
        for name in copies:
            with open(os.path.join(rd, name), "r+b") as f:
                f.seek(os.path.getsize(os.path.join(rd, name)) // 2)
                b = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([b[0] ^ 0x40]))
        before = cache_stats(s.mnt)
        drop_caches()
        same_bytes(read_all(os.path.join(d, "f")), content, "a file whose cached copies are "
                   "damaged")
        after = cache_stats(s.mnt)
        eq(after["corrupt"] - before["corrupt"], len(copies), "damaged copies found")
        check(after["remote_reads"] > before["remote_reads"], "the damaged extents were read "
              "from the pool: %r" % after)
        drop_caches()
        same_bytes(read_all(os.path.join(d, "f")), content, "the file read again")
        eq(cache_stats(s.mnt)["remote_reads"], after["remote_reads"],
           "objects read from the pool once fresh copies are cached")


@test
def rados_cache_buffered_writes_survive_kill9_remount_and_recover():
    skip_native()
    with RStore(data=True, opts="cache_size=256M,rados_timeout=5") as s:
        d = s.work("d")
        write_file(os.path.join(d, "early"), data("early", MiB))
        fsync_path(os.path.join(d, "early"))
        wait_uploaded(s.mnt)
        CLUSTER.pause_osd()
        try:
            files = {"a": data("ka", 6 * MiB + 3), "b": text_bytes(2 * MiB), "c": b"c" * 5000}
            for name, content in files.items():
                write_file(os.path.join(d, name), content)
                fsync_path(os.path.join(d, name))     # acknowledged: on the local disk
            st = cache_stats(s.mnt)
            check(st["dirty"] >= 6 * MiB, "writes buffered while the OSD is paused: %r" % st)
            s.kill9()
        finally:
            CLUSTER.resume_osd()
        files["early"] = data("early", MiB)
        check(os.listdir(os.path.join(s.store, "cache", "up")), "objects left to upload after "
              "kill -9")
        s.fsck_clean("fsck of the store with writes left in its buffer")
        s.mount()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s after kill -9 and "
                       "remount" % name)
        wait_uploaded(s.mnt)
        s.unmount()
        up = os.listdir(os.path.join(s.store, "cache", "up"))
        eq(up, [], "objects left to upload after a clean unmount")
        # the host is lost: the pool alone holds everything
        shutil.rmtree(s.store)
        new = os.path.join(s.base, "recovered")
        ctl("recover", "--ceph-conf", CLUSTER.conf, s.spec, new)
        s.store = new
        s.mount()
        for name, content in files.items():
            same_bytes(read_all(os.path.join(d, name)), content, "%s recovered" % name)
        s.unmount()
        s.fsck_clean("fsck of the store recovered after buffered writes")


# ------------------------------------------------------------------ one writer

@test
def rados_second_writer_is_refused_and_unlock_breaks_a_dead_lock():
    skip_native()
    with RStore() as s:
        write_file(os.path.join(s.mnt, "a"), b"a" * 10000)
        s.unmount()
        copy = Store(mkfs=False, mount=False)
        try:
            shutil.rmtree(copy.store, ignore_errors=True)
            shutil.copytree(s.store, copy.store, symlinks=True)
            s.mount()
            rc, out = run([AIFS_BIN, copy.store, copy.mnt, "-o", "allow_other"], timeout=120)
            check(rc != 0 and "in use by" in out and "aifsctl rados unlock" in out,
                  "a second mount of the store from a copy: expected a refusal naming the "
                  "holder and the unlock command, saw %d: %s" % (rc, out))
            check(os.uname().nodename in out and s.store in out,
                  "the refusal names the holder's host and store: %s" % out)
            # the same store path after kill -9: the dead holder is this store here
            s.kill9()
            s.mount()
            eq(read_all(os.path.join(s.mnt, "a")), b"a" * 10000, "after kill -9 and remount")
            s.kill9()
            rc, out = run([AIFS_BIN, copy.store, copy.mnt, "-o", "allow_other"], timeout=120)
            check(rc != 0 and "in use by" in out, "the copy after the holder died: expected a "
                  "refusal, saw %d: %s" % (rc, out))
            out = ctl("rados", "unlock", copy.store)
            check("broke the lock of" in out and s.store in out, "unlock: %r" % out)
            out = ctl("rados", "unlock", copy.store)
            check("no lock held" in out, "a second unlock: %r" % out)
            copy.mount()
            eq(read_all(os.path.join(copy.mnt, "a")), b"a" * 10000, "the copy's mount")
            rc, out = run([AIFS_BIN, s.store, s.mnt, "-o", "allow_other"], timeout=120)
            check(rc != 0 and "in use by" in out, "the original while the copy is mounted: "
                  "saw %d: %s" % (rc, out))
            rc, out = run([AIFSCTL_BIN, "rados", "unlock", copy.store])
            check(rc == 1 and "in use" in out, "unlock of a store mounted here: expected "
                  "refusal, saw %d: %s" % (rc, out))
        finally:
            copy.cleanup()


# ------------------------------------------------------------------ failures

def _read_in_child(path):
    """Read PATH in a child process; returns (errno or 0, bytes, seconds)."""
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c",
                        "import os,sys\n"
                        "try:\n"
                        "    d=open(sys.argv[1],'rb').read(); sys.stdout.buffer.write(d)\n"
                        "except OSError as e:\n"
                        "    sys.exit(100+e.errno)\n", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = p.returncode - 100 if p.returncode >= 100 else p.returncode
    return err, p.stdout, time.time() - t0


@test
def rados_paused_osd_gives_eio_then_the_mount_goes_on():
    skip_native()
    with RStore(opts="rados_timeout=3") as s:
        d = s.work("d")
        content = data("p", 4 * MiB)
        write_file(os.path.join(d, "f"), content)
        migrate(d, "cold")
        s.remount()
        CLUSTER.pause_osd()
        try:
            err, _, _ = _read_in_child(os.path.join(d, "f"))
            eq(err, errno.EIO, "a read while the OSD does not answer")
        finally:
            CLUSTER.resume_osd()
        wait_for(lambda: _read_in_child(os.path.join(d, "f"))[0] == 0,
                 "reads succeed once the OSD is back", timeout=60)
        err, got, _ = _read_in_child(os.path.join(d, "f"))
        same_bytes(got, content, "the file once the OSD is back")
        write_file(os.path.join(d, "g"), data("g", 2 * MiB))
        migrate(os.path.join(d, "g"), "cold")
        drop_caches()
        same_bytes(read_all(os.path.join(d, "g")), data("g", 2 * MiB), "a new cold file")
        # a migration while the OSD is paused fails, and the unmount still works
        write_file(os.path.join(d, "h"), data("h", 2 * MiB))
        CLUSTER.pause_osd()
        try:
            ctl("tier", "migrate", os.path.join(d, "h"), "--to", "cold")
            time.sleep(1)
            t0 = time.time()
            s.unmount()
            check(time.time() - t0 < 60, "unmount while the OSD is paused took %.0fs" % (
                time.time() - t0))
        finally:
            CLUSTER.resume_osd()
        s.mount()
        same_bytes(read_all(os.path.join(d, "h")), data("h", 2 * MiB), "h after the failed move")
        same_bytes(read_all(os.path.join(d, "f")), content, "f after remount")
        s.unmount()
        s.fsck_clean("fsck after the OSD pauses")


def _write_fsync_in_child(path, content):
    """Write and fsync PATH in a child process; returns the errno of the first failure or 0."""
    p = subprocess.run([sys.executable, "-c",
                        "import os,sys\n"
                        "try:\n"
                        "    fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644)\n"
                        "    os.write(fd, sys.stdin.buffer.read()); os.fsync(fd); os.close(fd)\n"
                        "except OSError as e:\n"
                        "    sys.exit(100+e.errno)\n", path],
                       input=content, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return p.returncode - 100 if p.returncode >= 100 else p.returncode


@test
def rados_data_store_writes_while_the_osd_is_paused_fail_then_go_on():
    """Without the write buffer (cache_size=0) fsync needs the cluster; with it and
    remote_sync=on, too."""
    skip_native()
    for opts in ("rados_timeout=3,cache_size=0", "rados_timeout=3,remote_sync=on"):
        _writes_while_paused(opts)


def _writes_while_paused(opts):
    with RStore(data=True, opts=opts) as s:
        d = s.work("d")
        write_file(os.path.join(d, "before"), data("before", MiB))
        CLUSTER.pause_osd()
        try:
            err = _write_fsync_in_child(os.path.join(d, "during"), data("during", 2 * MiB))
            eq(err, errno.EIO, "write and fsync while the OSD does not answer (-o %s)" % opts)
        finally:
            CLUSTER.resume_osd()
        wait_for(lambda: _write_fsync_in_child(os.path.join(d, "after"),
                                               data("after", 2 * MiB)) == 0,
                 "writes succeed once the OSD is back", timeout=60)
        s.remount()
        same_bytes(read_all(os.path.join(d, "before")), data("before", MiB), "file written before")
        same_bytes(read_all(os.path.join(d, "after")), data("after", 2 * MiB), "file written after")
        # whatever the failed write left: EIO or the bytes written, never others
        try:
            got = read_all(os.path.join(d, "during"))
            check(got in (b"", data("during", 2 * MiB)),
                  "the file whose fsync failed: expected empty or its bytes, saw %d other bytes"
                  % len(got))
        except OSError as e:
            eq(e.errno, errno.EIO, "errno reading the file whose fsync failed")
        s.unmount()


if __name__ == "__main__":
    with ceph.Cluster() as c:
        CLUSTER = c
        main()
