#!/usr/bin/python3
"""Files of a dropped dataset snapshot that are still open (issue 4): they keep reading
what they read until their last close, whatever the live files and new data do meanwhile.

Each test opens a file of a snapshot, drops the snapshot (rmdir), then gives the store a
reason to free or reuse space (unlink, overwrite, truncate of the live file, 64 MiB of new
data) and reads the open file whole.  Every test is aifs-only (skipped with
AIFS_TEST_NATIVE=1).
"""

import errno
import os
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Store, data, eq, main, raises, read_all, same_bytes, skip_native, test,  # noqa: E402
                     write_synced)

MiB = 1 << 20
SIZE = 8 * MiB + 3


def dataset(s, name):
    p = os.path.join(s.mnt, "datasets", name)
    os.mkdir(p)
    return p


def snapshot(ds, tag):
    p = os.path.join(ds, ".aifs", "snapshots", tag)
    os.mkdir(p)
    return p


def fill_64mib(d, prefix, nfiles=8):
    """New data that may reuse whatever was given back: nfiles files, 64 MiB in all."""
    for i in range(nfiles):
        write_synced(os.path.join(d, "%s-%02d" % (prefix, i)), data((prefix, i), 64 * MiB // nfiles))


def read_fd(fd):
    got = bytearray()
    while True:
        chunk = os.pread(fd, MiB, len(got))
        if not chunk:
            return bytes(got)
        got += chunk


def held_after_drop(change, live_after=None, before=None):
    """Write f, snapshot it, call before(ds) if given, open the snapshot's f,
    rmdir the snapshot, call change(ds) on the live dataset, write 64 MiB more,
    and check that the open file still reads what the snapshot held (and the
    live file live_after(b), if given)."""
    with Store() as s:
        ds = dataset(s, "held")
        b = data("heldfile", SIZE)
        write_synced(os.path.join(ds, "f"), b)
        snap = snapshot(ds, "o1")
        if before:
            before(ds)
        fd = os.open(os.path.join(snap, "f"), os.O_RDONLY)
        try:
            same_bytes(os.pread(fd, 4096, 0), b[:4096], "first 4 KiB before the rmdir")
            os.rmdir(snap)
            raises(errno.ENOENT, os.stat, snap, what="stat of the dropped snapshot")
            change(ds)
            fill_64mib(ds, "reuse")
            same_bytes(read_fd(fd), b, "whole file through a descriptor opened before the rmdir")
            eq(os.fstat(fd).st_size, len(b), "fstat size of the open file")
        finally:
            os.close(fd)
        if live_after:
            same_bytes(read_all(os.path.join(ds, "f")), live_after(b), "the live file")


@test
def snapshot_open_file_survives_delete():
    """The live file is unlinked before the snapshot's file is opened."""
    skip_native()
    held_after_drop(lambda ds: time.sleep(2.0),
                    before=lambda ds: os.unlink(os.path.join(ds, "f")))


@test
def snapshot_keeps_data_of_live_file_purged_at_last_close():
    """The live file is unlinked while open, so its records go at its last close
    (FORGET), while the snapshot still reads them: nothing may be given back."""
    skip_native()
    with Store() as s:
        ds = dataset(s, "purge")
        b = data("purgefile", SIZE)
        write_synced(os.path.join(ds, "f"), b)
        snap = snapshot(ds, "p1")
        live = os.open(os.path.join(ds, "f"), os.O_RDONLY)
        os.unlink(os.path.join(ds, "f"))
        os.close(live)
        time.sleep(2.5)     # the kernel's FORGET, then the daemon's reclaim (every second)
        fill_64mib(ds, "reuse")
        fd = os.open(os.path.join(snap, "f"), os.O_RDONLY)
        try:
            same_bytes(read_fd(fd), b, "the snapshot's file after its live file was purged")
        finally:
            os.close(fd)
        s.remount()
        same_bytes(read_all(os.path.join(snap, "f")), b, "the snapshot's file after a remount")


@test
def held_file_survives_overwrite_of_live_file_after_drop():
    """The live file shares the snapshot's extents; overwriting part of it after
    the drop must not give back bytes the open snapshot file still reads."""
    skip_native()
    new = data("over", 3 * MiB)

    def change(ds):
        fd = os.open(os.path.join(ds, "f"), os.O_WRONLY)
        try:
            os.pwrite(fd, new, 2 * MiB + 5)
            os.fsync(fd)
        finally:
            os.close(fd)

    held_after_drop(change, lambda b: b[:2 * MiB + 5] + new + b[5 * MiB + 5:])


@test
def held_file_survives_truncate_of_live_file_after_drop():
    skip_native()

    def change(ds):
        os.truncate(os.path.join(ds, "f"), 1 * MiB + 7)

    held_after_drop(change, lambda b: b[:1 * MiB + 7])


@test
def held_file_survives_last_close_of_unlinked_live_file_after_drop():
    """The live file is unlinked before the drop but still open: its space is
    given back at its last close, after the drop."""
    skip_native()
    live = []

    def before(ds):
        live.append(os.open(os.path.join(ds, "f"), os.O_RDONLY))
        os.unlink(os.path.join(ds, "f"))

    def change(ds):
        os.close(live.pop())
        time.sleep(0.5)     # the kernel's FORGET of the unlinked file

    try:
        held_after_drop(change, before=before)
    finally:
        for x in live:
            os.close(x)


if __name__ == "__main__":
    main()
