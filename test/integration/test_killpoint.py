#!/usr/bin/python3
"""Failure paths (issue 19): the daemon killed at fail points (the create or seal of a
journal file, a small file outgrowing inline storage) and a crash loop over a mixed
workload: nothing acknowledged is lost."""

import io
import multiprocessing
import os
import signal
import sys
import time
import zipfile

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Store, check, eq, main, mounted, read_all, run,  # noqa: E402
                     skip_native, test)
from failcase import (write_ok, seals, arm, save, fsynced_file, zip_bytes, APPEND)  # noqa: E402


# --------------------------------------- a crash at the create or seal of a journal


def died_at_failpoint(s, what):
    """Wait for the daemon to kill itself at an armed =KILL fail point (the
    release that reaches it comes after close() returned), then unmount the
    dead mount."""
    for _ in range(600):
        if s.proc.poll() is not None:
            break
        time.sleep(0.1)
    else:
        raise Fail("%s: expected the daemon killed at its fail point, saw it running: %s"
                   % (what, s.log_tail()))
    eq(s.proc.returncode, -signal.SIGKILL, "%s: the daemon's end" % what)
    s.proc = None
    run(["fusermount3", "-u", "-z", s.mnt], timeout=60)
    if mounted(s.mnt):
        run(["umount", "-l", s.mnt], timeout=60)
    check(not mounted(s.mnt), "%s: expected %s unmounted" % (what, s.mnt))


def audit_intact(s, what):
    rc, out = run([AIFSCTL_BIN, "audit", "verify", s.store])
    check(rc == 0 and "intact" in out, "%s: expected audit verify to exit 0 with 'intact', "
          "saw exit %d: %r" % (what, rc, out[-800:]))


@test
def journal_kill_at_create_or_seal_leaves_a_verifiable_log():
    """A file's create, its flag, seal time and seal record are each one commit:
    a kill -9 at any of them leaves the log intact and fsck clean."""
    skip_native()
    # the checkpointer stays out of the count of metadata commits
    for spec, expect in (("meta_commit:2=KILL", None),              # at the create
                         ("journal_seal:1=KILL", "unsealed"),       # just before the seal's commit
                         ("journal_sealed:1=KILL", "sealed")):      # just after it
        what = "kill at %s" % spec
        with Store(opts="audit_checkpoint_secs=3600") as s:
            a = os.path.join(s.mnt, "audit", "a.log")
            p = os.path.join(s.mnt, "audit", "b.log")
            fd = os.open(a, APPEND, 0o644)
            write_ok(fd, b"before\n", what + ": first write")
            os.close(fd)
            seals(a, what + ": a file written before the kill")
            if expect is None:
                arm(s, spec)            # b.log's create is the 1st commit, its bytes the 2nd
            fd = os.open(p, APPEND, 0o644)
            write_ok(fd, b"line 1\n", what + ": write")
            if expect is not None:
                arm(s, spec)
            try:
                os.close(fd)
            except OSError:
                pass                    # the daemon died under the close
            died_at_failpoint(s, what)
            s.fsck_clean("%s: fsck" % what)
            audit_intact(s, what)
            s.mount()
            eq(read_all(a), b"before\n", what + ": the file sealed before the kill")
            state = os.getxattr(p, "user.aifs.sealed").decode()
            if expect is None:                      # killed at the commit of its bytes
                eq((state, read_all(p)), ("false", b""), what + ": b.log (sealed, content)")
            else:
                eq((state, read_all(p)), ("true" if expect == "sealed" else "false", b"line 1\n"),
                   what + ": b.log (sealed, content)")
            if state == "false":                    # its next writer's close seals it
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                write_ok(fd, b"line 2\n", what + ": write after the remount")
                os.close(fd)
                seals(p, what + ": the next writer's close")
            s.unmount()
            s.fsck_clean("%s: fsck after the remount" % what)
            audit_intact(s, what + ", after the remount")


