#!/usr/bin/python3
"""Failure paths (issue 19): odd mount points, read-only media, fsck after a crash and
--repair, and a store on a full disk."""

import errno
import os
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, AIFS_BIN, Fail, Store, check, eq, main, raises,  # noqa: E402
                     read_all, run, skip_native, test)
from failcase import (arm, wait_versions, save, fsynced_file, zip_bytes, segments)  # noqa: E402


# ------------------------------------------- item 11: odd mount points, read-only media


def aifs_run(*args, timeout=60):
    from harness import AIFS_BIN
    return run([AIFS_BIN] + [str(a) for a in args], timeout=timeout)


@test
def regular_file_as_mount_point_is_refused():
    skip_native()
    with Store(mount=False) as s:
        f = os.path.join(s.base, "file")
        with open(f, "wb") as fh:
            fh.write(b"not a directory")
        rc, out = aifs_run(s.store, f)
        eq(rc, 1, "aifs STORE FILE: exit status (output %r)" % out)
        check("Not a directory" in out, "aifs STORE FILE: expected 'Not a directory', saw %r" % out)
        eq(read_all(f), b"not a directory", "the file named as mount point")


@test
def store_on_read_only_media_mounts_ro_and_checks():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "datasets", "f.bin")
        content = bytes(range(256)) * 8192
        fsynced_file(p, content)
        s.unmount()
        ro = os.path.join(s.base, "ro")
        os.mkdir(ro)
        rc, out = run(["mount", "--bind", s.store, ro])
        eq(rc, 0, "mount --bind: %s" % out)
        try:
            rc, out = run(["mount", "-o", "remount,bind,ro", ro])
            eq(rc, 0, "remount,bind,ro: %s" % out)
            raises(errno.EROFS, os.mkdir, os.path.join(ro, "x"), what="mkdir on the read-only bind mount")
            # read-write: refused, saying how to mount it
            rc, out = aifs_run(ro, s.mnt, "-f")
            eq(rc, 1, "aifs of a read-only store without -o ro: exit status (%r)" % out)
            check("-o ro" in out, "aifs of a read-only store: expected a hint at -o ro, saw %r" % out)
            # -o ro: mounts and serves every byte
            real = s.store
            s.store = ro
            try:
                s.mount("ro")
                eq(read_all(p), content, "content through the read-only mount")
                raises(errno.EROFS, os.mkdir, os.path.join(s.mnt, "datasets", "d"),
                       what="mkdir in a read-only mount")
                s.unmount()
                s.fsck_clean("fsck of a store on read-only media")
                rc, out = run([AIFSCTL_BIN, "fsck", "--repair", ro])
                eq(rc, 1, "fsck --repair on read-only media: exit status (%r)" % out)
                check("read-only" in out, "fsck --repair on read-only media: expected to say "
                      "read-only, saw %r" % out)
            finally:
                s.store = real
        finally:
            if s.proc is not None:
                s.unmount(check=False)
            run(["umount", ro])
        s.mount()
        eq(read_all(p), content, "content after a read-write mount again")


# ------------------------------------------- items 10 and 8: fsck after a crash, --repair


@test
def fsck_notes_crash_leftovers_and_exits_0():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        fsynced_file(os.path.join(d, "f"), os.urandom(3 << 20))
        fd = os.open(os.path.join(d, "g"), os.O_WRONLY | os.O_CREAT, 0o644)
        arm(s, "meta_commit:1+")                # appended, never committed: a crash's leftover
        try:
            os.write(fd, os.urandom(5 << 20))
        except OSError as e:
            eq(e.errno, errno.EIO, "errno of a write whose commit fails")
        s.kill9()
        os.close(fd)
        rc, out = s.fsck()
        eq(rc, 0, "fsck exit status after a kill -9 (output %r)" % out[-800:])
        check("note: " in out and "referenced by nothing" in out,
              "fsck: expected a note on unreferenced bytes, saw %r" % out[-800:])
        lines = out.strip().splitlines()
        check("clean" in lines[-1], "fsck: expected a final line with 'clean', saw %r" % lines[-1])
        check(all(ln.startswith("note: ") for ln in lines[:-1] if "fsck" not in ln),
              "fsck: expected only notes before the summary, saw %r" % out[-800:])


def quarantined(s, ino, name):
    """Path of a file that fsck --repair moved to lost+found."""
    return os.path.join(s.mnt, "lost+found", "%d-%s" % (ino, name))


