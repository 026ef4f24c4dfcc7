#!/usr/bin/python3
"""Dataset snapshots (issue 4): what a snapshot keeps while the live tree changes (every
kind of change, interleaved snapshots, out-of-order drops, open files, inode numbers),
and a PyTorch DataLoader reading a snapshot.

Every test is aifs-only (skipped with AIFS_TEST_NATIVE=1).  torch is imported only by
the DataLoader tests.  Besides ok/not ok lines, snapshot_and_epoch_timings_20000_files
prints "# " lines with measured times; they are information, not assertions.
"""

import errno
import os
import shutil
import stat
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RENAME_EXCHANGE, RENAME_NOREPLACE, Store, check, data,  # noqa: E402
                     drop_caches, eq, main, raises, read_all, renameat2, skip_native,
                     test, write_file, write_synced)
from snapcase import (KiB, MiB, contents, ctl_ok, dataset, fill_64mib, fork_loop,  # noqa: E402
                      hot_usage, json_lines, manifest_expected, meta_tree,
                      same_contents, same_meta, sha_hex, snapdir, snapshot, stop_child,
                      wait_until, xattr_sha)


# ------------------------------------------------------------------ PyTorch


def _sample(i, gen=0):
    return data(("sample", i, gen), 200 + (i * 37) % 3800)


def _live_churn(ds, n):
    """Rewrite, delete, recreate and add files in the live tree, forever."""
    gen = 0
    while True:
        gen += 1
        for i in range(0, n, 3):
            p = os.path.join(ds, "d%02d" % (i % 10), "s%04d.bin" % i)
            if (i + gen) % 4 == 0:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
            else:
                write_file(p, _sample(i, gen))
        write_file(os.path.join(ds, "extra-%d" % gen), b"extra")