@test
def kill_when_a_small_file_outgrows_inline_storage_keeps_its_stored_bytes():
    """A file of a few KiB lives in the metadata; the commit that moves it to
    an extent also stores what replaces it: a kill -9 between the two left
    the file at its new size with neither (zeros; a journal file's records
    then covered less than its size)."""
    skip_native()
    for area in ("plain", "audit"):
        what = "%s file growing past inline storage" % area
        with Store(opts="audit_checkpoint_secs=3600") as s:
            d = s.work("plain") if area == "plain" else os.path.join(s.mnt, "audit")
            p = os.path.join(d, "small")
            first = b"x" * 2047 + b"\n"
            fd = os.open(p, APPEND, 0o644)
            write_ok(fd, first, what + ": first write")
            os.fsync(fd)                            # stored inline, durable
            write_ok(fd, b"y" * 10239 + b"\n", what + ": the write that outgrows it")
            arm(s, "tier_append:1=KILL")            # the daemon dies storing it
            try:
                os.fsync(fd)
            except OSError:
                pass                                # the daemon died under the fsync
            died_at_failpoint(s, what)
            try:
                os.close(fd)
            except OSError:
                pass
            s.fsck_clean("%s: fsck" % what)
            if area == "audit":
                audit_intact(s, what)
            s.mount()
            eq(read_all(p), first, what + ": content after the kill")


# ------------------------------------------------------------- a crash loop