@test
def fsck_repair_drops_extents_outside_their_segment():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        keep = os.urandom(1 << 20)
        fsynced_file(os.path.join(d, "a"), keep)
        fsynced_file(os.path.join(d, "b"), os.urandom(4 << 20))
        ino = os.stat(os.path.join(d, "b")).st_ino
        s.unmount()
        seg = segments(s)[-1]
        size = os.path.getsize(seg)
        os.truncate(seg, size - (2 << 20))      # the disk lost the segment's end
        rc, out = s.fsck()
        eq(rc, 1, "fsck of a truncated segment: exit status (%r)" % out[-800:])
        check("outside segment" in out, "fsck: expected extents outside their segment, saw %r" % out[-800:])
        s.mount()                               # warns once, and serves what is intact
        eq(read_all(os.path.join(d, "a")), keep, "the intact file on the damaged store")
        s.unmount()
        with open(s.log, "rb") as f:
            log = f.read().decode("utf-8", "replace").split("=== mount 2")[-1]
        eq(log.count("past the end of their segment"), 1,
           "warnings at the mount of a store with truncated segments (log %r)" % log[-600:])
        rc, out = s.fsck(repair=True)
        eq(rc, 0, "fsck --repair: exit status when every problem was repaired (%r)" % out[-800:])
        check("extent dropped" in out and "0 not repaired" in out,
              "fsck --repair: expected each extent said dropped and '0 not repaired', saw %r" % out[-800:])
        check("moved to /lost+found/%d-b" % ino in out,
              "fsck --repair: expected b said moved to lost+found, saw %r" % out[-800:])
        check("repaired where possible" not in out, "fsck --repair: the blanket phrase is gone: %r" % out)
        s.fsck_clean("fsck after --repair")
        s.mount()
        eq(read_all(os.path.join(d, "a")), keep, "the intact file after the repair")
        check(not os.path.exists(os.path.join(d, "b")), "the damaged file left its directory")
        q = quarantined(s, ino, "b")
        eq((os.stat(q).st_ino, os.stat(q).st_size), (ino, 4 << 20),
           "the damaged file in lost+found (inode, size)")
        read_all(q)                             # what was lost reads as zeros, not EIO
        s.unmount()
        s.fsck_clean("fsck after the repaired store was mounted")


@test
def fsck_repair_quarantines_a_file_with_damaged_bytes():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        fsynced_file(os.path.join(d, "a"), os.urandom(2 << 20))
        keep = os.urandom(100 << 10)
        os.mkdir(os.path.join(d, "sub"))
        fsynced_file(os.path.join(d, "sub", "small"), keep)
        ino = os.stat(os.path.join(d, "a")).st_ino
        s.unmount()
        seg = segments(s)[0]
        with open(seg, "r+b") as f:
            f.seek(1 << 20)                     # inside a's bytes (stored first)
            f.write(b"\xff" * 4096)             # flipped bytes in the middle of the data
        rc, out = s.fsck()
        eq(rc, 1, "fsck of damaged bytes: exit status (%r)" % out[-800:])
        check("is damaged" in out, "fsck: expected the damage named, saw %r" % out[-800:])
        rc, out = s.fsck(repair=True)
        eq(rc, 0, "fsck --repair of damaged bytes: exit status (%r)" % out[-800:])
        check("the bytes are lost; extent dropped" in out and
              "moved to /lost+found/%d-a" % ino in out,
              "fsck --repair: expected the extent dropped and a quarantined, saw %r" % out[-800:])
        last = out.strip().splitlines()[-1]
        check("0 not repaired" in last and "1 name quarantined" in last,
              "fsck --repair: expected the summary to count it, saw %r" % last)
        s.fsck_clean("fsck after --repair")
        s.mount()
        check(not os.path.exists(os.path.join(d, "a")), "the damaged file left its directory")
        eq(os.stat(quarantined(s, ino, "a")).st_size, 2 << 20, "size of the quarantined file")
        eq(read_all(os.path.join(d, "sub", "small")), keep, "the intact file after the repair")
        os.unlink(quarantined(s, ino, "a"))     # lost+found is an ordinary directory
        s.unmount()
        s.fsck_clean("fsck after the quarantined file was deleted")


# ---------------------------------------- items 1-3: a store on a full disk


def statvfs_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(d, prefix, chunk=1 << 20):
    """Write files of 4 MiB into D until the disk is full; return their names and the errno seen."""
    names = []
    for i in range(1000):
        p = os.path.join(d, "%s%d" % (prefix, i))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        names.append(p)
        try:
            for _ in range(4):
                os.write(fd, os.urandom(chunk))
            os.fsync(fd)
        except OSError as e:
            return names, e.errno
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
    raise Fail("the disk never filled up after %d files" % len(names))