def _loader(paths, workers=2, batch=16):
    import torch.utils.data as tud

    class Files(tud.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with open(paths[i], "rb") as f:
                return i, f.read()

    def collate(b):
        return [x[0] for x in b], [x[1] for x in b]

    return tud.DataLoader(Files(), batch_size=batch, num_workers=workers, shuffle=True, collate_fn=collate)


@test
def dataloader_reads_snapshot_while_live_changes():
    skip_native()
    import torch   # noqa: F401  (fail here, not inside a worker, if torch is missing)
    N = 500
    with Store() as s:
        ds = dataset(s, "samples")
        rels = []
        for k in range(10):
            os.mkdir(os.path.join(ds, "d%02d" % k))
        for i in range(N):
            rel = os.path.join("d%02d" % (i % 10), "s%04d.bin" % i)
            write_file(os.path.join(ds, rel), _sample(i))
            rels.append(rel)
        snap = snapshot(ds, "train")
        expect = manifest_expected(snap)
        eq(len(expect), N, "files in the snapshot manifest")
        want = {e["path"]: e["sha256"] for e in expect}
        eq(want, {r: sha_hex(_sample(i)) for i, r in enumerate(rels)}, "snapshot manifest vs written samples")
        paths = [os.path.join(snap, r) for r in rels]
        pid = fork_loop(_live_churn, ds, N)
        try:
            time.sleep(0.3)
            for epoch in range(2):
                seen = {}
                for idx, blobs in _loader(paths):
                    for i, b in zip(idx, blobs):
                        check(i not in seen, "epoch %d: sample %d delivered twice" % (epoch, i))
                        seen[i] = b
                eq(sorted(seen), list(range(N)), "epoch %d: sample indices delivered" % epoch)
                bad = [rels[i] for i in range(N) if sha_hex(seen[i]) != want[rels[i]]]
                eq(bad[:5], [], "epoch %d: samples whose bytes differ from the snapshot manifest (%d)"
                   % (epoch, len(bad)))
        finally:
            stop_child(pid, "live churn writer")
        changed = sum(1 for i, r in enumerate(rels)
                      if not os.path.exists(os.path.join(ds, r)) or read_all(os.path.join(ds, r)) != _sample(i))
        check(changed > 0, "live tree after the churn: expected changed files, saw none changed")
        eq(json_lines(ctl_ok("snapshot", "manifest", ds, "train"), "manifest train"), expect,
           "aifsctl manifest of the snapshot after the epochs")


# ------------------------------------------------------------------ what a snapshot holds
#
# The tests below hold any way of storing snapshots to what a user sees: each records the
# tree (meta_tree, contents, user.aifs.sha256) at the moment of the snapshot and compares
# the snapshot with it after the live tree changed, with the kernel's caches dropped first
# so that the daemon, not the page or dentry cache, answers.


def _frozen(root):
    """What a snapshot of root must show: (meta_tree, contents, {file: sha256})."""
    c = contents(root)                  # read first: reading may move atimes
    return meta_tree(root), c, {rel: sha_hex(b) for rel, b in c.items()}


def same_frozen(snap, expected, what):
    """Compare snapshot snap with a _frozen() record, after dropping the kernel's caches."""
    drop_caches()
    meta, files, shas = expected
    same_meta(meta_tree(snap), meta, what + " (lstat)")
    same_contents(contents(snap), files, what)
    eq({rel: xattr_sha(os.path.join(snap, rel)) for rel in sorted(files)}, shas,
       "%s: user.aifs.sha256 of every file" % what)
    same_meta(meta_tree(snap), meta, what + " (lstat after reading every file)")


def _write_pieces(path, pieces):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for p in pieces:
            eq(os.write(fd, p), len(p), "write() of a piece of %s" % path)
    finally:
        os.close(fd)
    return b"".join(pieces)


def _pwrite_file(path, offset, b):
    fd = os.open(path, os.O_WRONLY)
    try:
        eq(os.pwrite(fd, b, offset), len(b), "pwrite() of %d bytes at %d in %s" % (len(b), offset, path))
    finally:
        os.close(fd)


@test
def snapshot_hides_every_kind_of_later_change():
    skip_native()
    with Store() as s:
        plain = s.work("plain")
        ds = dataset(s, "every")
        P = lambda rel: os.path.join(ds, rel)   # noqa: E731
        big = _write_pieces(P("big"), [data(("big", k), MiB) for k in range(8)])
        for rel, n in [("append", 5000), ("shorter", 300000), ("longer", 70000), ("zeroed", 2 * MiB),
                       ("unlinked", 1000), ("renamed", 2000), ("moved-out", 3000), ("attrs", 4444),
                       ("xa", 10), ("solo", 600), ("pair", 700), ("tiny-rewritten", 100),
                       ("tiny-pwritten", 3000), ("tiny-grown", 4000), ("became-dir", 500)]:
            write_file(P(rel), data(rel, n))
        write_file(P("tiny-empty"), b"")
        os.link(P("pair"), P("pair-2"))
        os.makedirs(P("sub/deeper"))
        write_file(P("sub/keep"), b"keep")
        os.mkdir(P("gone-dir"))
        os.mkdir(P("was-dir"))
        write_file(P("was-dir/inside"), b"inside")
        os.symlink("big", P("sym"))
        os.chmod(P("attrs"), 0o640)
        os.chown(P("attrs"), 1000, 1001)
        os.utime(P("attrs"), ns=(1_400_000_000_123_456_789, 1_300_000_000_987_654_321))
        os.setxattr(P("xa"), "user.keep", b"kept")
        os.setxattr(P("xa"), "user.drop", bytes(range(200)))
        os.setxattr(P("sub"), "user.dir", b"on a directory")
        write_file(os.path.join(plain, "moved-in"), b"from outside")
        want = _frozen(ds)
        eq(want[0][0]["solo"]["nlink"], 1, "nlink of solo in the live tree")
        eq(want[0][1], [["pair", "pair-2"]], "names sharing one inode in the live tree")
        snap = snapshot(ds, "s")
        same_frozen(snap, want, "snapshot just taken")

        # Every kind of change to the live tree.
        _pwrite_file(P("big"), 0, data("ow0", 4 * KiB))
        _pwrite_file(P("big"), 3 * MiB + 100, data("ow1", 4 * KiB))
        _pwrite_file(P("big"), 8 * MiB - 1, data("ow2", 4 * KiB))
        with open(P("append"), "ab") as f:
            f.write(data("more", 123456))
        os.truncate(P("shorter"), 1000)
        os.truncate(P("longer"), 5 * MiB)
        os.truncate(P("zeroed"), 0)
        os.unlink(P("unlinked"))
        os.rename(P("renamed"), P("sub/deeper/renamed-here"))
        os.rename(P("moved-out"), os.path.join(plain, "moved-out"))
        os.rename(os.path.join(plain, "moved-in"), P("moved-in"))
        os.mkdir(P("newdir"))
        write_file(P("newdir/f"), b"new")
        os.rmdir(P("gone-dir"))
        os.chmod(P("attrs"), 0o604)
        os.chown(P("attrs"), 2000, 2001)
        os.utime(P("attrs"), ns=(5, 6))
        os.chmod(P("sub"), 0o700)
        os.chown(P("sub"), 3000, 3001)
        os.setxattr(P("xa"), "user.keep", b"overwritten")
        os.setxattr(P("xa"), "user.new", b"new")
        os.removexattr(P("xa"), "user.drop")
        os.removexattr(P("sub"), "user.dir")
        os.symlink("attrs", P("sym-new"))
        os.unlink(P("sym"))
        os.symlink("a/much/longer/target/than/before", P("sym"))
        os.link(P("solo"), P("solo-2"))
        os.unlink(P("pair-2"))
        write_file(P("tiny-rewritten"), b"short")
        _pwrite_file(P("tiny-pwritten"), 1500, b"MIDDLE")
        with open(P("tiny-grown"), "ab") as f:
            f.write(data("grow", 300))
        write_file(P("tiny-empty"), b"no longer empty")
        os.unlink(P("became-dir"))
        os.mkdir(P("became-dir"))
        write_file(P("became-dir/child"), b"child")
        os.unlink(P("was-dir/inside"))
        os.rmdir(P("was-dir"))
        write_file(P("was-dir"), b"now a file")

        # The live tree did change (else the test below proves nothing).
        (live_meta, _), live_files, _ = _frozen(ds)
        changed = [rel for rel in sorted(set(want[0][0]) | set(live_meta))
                   if rel != "." and (want[0][0].get(rel) != live_meta.get(rel)
                                      or want[1].get(rel) != live_files.get(rel))]
        eq(changed, sorted([
            "append", "attrs", "became-dir", "became-dir/child", "big", "gone-dir", "longer", "moved-in",
            "moved-out", "newdir", "newdir/f", "pair", "pair-2", "renamed", "shorter", "solo", "solo-2",
            "sub", "sub/deeper", "sub/deeper/renamed-here", "sym", "sym-new", "tiny-empty", "tiny-grown",
            "tiny-pwritten", "tiny-rewritten", "unlinked", "was-dir", "was-dir/inside", "xa", "zeroed"]),
           "names whose metadata or content differ between the live tree before and after the changes")
        eq(read_all(os.path.join(plain, "moved-out")), want[1]["moved-out"], "moved-out in the plain directory")
        same_frozen(snap, want, "snapshot after every kind of change")
        s.remount()
        same_frozen(snap, want, "snapshot after the changes and a remount")


def _interleaved(ds):
    """Snapshots s1, s2, s3 of ds with changes before each and after s3, plus n2, a snapshot
    of the nested directory ds/d taken with s2; returns {snapshot dir: _frozen record}."""
    P = lambda rel: os.path.join(ds, rel)   # noqa: E731
    os.mkdir(P("d"))
    write_file(P("every"), data("every1", 200 * KiB))
    write_file(P("d/every"), data("devery1", 700))
    write_file(P("once"), data("once1", 50 * KiB))
    write_file(P("reborn"), data("reborn1", 1000))
    write_file(P("stable"), data("stable", 3 * MiB))
    os.setxattr(P("every"), "user.gen", b"1")
    w1 = _frozen(ds)
    out = {snapshot(ds, "s1"): w1}

    _pwrite_file(P("every"), 100 * KiB, data("every2", 150 * KiB))     # grows to 250 KiB
    os.setxattr(P("every"), "user.gen", b"2")
    write_file(P("d/every"), data("devery2", 900))
    write_file(P("once"), data("once2", 40 * KiB))
    write_file(P("transient"), data("transient", 9000))
    os.unlink(P("reborn"))
    write_file(P("reborn"), data("reborn2", 1500), mode=0o600)
    w2 = _frozen(ds)
    n2w = _frozen(P("d"))
    out[snapshot(ds, "s2")] = w2
    out[snapshot(P("d"), "n2")] = n2w

    os.truncate(P("every"), 10 * KiB)
    with open(P("every"), "ab") as f:
        f.write(data("every3", 1 * MiB + 7))
    os.removexattr(P("every"), "user.gen")
    _pwrite_file(P("d/every"), 3, b"three")
    os.unlink(P("transient"))
    write_file(P("late"), data("late1", 100))
    w3 = _frozen(ds)
    out[snapshot(ds, "s3")] = w3

    write_file(P("every"), data("every4", 64 * KiB))
    os.chmod(P("every"), 0o600)
    write_file(P("d/every"), b"")
    os.unlink(P("reborn"))
    write_file(P("late"), data("late2", 5000))
    return out


def _check_all(snaps, what):
    for snap, want in sorted(snaps.items()):
        same_frozen(snap, want, "%s %s" % (os.path.basename(snap), what))


@test
def interleaved_snapshots_each_show_their_own_state():
    skip_native()
    with Store() as s:
        ds = dataset(s, "inter")
        snaps = _interleaved(ds)
        eq(sorted(os.listdir(snapdir(ds))), ["s1", "s2", "s3"], "tags of the dataset")
        eq(os.listdir(snapdir(os.path.join(ds, "d"))), ["n2"], "tags of the nested directory d")
        # The states differ where they should, so that showing one for another fails.
        shas = {os.path.basename(p): w[2] for p, w in snaps.items()}
        eq(sorted(shas["s1"]), ["d/every", "every", "once", "reborn", "stable"], "files of s1")
        eq(sorted(shas["s2"]), ["d/every", "every", "once", "reborn", "stable", "transient"], "files of s2")
        eq(sorted(shas["s3"]), ["d/every", "every", "late", "once", "reborn", "stable"], "files of s3")
        for rel in ("every", "d/every"):
            eq(len({shas[t][rel] for t in ("s1", "s2", "s3")}), 3, "distinct contents of %s in s1, s2, s3" % rel)
        eq(shas["s2"]["once"], shas["s3"]["once"], "once in s2 and s3")
        check(shas["s1"]["once"] != shas["s2"]["once"], "once: expected s1 and s2 to differ")
        eq(shas["n2"], {"every": shas["s2"]["d/every"]}, "n2 (snapshot of d with s2)")
        eq(read_all(os.path.join(snapdir(ds, "s1"), "reborn")), data("reborn1", 1000), "reborn in s1")
        eq(read_all(os.path.join(snapdir(ds, "s2"), "reborn")), data("reborn2", 1500), "reborn in s2")
        eq(os.getxattr(os.path.join(snapdir(ds, "s1"), "every"), "user.gen"), b"1", "user.gen of every in s1")
        raises(errno.ENODATA, os.getxattr, os.path.join(snapdir(ds, "s3"), "every"), "user.gen",
               what="getxattr user.gen of every in s3")
        _check_all(snaps, "after the changes that followed s3")
        eq(read_all(os.path.join(ds, "every")), data("every4", 64 * KiB), "live every")
        check(not os.path.exists(os.path.join(ds, "reborn")), "live reborn: expected absent")


@test
def deleting_snapshots_out_of_order_keeps_the_others_exact():
    skip_native()
    with Store() as s:
        ds = dataset(s, "order")
        snaps = _interleaved(ds)
        live = contents(ds)
        s1, s2, s3 = (snapdir(ds, t) for t in ("s1", "s2", "s3"))
        os.rmdir(s2)
        del snaps[s2]
        eq(sorted(os.listdir(snapdir(ds))), ["s1", "s3"], "tags after rmdir s2")
        raises(errno.ENOENT, os.stat, os.path.join(s2, "every"), what="stat of every in dropped s2")
        _check_all(snaps, "after dropping s2")
        ctl_ok("snapshot", "delete", ds, "s1")
        del snaps[s1]
        eq(sorted(os.listdir(snapdir(ds))), ["s3"], "tags after aifsctl snapshot delete s1")
        _check_all(snaps, "after dropping s2 then s1")
        same_contents(contents(ds), live, "live tree after dropping s2 and s1")
        s.remount()
        eq(sorted(os.listdir(snapdir(ds))), ["s3"], "tags after remount")
        _check_all(snaps, "after dropping s2, s1 and a remount")
        same_contents(contents(ds), live, "live tree after the remount")
        s.unmount()
        s.fsck_clean("fsck after dropping the middle snapshot, then the first")
        s.mount()
        _check_all(snaps, "after fsck and a second remount")
        os.rmdir(s3)
        os.rmdir(snapdir(os.path.join(ds, "d"), "n2"))
        same_contents(contents(ds), live, "live tree after dropping every snapshot")
        s.unmount()
        s.fsck_clean("fsck after dropping every snapshot")
        s.mount()
        eq(os.listdir(snapdir(ds)), [], "tags after dropping every snapshot and remounting")
        same_contents(contents(ds), live, "live tree after dropping every snapshot and remounting")


@test
def snapshot_keeps_overwritten_bytes_and_gives_them_back_when_dropped():
    skip_native()
    with Store() as s:
        ds = dataset(s, "rewrite")
        old = fill_64mib(ds, "f")                       # 16 files of 4 MiB
        names = sorted(old)
        snap = snapshot(ds, "before")
        # Overwrite every byte of half the files in place, and delete the other half.
        new = {}
        for n in names[:8]:
            b = data(("new", n), 4 * MiB)
            fd = os.open(os.path.join(ds, n), os.O_WRONLY)
            try:
                for off in range(0, len(b), MiB):
                    eq(os.pwrite(fd, b[off:off + MiB], off), MiB, "pwrite of 1 MiB into %s" % n)
                os.fsync(fd)
            finally:
                os.close(fd)
            new[n] = sha_hex(b)
        for n in names[8:]:
            os.unlink(os.path.join(ds, n))
        drop_caches()
        eq({n: sha_hex(read_all(os.path.join(snap, n))) for n in names}, old,
           "sha256 of every file read from the snapshot after the live tree was overwritten and deleted")
        eq({n: xattr_sha(os.path.join(snap, n)) for n in names}, old, "user.aifs.sha256 in the snapshot")
        eq({n: sha_hex(read_all(os.path.join(ds, n))) for n in sorted(os.listdir(ds))}, new,
           "sha256 of the live files")
        live = 32 * MiB
        os.sync()
        time.sleep(2.0)
        u0 = hot_usage(s)
        check(u0 >= live + 64 * MiB, "STORE/hot holding the snapshot's 64 MiB and 32 MiB of new live data: "
              "expected >= %d bytes, saw %d" % (live + 64 * MiB, u0))
        os.rmdir(snap)
        shrunk = wait_until(lambda: u0 - hot_usage(s) >= 48 * MiB, 3.0)
        u1 = hot_usage(s)
        check(shrunk, "STORE/hot 3 s after dropping the only snapshot holding 64 MiB of overwritten and deleted "
              "data: expected to shrink by >= %d bytes, saw %d (before %d, after %d)"
              % (48 * MiB, u0 - u1, u0, u1))
        check(u1 <= live + 16 * MiB, "STORE/hot after the drop: expected about the %d bytes of live data "
              "(<= %d), saw %d" % (live, live + 16 * MiB, u1))
        eq({n: sha_hex(read_all(os.path.join(ds, n))) for n in sorted(os.listdir(ds))}, new,
           "sha256 of the live files after the drop")


@test
def snapshot_shows_completed_writes_of_files_still_open():
    """aifs.7: a file open for writing is caught between two writes; its completed write()
    calls are in the snapshot although nothing was fsync'ed or closed."""
    skip_native()
    with Store() as s:
        ds = dataset(s, "open")
        P = lambda rel: os.path.join(ds, rel)   # noqa: E731
        base = data("existing", 2 * MiB)
        write_synced(P("existing"), base)
        write_synced(P("appended"), b"head;")
        write_synced(P("truncated"), data("old", 100 * KiB))
        flags = os.O_WRONLY | os.O_CREAT
        fds = {"new": os.open(P("new"), flags, 0o644),
               "existing": os.open(P("existing"), os.O_WRONLY),
               "appended": os.open(P("appended"), os.O_WRONLY | os.O_APPEND),
               "truncated": os.open(P("truncated"), os.O_WRONLY | os.O_TRUNC),
               "created-empty": os.open(P("created-empty"), flags, 0o644)}
        try:
            want = {}
            pieces = [data("n1", MiB + 3), data("n2", 300 * KiB), b"ten bytes!"]
            for p in pieces:
                eq(os.write(fds["new"], p), len(p), "write() to new")
            want["new"] = b"".join(pieces)
            patch = data("patch", 4 * KiB)
            eq(os.pwrite(fds["existing"], patch, MiB + 5), len(patch), "pwrite() to existing")
            want["existing"] = base[:MiB + 5] + patch + base[MiB + 5 + len(patch):]
            eq(os.write(fds["appended"], b"tail;"), 5, "write() to appended")
            want["appended"] = b"head;tail;"
            eq(os.write(fds["truncated"], b"fresh"), 5, "write() to truncated")
            want["truncated"] = b"fresh"
            want["created-empty"] = b""
            # Nothing reads the live files before the snapshot: a read could push the
            # gathered writes out and spare the snapshot the work.
            snap = snapshot(ds, "mid")
            # Writes after the snapshot, then the close: none of it may reach the snapshot.
            os.write(fds["new"], b"after the snapshot")
            os.pwrite(fds["existing"], b"X" * 8192, 0)
            os.write(fds["appended"], b"later;")
            os.write(fds["truncated"], data("late", 2 * MiB))
            os.write(fds["created-empty"], b"late")
        finally:
            for fd in fds.values():
                os.close(fd)
        drop_caches()
        same_contents(contents(snap), want, "snapshot taken while the files were open")
        eq({n: os.lstat(os.path.join(snap, n)).st_size for n in sorted(want)},
           {n: len(b) for n, b in sorted(want.items())}, "st_size in the snapshot")
        eq({n: xattr_sha(os.path.join(snap, n)) for n in sorted(want)},
           {n: sha_hex(b) for n, b in sorted(want.items())}, "user.aifs.sha256 in the snapshot")
        same_contents(contents(ds), {
            "new": want["new"] + b"after the snapshot", "existing": b"X" * 8192 + want["existing"][8192:],
            "appended": b"head;tail;later;", "truncated": b"fresh" + data("late", 2 * MiB),
            "created-empty": b"late"}, "live tree after the close")
        s.remount()
        same_contents(contents(snap), want, "snapshot taken while the files were open, after a remount")
        eq({n: xattr_sha(os.path.join(snap, n)) for n in sorted(want)},
           {n: sha_hex(b) for n, b in sorted(want.items())}, "user.aifs.sha256 in the snapshot after a remount")


@test
def snapshot_of_empty_dataset_stays_empty():
    skip_native()
    with Store() as s:
        ds = dataset(s, "empty")
        want = _frozen(ds)
        eq(sorted(want[0][0]), ["."], "entries of the empty dataset")
        snap = snapshot(ds, "nothing")
        eq(os.listdir(snap), [], "listing of the snapshot of an empty dataset")
        os.mkdir(os.path.join(ds, "d"))
        write_file(os.path.join(ds, "d", "f"), b"f")
        write_file(os.path.join(ds, "g"), data("g", 100 * KiB))
        os.symlink("g", os.path.join(ds, "l"))
        os.chmod(ds, 0o711)
        same_frozen(snap, want, "snapshot of the empty dataset after files were added")
        eq(os.listdir(snap), [], "listing of the snapshot after files were added")
        s.remount()
        same_frozen(snap, want, "snapshot of the empty dataset after a remount")


@test
def snapshot_of_5000_files_survives_rewriting_every_file():
    skip_native()
    with Store() as s:
        ds = dataset(s, "many")
        rels = []
        for k in range(50):
            os.mkdir(os.path.join(ds, "d%02d" % k))
            for i in range(100):
                rel = "d%02d/f%03d" % (k, i)
                n = k * 100 + i
                write_file(os.path.join(ds, rel), data(("many", n), (n * 97) % 6000))
                rels.append(rel)
        want = _frozen(ds)
        eq(len(want[1]), 5000, "files in the live tree")
        snap = snapshot(ds, "s5000")
        for n, rel in enumerate(rels):
            p = os.path.join(ds, rel)
            if n % 10 == 0:
                os.unlink(p)
            elif n % 10 == 1:
                os.chmod(p, 0o600)
            else:
                write_file(p, data(("changed", n), (n * 53) % 7000 + 1))
        write_file(os.path.join(ds, "d00", "extra"), b"extra")
        drop_caches()
        walked = sorted((os.path.relpath(dp, snap), sorted(dn), sorted(fn)) for dp, dn, fn in os.walk(snap))
        eq(walked, sorted([(".", ["d%02d" % k for k in range(50)], [])] +
                          [("d%02d" % k, [], ["f%03d" % i for i in range(100)]) for k in range(50)]),
           "os.walk of the snapshot after every live file changed")
        same_frozen(snap, want, "snapshot of 5000 files after every live file changed")


@test
def snapshot_refuses_changes_through_descriptors_renames_and_deeper_names():
    """The routes snapshot_is_read_only does not take: calls on descriptors opened read-only,
    renames that replace or exchange, renames of the snapshot itself, names below its top."""
    skip_native()
    with Store() as s:
        plain = s.work("plain")
        ds = dataset(s, "ro2")
        os.makedirs(os.path.join(ds, "d", "e"))
        os.mkdir(os.path.join(ds, "d", "empty"))
        write_file(os.path.join(ds, "d", "e", "f"), b"deep")
        write_file(os.path.join(ds, "top"), b"top")
        os.setxattr(os.path.join(ds, "top"), "user.k", b"v")
        os.symlink("top", os.path.join(ds, "sl"))
        write_file(os.path.join(ds, "live"), b"live")
        os.mkdir(os.path.join(ds, "livedir"))
        write_file(os.path.join(plain, "pf"), b"plain")
        want = _frozen(ds)
        snap = snapshot(ds, "r")
        S = lambda rel: os.path.join(snap, rel)   # noqa: E731
        live_before = _frozen(ds)
        fd = os.open(S("top"), os.O_RDONLY)
        dfd = os.open(S("d"), os.O_RDONLY | os.O_DIRECTORY)
        R = errno.EROFS
        attempts = [
            ("fchmod on a read-only descriptor", R, lambda: os.fchmod(fd, 0o600)),
            ("fchown on a read-only descriptor", R, lambda: os.fchown(fd, 1, 1)),
            ("fsetxattr on a read-only descriptor", R, lambda: os.setxattr(fd, "user.n", b"1")),
            ("fremovexattr on a read-only descriptor", R, lambda: os.removexattr(fd, "user.k")),
            ("futimens on a read-only descriptor", R, lambda: os.utime(fd, ns=(1, 1))),
            ("fchmod on a directory descriptor", R, lambda: os.fchmod(dfd, 0o700)),
            ("utime to now", R, lambda: os.utime(S("top"))),
            ("lchown of a symlink", R, lambda: os.chown(S("sl"), 1, 1, follow_symlinks=False)),
            ("lutimes of a symlink", R, lambda: os.utime(S("sl"), ns=(1, 1), follow_symlinks=False)),
            ("open O_WRONLY|O_CREAT of an existing file", R,
             lambda: os.open(S("top"), os.O_WRONLY | os.O_CREAT, 0o644)),
            ("open O_RDWR|O_TRUNC", R, lambda: os.open(S("top"), os.O_RDWR | os.O_TRUNC)),
            ("open O_WRONLY two levels down", R, lambda: os.open(S("d/e/f"), os.O_WRONLY)),
            ("truncate two levels down", R, lambda: os.truncate(S("d/e/f"), 0)),
            ("chmod two levels down", R, lambda: os.chmod(S("d/e/f"), 0o777)),
            ("setxattr two levels down", R, lambda: os.setxattr(S("d/e/f"), "user.n", b"1")),
            ("setxattr user.aifs.sha256", R, lambda: os.setxattr(S("top"), "user.aifs.sha256", b"0" * 64)),
            ("unlink two levels down", R, lambda: os.unlink(S("d/e/f"))),
            ("rmdir of a non-empty directory", R, lambda: os.rmdir(S("d/e"))),
            ("rmdir of an empty directory two levels down", R, lambda: os.rmdir(S("d/empty"))),
            ("mkdir two levels down", R, lambda: os.mkdir(S("d/e/new"))),
            ("mknod of a regular file", R, lambda: os.mknod(S("d/node"), stat.S_IFREG | 0o644)),
            ("rename live file over a snapshot file", R, lambda: os.rename(os.path.join(ds, "live"), S("top"))),
            ("RENAME_EXCHANGE of live and snapshot files", R,
             lambda: renameat2(os.path.join(ds, "live"), S("top"), RENAME_EXCHANGE)),
            ("RENAME_NOREPLACE inside the snapshot", R,
             lambda: renameat2(S("top"), S("d/top"), RENAME_NOREPLACE)),
            ("rename snapshot directory to the live tree", R, lambda: os.rename(S("d"), os.path.join(ds, "d2"))),
            ("rename snapshot directory to a plain directory", R,
             lambda: os.rename(S("d"), os.path.join(plain, "d2"))),
            ("rename snapshot file to a plain directory", R,
             lambda: os.rename(S("d/e/f"), os.path.join(plain, "f"))),
            ("rename plain file into the snapshot", R, lambda: os.rename(os.path.join(plain, "pf"), S("d/pf"))),
            ("rename live directory into the snapshot", R,
             lambda: os.rename(os.path.join(ds, "livedir"), S("ld"))),
            ("rename live directory over an empty snapshot directory", R,
             lambda: os.rename(os.path.join(ds, "livedir"), S("d/empty"))),
            ("rename of the snapshot to another tag", R, lambda: os.rename(snap, snapdir(ds, "r2"))),
            ("rename of the snapshot into the live tree", R, lambda: os.rename(snap, os.path.join(ds, "r"))),
            ("link snapshot file into a plain directory", R,
             lambda: os.link(S("d/e/f"), os.path.join(plain, "f"))),
            ("link plain file into the snapshot", R, lambda: os.link(os.path.join(plain, "pf"), S("d/e/pf"))),
            ("create a file among the tags", R,
             lambda: os.open(snapdir(ds, "file"), os.O_CREAT | os.O_WRONLY, 0o644)),
            ("symlink among the tags", R, lambda: os.symlink("r", snapdir(ds, "alias"))),
        ]
        bad = []
        try:
            for what, err, fn in attempts:
                try:
                    r = fn()
                    if isinstance(r, int):
                        os.close(r)
                    bad.append("%s: expected %s, saw success" % (what, errno.errorcode[err]))
                except OSError as e:
                    if e.errno != err:
                        bad.append("%s: expected %s, saw %s" % (what, errno.errorcode[err],
                                                                errno.errorcode.get(e.errno, e.errno)))
        finally:
            os.close(fd)
            os.close(dfd)
        eq(bad, [], "mutating calls on a snapshot")
        eq(sorted(os.listdir(snapdir(ds))), ["r"], "tags after the refused changes")
        eq(os.listdir(plain), ["pf"], "plain directory after the refused changes")
        same_frozen(snap, want, "snapshot after the refused changes")
        same_frozen(ds, live_before, "live tree after the refused changes")


def _inos(root):
    """{relative path: st_ino} of root and everything under it (lstat)."""
    out = {".": os.lstat(root).st_ino}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = os.lstat(p).st_ino
    return out


@test
def snapshot_inode_numbers_are_stable_distinct_and_shared_by_hard_links():
    skip_native()
    with Store() as s:
        ds = dataset(s, "inos")
        P = lambda rel: os.path.join(ds, rel)   # noqa: E731
        os.makedirs(P("d/e"))
        for rel, n in [("a", 10), ("b", 0), ("big", 3 * MiB), ("d/c", 5000), ("d/e/h1", 100), ("solo", 1)]:
            write_file(P(rel), data(rel, n))
        os.link(P("d/e/h1"), P("h2"))
        os.link(P("d/e/h1"), P("d/h3"))
        os.symlink("a", P("sl"))
        s1 = snapshot(ds, "s1")
        s2 = snapshot(ds, "s2")
        live = _inos(ds)
        i1, i2 = _inos(s1), _inos(s2)
        links = {"d/e/h1", "h2", "d/h3"}
        eq(sorted(i1), sorted(live), "names in s1")
        eq(os.lstat(s1).st_dev, os.lstat(ds).st_dev, "st_dev of s1 and of the live dataset (one mount)")
        for name, inos in (("s1", i1), ("s2", i2)):
            eq(len({inos[r] for r in links}), 1, "st_ino of the three names of one hard-linked file in %s" % name)
            eq(os.lstat(os.path.join(snapdir(ds, name), "h2")).st_nlink, 3, "st_nlink of h2 in %s" % name)
            others = sorted(r for r in inos if r not in links) + ["d/e/h1"]
            eq(len({inos[r] for r in others}), len(others),
               "distinct st_ino of the %d files, directories and symlinks in %s: %s" % (len(others), name, inos))
        # One mount, one st_dev: a snapshot inode that repeated a live or another snapshot's
        # inode would make du, find -samefile, tar and rsync -H see hard links that are not.
        eq(set(i1.values()) & set(live.values()), set(), "st_ino shared by s1 and the live tree")
        eq(set(i1.values()) & set(i2.values()), set(), "st_ino shared by s1 and s2")
        fd = os.open(os.path.join(s1, "d/c"), os.O_RDONLY)
        try:
            eq(os.fstat(fd).st_ino, i1["d/c"], "fstat st_ino of s1/d/c")
        finally:
            os.close(fd)
        eq({e.name: e.inode() for e in os.scandir(os.path.join(s1, "d"))},
           {n: i1[os.path.join("d", n)] for n in os.listdir(os.path.join(s1, "d"))}, "readdir d_ino in s1/d")
        # Changes to the live tree, forgotten inodes, dropping another snapshot, a remount:
        # none of them renumbers what s1 shows.
        os.unlink(P("a"))
        write_file(P("a"), b"new a")
        os.rename(P("big"), P("d/big"))
        os.unlink(P("h2"))
        write_file(P("solo"), b"rewritten")
        drop_caches()
        eq(_inos(s1), i1, "st_ino in s1 after the live tree changed and the kernel forgot its inodes")
        os.rmdir(s2)
        drop_caches()
        eq(_inos(s1), i1, "st_ino in s1 after dropping s2")
        s.remount()
        eq(_inos(s1), i1, "st_ino in s1 after a remount")
        eq(len({_inos(s1)[r] for r in links}), 1, "st_ino of the hard-linked names in s1 after a remount")


def _drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _epoch(paths):
    t = time.time()
    n = 0
    for idx, blobs in _loader(paths):
        n += len(idx)
    eq(n, len(paths), "samples in one epoch")
    return len(paths) / (time.time() - t)


@test
def snapshot_and_epoch_timings_20000_files():
    """Information: time to snapshot 20,000 files; DataLoader files/s over the snapshot,
    epoch 1 after drop_caches and epoch 2, and the same over a native directory."""
    skip_native()
    import tempfile
    N = 20000
    with Store() as s:
        ds = dataset(s, "many")
        rels = []
        for k in range(100):
            os.mkdir(os.path.join(ds, "d%03d" % k))
        blob = data("many", 4096)
        for i in range(N):
            rel = "d%03d/f%05d" % (i % 100, i)
            size = 512 + (i * 131) % 3584
            fd = os.open(os.path.join(ds, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, blob[:size])
            os.close(fd)
            rels.append(rel)
        t = time.time()
        snap = snapshot(ds, "t20k")
        dt = time.time() - t
        print("# snapshot of a %d-file tree: %.3f s" % (N, dt), flush=True)
        eq(sum(len(os.listdir(os.path.join(snap, "d%03d" % k))) for k in range(100)), N,
           "files listed in the snapshot")
        paths = [os.path.join(snap, r) for r in rels]
        _drop_caches()
        e1 = _epoch(paths)
        e2 = _epoch(paths)
        print("# DataLoader(num_workers=2, batch_size=16) over the snapshot: epoch 1 (after drop_caches) "
              "%.0f files/s, epoch 2 %.0f files/s" % (e1, e2), flush=True)
        native = tempfile.mkdtemp(prefix="aifs-native-")
        try:
            for k in range(100):
                os.mkdir(os.path.join(native, "d%03d" % k))
            for i, rel in enumerate(rels):
                with open(os.path.join(native, rel), "wb") as f:
                    f.write(blob[:512 + (i * 131) % 3584])
            npaths = [os.path.join(native, r) for r in rels]
            _drop_caches()
            n1 = _epoch(npaths)
            n2 = _epoch(npaths)
            print("# same over a native directory (%s): epoch 1 %.0f files/s, epoch 2 %.0f files/s"
                  % (os.path.dirname(native), n1, n2), flush=True)
        finally:
            shutil.rmtree(native, ignore_errors=True)


if __name__ == "__main__":
    main()