def _durable(side, *fields):
    """Record one durable fact outside the store (a line, fsync'd)."""
    with open(side, "a") as f:
        f.write("\t".join(str(x) for x in fields) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _facts(side):
    try:
        with open(side) as f:
            return [ln.rstrip("\n").split("\t") for ln in f if ln.endswith("\n")]
    except FileNotFoundError:
        return []


def _sha(b):
    import hashlib
    return hashlib.sha256(b).hexdigest()


def _journal_child(path, tag, n):
    try:
        fd = os.open(path, APPEND, 0o644)
        try:
            for k in range(n):
                os.write(fd, b"%s %d\n" % (tag, k))
        finally:
            os.close(fd)
    except OSError:
        pass                                    # the daemon was killed


def _mixed_workload(mnt, side, it, seed):
    """Checkpoint saves, journal appends from two processes, creates, renames,
    unlinks, a snapshot and a migration, until the daemon is killed."""
    import random
    rnd = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    try:
        plain = os.path.join(mnt, "plain")
        ck = os.path.join(mnt, "checkpoints")
        ds = os.path.join(mnt, "datasets", "set")
        for step in range(1000):
            p = os.path.join(plain, "f%d_%d" % (it, step))
            c = os.urandom(rnd.randint(1, 600 << 10))
            fsynced_file(p + ".tmp", c)
            os.rename(p + ".tmp", p)
            dfd = os.open(plain, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            _durable(side, "file", p, _sha(c))
            if step % 3 == 0:
                model = os.path.join(ck, "model.pt")
                z = zip_bytes(it * 1000 + step, rnd.randint(1000, 300000))
                save(model, z)
                _durable(side, "save", model, _sha(z))
            if step % 4 == 1:
                j = os.path.join(mnt, "audit", "log%d_%d" % (it, step))
                kids = [ctx.Process(target=_journal_child, args=(j, b"p%d" % k, 20)) for k in range(2)]
                for k in kids:
                    k.start()
                for k in kids:
                    k.join()
            if step % 5 == 2:
                old = os.path.join(plain, "f%d_%d" % (it, step - 2))
                # a kill between the unlink and its fact leaves it done
                # or not: either is right for a file not yet "gone"
                _durable(side, "going", old)
                os.unlink(old)
                _durable(side, "gone", old)
            if step == 1:
                os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t%d" % it))
                _durable(side, "snap", "t%d" % it)
            if step == 3:
                run([AIFSCTL_BIN, "tier", "migrate", plain, "--to", "cold"])
    except OSError:
        pass                                    # the daemon was killed
    os._exit(0)


@test
def crash_loop_mixed_workload_keeps_everything_durable():
    """AIFS_CRASH_LOOPS (default 30) rounds of a mixed workload killed by SIGKILL."""
    skip_native()
    import random
    loops = int(os.environ.get("AIFS_CRASH_LOOPS", "30"))
    seed = random.randrange(1 << 32)
    print("# crash loop: %d rounds, seed %d" % (loops, seed), flush=True)
    rnd = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    with Store() as s:
        side = os.path.join(s.base, "durable.tsv")
        os.mkdir(os.path.join(s.mnt, "plain"))
        os.mkdir(os.path.join(s.mnt, "datasets", "set"))
        fsynced_file(os.path.join(s.mnt, "datasets", "set", "x"), b"dataset file\n")
        for it in range(loops):
            w = ctx.Process(target=_mixed_workload, args=(s.mnt, side, it, seed + it))
            w.start()
            time.sleep(rnd.uniform(0.05, 1.5))
            s.kill9()
            w.join(60)
            if w.is_alive():
                os.kill(w.pid, signal.SIGKILL)
                w.join()
            s.unmount(check=False)
            rc, out = s.fsck()
            eq(rc, 0, "round %d: fsck after kill -9 (%r)" % (it, out[-800:]))
            s.mount()
            files, saves, snaps, going = {}, [], [], set()
            for f in _facts(side):
                if f[0] == "file":
                    files[f[1]] = f[2]
                elif f[0] == "going":
                    going.add(f[1])
                elif f[0] == "gone":
                    files.pop(f[1], None)
                elif f[0] == "save":
                    saves.append(f[2])
                elif f[0] == "snap":
                    snaps.append(f[1])
            for p, h in files.items():
                if p in going and not os.path.exists(p):
                    continue                    # unlinked as the kill came
                eq(_sha(read_all(p)), h, "round %d: sha256 of fsync'd %s" % (it, p))
            vdir = os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "model.pt")
            byver = {}
            for v in (os.listdir(vdir) if os.path.isdir(vdir) else []):
                byver[int(v)] = _sha(read_all(os.path.join(vdir, v)))
            have = set(byver.values())
            missing = [h for h in saves if h not in have]
            eq(missing, [], "round %d: committed versions missing after kill -9" % it)
            if saves:
                # the last acknowledged save, or a later one whose commit
                # was durable when the kill cut off its acknowledgement
                last = max(n for n, h in byver.items() if h == saves[-1])
                body = read_all(os.path.join(s.mnt, "checkpoints", "model.pt"))
                check(zipfile.is_zipfile(io.BytesIO(body)),
                      "round %d: model.pt serves a complete zip, saw a torn one" % it)
                served = _sha(body)
                check(served in [h for n, h in byver.items() if n >= last],
                      "round %d: model.pt serves the last committed save: expected the "
                      "content of version %d (%s) or a later version, saw %s"
                      % (it, last, saves[-1], served))
            snapdir = os.path.join(s.mnt, "datasets", "set", ".aifs", "snapshots")
            for t in snaps:
                eq(read_all(os.path.join(snapdir, t, "x")), b"dataset file\n",
                   "round %d: snapshot %s" % (it, t))
        print("# crash loop: %d fsync'd files alive, %d versions committed, %d snapshots checked"
              % (len(files), len(saves), len(snaps)), flush=True)
        s.unmount()
        s.fsck_clean("fsck after %d rounds" % loops)
        rc, out = run([AIFSCTL_BIN, "audit", "verify", s.store])
        check(rc == 0 and "intact" in out, "audit verify after the crash loop: expected exit 0 and "
              "'intact', saw exit %d: %r" % (rc, out[-600:]))


if __name__ == "__main__":
    main()


if __name__ == "__main__":
    main()