@test
def full_disk_keeps_metadata_deletes_and_the_last_save():
    skip_native()
    with Store(mkfs=False, mount=False) as s:
        os.mkdir(s.store)
        rc, out = run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", s.store])
        eq(rc, 0, "mount -t tmpfs: %s" % out)
        try:
            s.mkfs()
            s.mount("reserve=8")
            d = s.work("plain")
            keep = os.urandom(3 << 20)
            fsynced_file(os.path.join(d, "keep"), keep)
            ck = os.path.join(s.mnt, "checkpoints")
            model = os.path.join(ck, "model.pt")
            v1 = zip_bytes(1, 1 << 20)
            save(model, v1)
            wait_versions(ck, "model.pt", [1], "versions after the first save")
            ds = os.path.join(s.mnt, "datasets", "ds")
            os.mkdir(ds)
            fsynced_file(os.path.join(ds, "x"), b"dataset file\n")
            snaps = os.path.join(ds, ".aifs", "snapshots")
            os.mkdir(os.path.join(snaps, "t0"))
            names, err = fill(d, "fill")
            eq(err, errno.ENOSPC, "errno when the disk is full")
            check(s.proc.poll() is None, "daemon: expected alive once the disk is full")
            # metadata: ENOSPC or success, never EIO, and the daemon lives on
            for i in range(300):
                md = os.path.join(d, "dir%d" % i)
                try:
                    os.mkdir(md)
                    os.setxattr(md, "user.big", os.urandom(2048))
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of mkdir + setxattr %d on a full disk" % i)
            check(s.proc.poll() is None, "daemon: expected alive after metadata on a full disk: %s"
                  % s.log_tail())
            # a snapshot is metadata: made, or ENOSPC once half the reserve is used;
            # dropping one always works
            try:
                os.mkdir(os.path.join(snaps, "t1"))
                eq(read_all(os.path.join(snaps, "t1", "x")), b"dataset file\n",
                   "a snapshot made on a full disk")
            except OSError as e:
                eq(e.errno, errno.ENOSPC, "errno of a snapshot on a full disk")
            os.rmdir(os.path.join(snaps, "t0"))
            check(not os.path.exists(os.path.join(snaps, "t0")), "snapshot t0 dropped on a full disk")
            # half the 8 MB reserve stays free for the metadata database
            check(statvfs_free(s.store) >= 3500000, "free space on the full disk: expected at "
                  "least half the reserve, saw %d bytes" % statvfs_free(s.store))
            # a save on the full disk fails, and the name serves its last complete version
            fd = os.open(model, os.O_WRONLY | os.O_TRUNC)
            try:
                try:
                    for _ in range(8):
                        os.write(fd, os.urandom(1 << 20))
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of a checkpoint write on a full disk")
            finally:
                try:
                    os.close(fd)
                except OSError as e:
                    check(e.errno in (errno.ENOSPC, errno.EIO), "close of a save on a full disk: %s" % e)
            eq(read_all(model), v1, "the checkpoint after a save on a full disk")
            # deletes give space back
            before = statvfs_free(s.store)
            for p in names:
                os.unlink(p)
            for _ in range(100):
                if statvfs_free(s.store) > before + (8 << 20):
                    break
                time.sleep(0.1)
            check(statvfs_free(s.store) > before + (8 << 20),
                  "free space: expected more than %d bytes after the deletes, saw %d" % (
                      before + (8 << 20), statvfs_free(s.store)))
            fsynced_file(os.path.join(d, "after"), os.urandom(4 << 20))
            eq(read_all(os.path.join(d, "keep")), keep, "fsync'd file after the full disk")
            s.remount("reserve=8")
            eq(read_all(os.path.join(d, "keep")), keep, "fsync'd file after a remount")
            eq(read_all(model), v1, "the checkpoint after a remount")
            s.unmount()
            s.fsck_clean("fsck after a full disk")
        finally:
            if s.proc is not None:
                s.unmount(check=False)
            run(["umount", s.store])


@test
def store_on_a_disk_filled_by_others_mounts_read_only_and_checks():
    skip_native()
    with Store(mkfs=False, mount=False) as s:
        os.mkdir(s.store)
        rc, out = run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", s.store])
        eq(rc, 0, "mount -t tmpfs: %s" % out)
        try:
            s.mkfs()
            s.mount()
            d = s.work("plain")
            keep = os.urandom(2 << 20)
            fsynced_file(os.path.join(d, "keep"), keep)
            s.unmount()
            filler = os.path.join(s.store, "filler")
            with open(filler, "wb") as f:     # another program fills the disk to the last byte
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of the filler")
            check(statvfs_free(s.store) < (1 << 20), "free space: expected the disk full, saw %d bytes"
                  % statvfs_free(s.store))
            s.mount()
            eq(read_all(os.path.join(d, "keep")), keep, "a file on the full disk, mounted read-only")
            raises(errno.EROFS, os.mkdir, os.path.join(d, "x"), what="mkdir in a store mounted read-only "
                   "because its disk is full")
            s.unmount()
            with open(s.log, "rb") as f:
                check(b"mounting it read-only" in f.read(), "daemon log: expected it to say why it "
                      "mounted read-only: %s" % s.log_tail())
            rc, out = s.fsck()
            eq(rc, 0, "fsck of a store on a full disk (%r)" % out[-600:])
            check("full" in out and "clean" in out.strip().splitlines()[-1],
                  "fsck of a store on a full disk: expected it to say the disk is full and clean, "
                  "saw %r" % out[-600:])
            os.unlink(filler)
            s.mount()
            os.mkdir(os.path.join(d, "x"))
            eq(read_all(os.path.join(d, "keep")), keep, "the file once the disk has room again")
            s.unmount()
            s.fsck_clean("fsck once the disk has room again")
        finally:
            if s.proc is not None:
                s.unmount(check=False)
            run(["umount", s.store])


if __name__ == "__main__":
    main()
