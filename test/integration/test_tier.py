#!/usr/bin/python3
"""Tiers and compression (issue 6): migration between the hot and the cold tier through the
mount, per-extent codecs, checksums, crash safety of migration and gc, space given back,
policies, and the figures of the closing note (printed as "# figure" lines, not asserted).
"""

import errno
import glob
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFS_BIN, AIFSCTL_BIN, TOP, Fail, Store, check, data, eq, main,  # noqa: E402
                     raises, read_all, run, same_bytes, skip_native, test, write_file)

MiB = 1 << 20
PYTHON = "/usr/bin/python3"
CODECRATIO = os.path.join(os.path.dirname(AIFS_BIN), "aifs-codecratio")


# ------------------------------------------------------------------ helpers

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


def tierstat(mnt):
    return json.loads(xattr(mnt, "user.aifs.tierstat"))


def migrate(path, to):
    ctl("tier", "migrate", path, "--to", to, "--wait")


def wait_for(cond, what, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise Fail("%s: not reached within %.0fs" % (what, timeout))


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def tier_usage(s, tier):
    """Bytes the segment files of TIER occupy on disk."""
    return sum(os.stat(p).st_blocks * 512
               for p in glob.glob(os.path.join(s.store, tier, "seg-*")))


def text_bytes(size):
    """Text that compresses like prose or logs (words from the man pages, shuffled)."""
    words = []
    for page in sorted(glob.glob(os.path.join(TOP, "man", "*"))):
        with open(page, encoding="utf-8", errors="replace") as f:
            words += f.read().split()
    rnd = random.Random(6)
    out = []
    n = 0
    while n < size:
        line = " ".join(rnd.choice(words) for _ in range(rnd.randint(4, 14))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def torch_save(path, dtype, numel):
    """A real torch.save file of random-normal weights of DTYPE."""
    code = ("import torch,sys; torch.manual_seed(0); "
            "t={'w': torch.randn(%d).to(torch.%s), 'b': torch.randn(4096).to(torch.%s)}; "
            "torch.save(t, sys.argv[1])" % (numel, dtype, dtype))
    p = subprocess.run([PYTHON, "-c", code, path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    if p.returncode != 0:
        raise Fail("torch.save %s: %s" % (dtype, p.stdout.decode()[-500:]))


def mkfs(s, *opts):
    rc, out = run([AIFSCTL_BIN, "mkfs"] + list(opts) + [s.store])
    if rc != 0:
        raise Fail("aifsctl mkfs %s: %s" % (" ".join(opts), out))


# ------------------------------------------------------------------ transparency

@test
def migrated_and_compressed_data_reads_back_byte_exact():
    skip_native()
    with Store() as s:
        d = s.work("d")
        files = {"text": text_bytes(5 * MiB + 123), "random": data("r", 3 * MiB + 7),
                 "zeros": bytes(2 * MiB), "small": b"tiny\n" * 100, "empty": b""}
        for name, content in files.items():
            write_file(os.path.join(d, name), content)
        torch_save(os.path.join(d, "w.pt"), "float32", 1 << 20)
        files["w.pt"] = read_all(os.path.join(d, "w.pt"))
        for to in ("cold", "hot", "cold"):
            migrate(d, to)
            drop_caches()
            for name, content in files.items():
                p = os.path.join(d, name)
                same_bytes(read_all(p), content, "%s after migrating to %s" % (name, to))
                if len(content) > 4096:
                    eq(xattr(p, "user.aifs.tier"), to, "user.aifs.tier of %s" % name)
                # a read at an odd place inside a compressed extent
                with open(p, "rb") as f:
                    f.seek(len(content) // 3)
                    same_bytes(f.read(10001), content[len(content) // 3:len(content) // 3 + 10001],
                               "%s: read inside an extent" % name)
        text_stored = int(xattr(os.path.join(d, "text"), "user.aifs.stored_size"))
        rnd_stored = int(xattr(os.path.join(d, "random"), "user.aifs.stored_size"))
        check(text_stored < len(files["text"]) * 0.7,
              "text in the cold tier: expected stored_size < 70%% of %d, saw %d" % (
                  len(files["text"]), text_stored))
        eq(rnd_stored, len(files["random"]), "stored_size of random bytes (kept raw)")
        st = tierstat(s.mnt)
        check(st["tiers"]["cold"]["ratio"] > 1.1, "cold ratio: expected > 1.1, saw %s" % st)
        s.unmount()
        s.fsck_clean("fsck after migrations")


@test
def compress_lz4_mount_option_compresses_hot_extents():
    skip_native()
    with Store(opts="compress=lz4") as s:
        d = s.work("d")
        text = text_bytes(6 * MiB)
        rnd = data("x", 6 * MiB)
        write_file(os.path.join(d, "t"), text)
        write_file(os.path.join(d, "r"), rnd)
        drop_caches()
        same_bytes(read_all(os.path.join(d, "t")), text, "compressed hot text")
        same_bytes(read_all(os.path.join(d, "r")), rnd, "raw hot random")
        eq(xattr(os.path.join(d, "t"), "user.aifs.tier"), "hot", "tier of new data")
        stored = int(xattr(os.path.join(d, "t"), "user.aifs.stored_size"))
        check(stored < len(text) * 0.7, "compress=lz4: expected text stored in < 70%%, saw %d of %d"
              % (stored, len(text)))
        eq(int(xattr(os.path.join(d, "r"), "user.aifs.stored_size")), len(rnd),
           "random bytes: kept raw (lz4 saves < 5%)")
        # lsaifs shows the compressed size in STORED
        lsaifs = os.path.join(os.path.dirname(AIFSCTL_BIN), "lsaifs")
        out = subprocess.run([lsaifs, "-l", "--json", os.path.join(d, "t")],
                             capture_output=True, text=True, check=True).stdout
        eq(json.loads(out)["entries"][0]["stored"], stored, "lsaifs --json stored of t")
        s.remount("")
        same_bytes(read_all(os.path.join(d, "t")), text, "compressed text after remount")


@test
def compression_ratios_on_text_and_torch_save_files():
    skip_native()
    with Store() as s:
        d = s.work("d")
        paths = {"text": os.path.join(s.base, "text.txt"),
                 "fp32": os.path.join(s.base, "fp32.pt"),
                 "bf16": os.path.join(s.base, "bf16.pt")}
        with open(paths["text"], "wb") as f:
            f.write(text_bytes(16 * MiB))
        torch_save(paths["fp32"], "float32", 8 << 20)
        torch_save(paths["bf16"], "bfloat16", 8 << 20)
        ratios = {}
        for name, p in paths.items():
            rc, out = run([CODECRATIO, p])
            eq(rc, 0, "aifs-codecratio %s" % p)
            for line in out.split("\n"):
                if line.strip():
                    codec, rest = line.split(" ", 1)
                    ratios[(name, codec)] = float(rest.split("ratio=")[1].split()[0])
                    print("# figure ratio %s %s" % (name, line), flush=True)
        check(ratios[("fp32", "bg4")] > ratios[("fp32", "lz4")] * 1.03,
              "fp32: expected byte grouping (bg4) to beat plain lz4, saw %s vs %s" % (
                  ratios[("fp32", "bg4")], ratios[("fp32", "lz4")]))
        check(ratios[("bf16", "bg2")] > ratios[("bf16", "lz4")] * 1.05,
              "bf16: expected byte grouping (bg2) to beat plain lz4")
        check(ratios[("text", "auto")] > 1.5, "text: expected lz4 ratio > 1.5")
        # the same files through the mount, in the cold tier
        for name, p in paths.items():
            write_file(os.path.join(d, name), read_all(p))
        migrate(d, "cold")
        for name, p in paths.items():
            size = os.path.getsize(p)
            stored = int(xattr(os.path.join(d, name), "user.aifs.stored_size"))
            print("# figure cold %s: %d bytes stored in %d (ratio %.3f)" % (
                name, size, stored, size / stored), flush=True)
            same_bytes(read_all(os.path.join(d, name)), read_all(p), name + " from cold")
        st = tierstat(s.mnt)["tiers"]["cold"]
        print("# figure cold tier codecs %s ratio %.3f" % (st["codecs"], st["ratio"]), flush=True)
        check(st["codecs"]["lz4_bg4"] > 0 and st["codecs"]["lz4_bg2"] + st["codecs"]["lz4_bg4"] > 2,
              "cold tier: expected byte-grouped extents for the weights, saw %s" % st["codecs"])


# ------------------------------------------------------------------ checksums

@test
def corrupted_cold_extent_gives_eio_and_one_log_line():
    skip_native()
    with Store() as s:
        d = s.work("d")
        content = text_bytes(3 * MiB)
        write_file(os.path.join(d, "f"), content)
        write_file(os.path.join(d, "g"), data("g", MiB))
        migrate(os.path.join(d, "f"), "cold")
        s.unmount()
        segs = sorted(glob.glob(os.path.join(s.store, "cold", "seg-*")))
        check(segs, "expected a cold segment")
        with open(segs[0], "r+b") as f:
            f.seek(5000)
            b = f.read(1)
            f.seek(5000)
            f.write(bytes([b[0] ^ 0x40]))
        s.mount()
        before = open(s.log, "rb").read().count(b"checksum mismatch")
        e = raises(errno.EIO, read_all, os.path.join(d, "f"), what="read of damaged cold file")
        check(e is not None, "EIO")
        same_bytes(read_all(os.path.join(d, "g")), data("g", MiB), "undamaged file")
        log = open(s.log, "rb").read().decode("utf-8", "replace")
        lines = [ln for ln in log.splitlines()[-50:] if "checksum mismatch" in ln]
        check(len(lines) >= 1 and "tier cold" in lines[-1],
              "expected a 'tier cold: checksum mismatch' log line, saw %r" % log[-800:])
        after = log.count("checksum mismatch")
        check(after > before, "one log line per damaged read")
        s.unmount()
        rc, out = s.fsck()
        check(rc == 1 and "damaged" in out, "fsck: expected the damage reported, saw %d %s" % (
            rc, out[-500:]))


# ------------------------------------------------------------------ concurrency

def _rewriter(path, seed, secs, out):
    """Rewrite random 64 KiB blocks of PATH for SECS seconds, reading other blocks back
    between writes (each must be what this process last wrote there); leave the final
    content in OUT, or "BAD ..." when a read differed."""
    rnd = random.Random(seed)
    bad = None
    with open(path, "r+b", buffering=0) as f:
        content = bytearray(f.read())
        end = time.time() + secs
        while time.time() < end and bad is None:
            off = rnd.randrange(0, len(content) // 65536) * 65536
            blk = data((seed, off, rnd.random()), 65536)
            os.pwrite(f.fileno(), blk, off)
            content[off:off + 65536] = blk
            if rnd.random() < 0.2:
                os.fsync(f.fileno())
            roff = rnd.randrange(0, len(content) - 4096)
            got = os.pread(f.fileno(), 4096, roff)
            if got != bytes(content[roff:roff + 4096]):
                bad = "BAD read at %d differs from what was written" % roff
            time.sleep(0.002)
    with open(out, "wb") as o:
        o.write(bad.encode() if bad else content)


def _reader(path, expect, secs, q):
    end = time.time() + secs
    n = 0
    try:
        while time.time() < end:
            with open(path, "rb") as f:
                got = f.read()
            if got != expect:
                q.put("read %d of %s: content differs" % (n, path))
                return
            n += 1
        q.put("ok %d" % n)
    except OSError as e:
        q.put("read %d: %s" % (n, e))


@test
def migration_while_another_process_reads_and_writes():
    skip_native()
    with Store() as s:
        d = s.work("d")
        stat_f, busy = os.path.join(d, "static"), os.path.join(d, "busy")
        static = data("s", 12 * MiB)
        write_file(stat_f, static)
        write_file(busy, data("b", 12 * MiB))
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        final = os.path.join(s.base, "busy.final")
        w = ctx.Process(target=_rewriter, args=(busy, 7, 6.0, final))
        r = ctx.Process(target=_reader, args=(stat_f, static, 6.0, q))
        w.start()
        r.start()
        deadline = time.time() + 6.0
        rounds = 0
        while time.time() < deadline:
            for to in ("cold", "hot"):
                migrate(d, to)
                rounds += 1
        w.join(60)
        r.join(60)
        eq(w.exitcode, 0, "rewriter exit status")
        res = q.get(timeout=10)
        check(res.startswith("ok"), "reader during %d migrations: %s" % (rounds, res))
        migrate(d, "cold")
        drop_caches()
        fin = read_all(final)
        check(not fin.startswith(b"BAD"), "rewriter during migrations: %s" % fin[:200])
        same_bytes(read_all(busy), fin, "rewritten file after migrations")
        same_bytes(read_all(stat_f), static, "static file after migrations")
        eq(xattr(stat_f, "user.aifs.tier"), "cold", "tier after the last migration")
        st = tierstat(s.mnt)["migration"]
        print("# %d migrations; %d pieces skipped because a writer changed them" % (
            rounds, st["skipped"]), flush=True)
        s.unmount()
        s.fsck_clean("fsck after migrations under load")


# ------------------------------------------------------------------ crashes

@test
def kill9_during_migration_loses_nothing_and_fsck_is_clean():
    skip_native()
    with Store(opts="migrate_bw=40") as s:
        d = s.work("d")
        files = {}
        for i in range(6):
            files["f%d" % i] = data(("m", i), 8 * MiB + i * 4097)
            write_file(os.path.join(d, "f%d" % i), files["f%d" % i])
        os.sync()
        rnd = random.Random(11)
        for rnd_i in range(4):
            to = "cold" if rnd_i % 2 == 0 else "hot"
            ctl("tier", "migrate", d, "--to", to)
            time.sleep(rnd.uniform(0.1, 1.0))
            s.kill9()
            s.mount()
            for name, content in files.items():
                same_bytes(read_all(os.path.join(d, name)), content,
                           "round %d: %s after kill -9 during migration" % (rnd_i, name))
            # the request survives the crash and completes
            wait_for(lambda: all(xattr(os.path.join(d, n), "user.aifs.tier") == to for n in files),
                     "round %d: every file %s after the remount" % (rnd_i, to), timeout=60)
            s.unmount()
            s.fsck_clean("round %d: fsck after kill -9 during migration" % rnd_i)
            s.mount()


def fragment(d, n, size=4 * MiB):
    """Files whose compressed extents stay mostly dead: write, then overwrite most of each."""
    keep = {}
    for i in range(n):
        p = os.path.join(d, "frag%02d" % i)
        content = bytearray(text_bytes(size))
        write_file(p, bytes(content))
        keep[p] = content
    os.sync()
    for p, content in keep.items():
        new = data(("over", p), size - MiB)
        with open(p, "r+b") as f:
            f.seek(MiB)
            f.write(new)
        content[MiB:] = new
    os.sync()
    return {p: bytes(c) for p, c in keep.items()}


@test
def gc_compacts_segments_and_kill9_during_gc_is_safe():
    skip_native()
    with Store(mkfs=False, mount=False, opts="compress=lz4,migrate_bw=30") as s:
        mkfs(s, "--segment-size", "16")
        s.mount()
        d = s.work("d")
        files = fragment(d, 10)
        before = tier_usage(s, "hot")
        out = ctl("gc", "--threshold", "0.6", s.mnt)
        after = tier_usage(s, "hot")
        check(out.startswith("gc: reclaimed "), "aifsctl gc output: %r" % out)
        reported = int(out.split()[2])
        print("# figure gc: hot tier %d -> %d bytes on disk (%s)" % (before, after, out.strip()),
              flush=True)
        check(after < before - 4 * MiB, "gc: expected the hot tier to shrink by > 4 MiB, saw "
              "%d -> %d" % (before, after))
        check(abs(reported - (before - after)) <= MiB,
              "gc: reported %d bytes reclaimed, the tier shrank by %d" % (reported, before - after))
        for p, c in files.items():
            same_bytes(read_all(p), c, "%s after gc" % p)
        # kill -9 in the middle of a second gc
        files.update(fragment(s.work("e"), 10))
        ctl_p = subprocess.Popen([AIFSCTL_BIN, "gc", "--threshold", "0.6", s.mnt],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(0.6)
        s.kill9()
        ctl_p.wait(30)
        s.mount()
        for p, c in files.items():
            same_bytes(read_all(p), c, "%s after kill -9 during gc" % p)
        s.unmount()
        s.fsck_clean("fsck after kill -9 during gc")
        s.mount()
        ctl("gc", "--threshold", "0.6", s.mnt)
        for p, c in files.items():
            same_bytes(read_all(p), c, "%s after the gc that followed" % p)
        s.unmount()
        s.fsck_clean("fsck after gc")


@test
def offline_gc_reclaims_and_keeps_data():
    skip_native()
    with Store(mkfs=False, mount=False, opts="compress=lz4") as s:
        mkfs(s, "--segment-size", "16")
        s.mount()
        d = s.work("d")
        files = fragment(d, 8)
        s.unmount()
        before = tier_usage(s, "hot")
        out = ctl("gc", s.store)
        after = tier_usage(s, "hot")
        check(out.strip().startswith("gc: reclaimed"), "offline gc output %r" % out)
        check(after < before, "offline gc: expected fewer bytes, saw %d -> %d" % (before, after))
        s.fsck_clean("fsck after offline gc")
        s.mount()
        for p, c in files.items():
            same_bytes(read_all(p), c, "%s after offline gc" % p)


@test
def offline_gc_keeps_what_an_epoch_snapshot_reads():
    """Offline gc of a store with an epoch snapshot: the extents only the snapshot's
    history references (of a file deleted since, one rewritten since and the rewritten
    part of another) are neither moved nor swept, while the garbage of files made since
    is reclaimed."""
    skip_native()
    with Store(mkfs=False, mount=False, opts="compress=lz4") as s:
        mkfs(s, "--segment-size", "16")
        s.mount()
        ds = os.path.join(s.mnt, "datasets", "gc")
        os.mkdir(ds)
        # text that compresses, different in each file
        old = {n: text_bytes(4 * MiB)[i * 4096:] + data(("old", n), i * 4096)
               for i, n in enumerate(("same", "part", "over", "gone"))}
        for n, c in old.items():
            write_file(os.path.join(ds, n), c)
        os.sync()
        snap = os.path.join(ds, ".aifs", "snapshots", "s1")
        os.mkdir(snap)
        new = {"same": old["same"], "part": old["part"][:MiB] + data("part-new", 3 * MiB),
               "over": data("over-new", 4 * MiB)}
        for n, at in (("part", MiB), ("over", 0)):
            with open(os.path.join(ds, n), "r+b") as f:     # in place: the inode stays
                f.seek(at)
                f.write(new[n][at:])
        os.unlink(os.path.join(ds, "gone"))
        live = {os.path.join(ds, n): c for n, c in new.items()}
        live.update(fragment(s.work("d"), 8))       # made after the snapshot: no history
        s.unmount()
        s.fsck_clean("fsck before offline gc")
        before = tier_usage(s, "hot")
        out = ctl("gc", s.store)
        after = tier_usage(s, "hot")
        check(out.strip().startswith("gc: reclaimed "), "offline gc output %r" % out)
        reported = int(out.split()[2])
        print("# figure offline gc with a snapshot: hot tier %d -> %d bytes on disk (%s)" % (
            before, after, out.strip()), flush=True)
        check(after < before - 4 * MiB, "offline gc: expected the hot tier to shrink by > 4 MiB, "
              "saw %d -> %d" % (before, after))
        check(abs(reported - (before - after)) <= MiB, "offline gc: reported %d bytes reclaimed, "
              "the tier shrank by %d" % (reported, before - after))
        s.fsck_clean("fsck after offline gc")
        s.mount()
        eq(sorted(os.listdir(snap)), sorted(old), "the snapshot's names after offline gc")
        for n, c in old.items():
            try:
                seen = read_all(os.path.join(snap, n))
            except OSError as e:
                raise Fail("snapshot file %s after offline gc: expected its %d bytes, read "
                           "failed: %s" % (n, len(c), e))
            same_bytes(seen, c, "snapshot file %s after offline gc" % n)
        for p, c in live.items():
            same_bytes(read_all(p), c, "%s after offline gc" % p)
        os.rmdir(snap)
        for p, c in live.items():
            same_bytes(read_all(p), c, "%s after dropping the snapshot" % p)
        s.unmount()
        s.fsck_clean("fsck after dropping the snapshot that offline gc kept")


def hot_segment_hits(s, needle):
    """(segment file, offset) of every copy of NEEDLE in the store's hot tier."""
    d = os.path.join(s.store, "hot")
    hits = []
    for n in sorted(os.listdir(d)):
        if not n.startswith("seg-"):
            continue
        with open(os.path.join(d, n), "rb") as f:
            b = f.read()
        at = b.find(needle)
        while at >= 0:
            hits.append((os.path.join(d, n), at))
            at = b.find(needle, at + 1)
    return hits


@test
def fsck_reads_back_what_only_an_epoch_snapshot_keeps():
    """fsck reads back, against their checksums, what only an epoch snapshot's history
    references (a file overwritten since, and the overwritten middle of another, whose
    stored extent the live file still reads around it): a clean store's bytes verified
    count those bytes once, and a byte flipped in each is reported as a snapshot's damaged
    data naming the file's live inode, which --repair cannot drop."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "fk")
        os.mkdir(ds)
        old = {n: data(("fsck-snap-old", n), 2 * MiB) for n in ("over", "part")}
        keep = data("fsck-snap-keep", MiB)
        for n, c in old.items():
            write_file(os.path.join(ds, n), c)
        write_file(os.path.join(ds, "keep"), keep)
        os.sync()
        snap = os.path.join(ds, ".aifs", "snapshots", "s1")
        os.mkdir(snap)
        mid, midlen = 3 * MiB // 2, 64 << 10
        new = {"over": data("fsck-snap-new", 2 * MiB),
               "part": old["part"][:mid] + data("fsck-snap-mid", midlen) +
               old["part"][mid + midlen:]}
        for n, at, length in (("over", 0, 2 * MiB), ("part", mid, midlen)):
            with open(os.path.join(ds, n), "r+b") as f:     # in place: the inode stays
                f.seek(at)
                f.write(new[n][at:at + length])
        ino = {n: os.stat(os.path.join(ds, n)).st_ino for n in old}
        epoch = os.stat(os.path.join(snap, "over")).st_ino >> 40 & ((1 << 21) - 1)
        s.unmount()

        rc, out = s.fsck()
        last = out.strip().splitlines()[-1] if out.strip() else ""
        eq(rc, 0, "fsck of an intact store with snapshot history: exit status (%r)" % out[-800:])
        check(last.startswith("fsck: clean: "), "fsck: expected a clean summary, saw %r" % last)
        verified = int(last.split(" bytes verified")[0].split()[-1])
        # live: over's new 2 MiB, part's 2 MiB, keep's 1 MiB; only the snapshot: over's old
        # 2 MiB and part's old middle
        eq(verified, 7 * MiB + midlen,
           "fsck: bytes verified, what only the snapshot reads counted once (%r)" % last)
        check("(and 0 only snapshots read)" not in last,
              "fsck: expected the snapshot's pieces counted, saw %r" % last)

        for n, at in (("over", MiB), ("part", mid)):
            hits = hot_segment_hits(s, old[n][at:at + 4096])
            eq(len(hits), 1, "copies of %s's old bytes at %d in the hot tier (%r)" % (n, at, hits))
            seg, where = hits[0]
            with open(seg, "r+b") as f:             # one byte flipped in what only s1 reads
                f.seek(where + 100)
                b = f.read(1)
                f.seek(where + 100)
                f.write(bytes([b[0] ^ 0xff]))
        rc, out = s.fsck()
        eq(rc, 1, "fsck of a snapshot's damaged bytes: exit status (%r)" % out[-800:])
        for n in old:
            want = "inode %d: a snapshot's data at " % ino[n]
            line = [ln for ln in out.splitlines() if ln.startswith(want)]
            check(len(line) == 1 and "(epoch %d, " % epoch in line[0] and
                  "is damaged" in line[0],
                  "fsck: expected one line %r... with epoch %d, 'is damaged', saw %r"
                  % (want, epoch, out[-1200:]))
        check("fsck: 2 problems found" in out.strip().splitlines()[-1],
              "fsck: expected two problems counted, saw %r" % out[-800:])
        rc, out = s.fsck(repair=True)
        eq(rc, 1, "fsck --repair of a snapshot's damaged bytes: exit status (%r)" % out[-800:])
        check(out.count("a snapshot's files are read-only") == 2 and "2 not repaired" in out,
              "fsck --repair: expected the damage said not repaired, saw %r" % out[-1200:])

        s.mount()
        for n, c in new.items():
            same_bytes(read_all(os.path.join(ds, n)), c, "live file %s over the damaged "
                       "snapshot bytes" % n)
        os.rmdir(snap)                              # lets go of the damaged bytes
        s.unmount()
        s.fsck_clean("fsck after dropping the snapshot with the damaged bytes")


# ------------------------------------------------------------------ space

@test
def space_is_reclaimed_on_the_source_tier():
    skip_native()
    with Store() as s:
        d = s.work("d")
        content = data("space", 64 * MiB)
        write_file(os.path.join(d, "big"), content)
        os.sync()
        # close() returns before a plain file's last buffer is stored (its
        # release stores it, and the last full buffer is stored behind the
        # write that filled it): wait for the daemon, not for sync
        wait_for(lambda: tier_usage(s, "hot") >= 64 * MiB, "hot tier holds the 64 MiB written")
        migrate(d, "cold")
        wait_for(lambda: tier_usage(s, "hot") < MiB, "hot tier emptied after migrating to cold")
        cold1 = tier_usage(s, "cold")
        check(cold1 >= 64 * MiB, "cold tier holds the data: %d" % cold1)
        migrate(d, "hot")
        wait_for(lambda: tier_usage(s, "cold") < MiB, "cold tier emptied after migrating back")
        same_bytes(read_all(os.path.join(d, "big")), content, "content after the round trip")
        sv = os.statvfs(s.mnt)
        check(sv.f_blocks > 0 and sv.f_bavail > 0, "statfs: %s" % (sv,))


@test
def leaked_bytes_are_reported_by_fsck_and_freed_at_mount():
    skip_native()
    with Store() as s:
        write_file(os.path.join(s.mnt, "f"), data("leak", 3 * MiB))
        s.unmount()
        s.fsck_clean("fsck before")
        # what a crash leaves: bytes appended to the active segment that no
        # record refers to
        seg = sorted(glob.glob(os.path.join(s.store, "hot", "seg-*")))[-1]
        with open(seg, "ab") as f:
            f.write(data("junk", 2 * MiB))
        rc, out = s.fsck()
        check(rc == 0 and "note: " in out and "referenced by nothing" in out,
              "fsck: expected the leaked bytes noted (a crash leftover, exit 0), saw exit %d: %s" % (
                  rc, out[-600:]))
        s.mount()
        same_bytes(read_all(os.path.join(s.mnt, "f")), data("leak", 3 * MiB), "file after mount")
        s.unmount()
        s.fsck_clean("fsck after the mount gave the leaked bytes back")


@test
def statfs_adds_a_cold_tier_on_another_device():
    skip_native()
    cold = "/dev/shm/aifs-cold-%d" % os.getpid()
    with Store(mkfs=False, mount=False) as s:
        try:
            mkfs(s, "--cold", cold)
            s.mount()
            hot = os.statvfs(os.path.join(s.store, "hot"))
            shm = os.statvfs("/dev/shm")
            sv = os.statvfs(s.mnt)
            want = hot.f_blocks * hot.f_frsize + shm.f_blocks * shm.f_frsize
            got = sv.f_blocks * sv.f_frsize
            check(abs(got - want) <= 8 * 4096, "statfs total: expected %d (hot + cold devices), "
                  "saw %d" % (want, got))
            write_file(os.path.join(s.mnt, "f"), data("f", 2 * MiB))
            migrate(os.path.join(s.mnt, "f"), "cold")
            check(glob.glob(os.path.join(cold, "seg-*")), "segments in the cold directory")
            s.remount("cold=" + cold)
            same_bytes(read_all(os.path.join(s.mnt, "f")), data("f", 2 * MiB), "from cold=PATH")
        finally:
            s.unmount(check=False)
            subprocess.run(["rm", "-rf", cold])


# ------------------------------------------------------------------ versions, snapshots, policies

def save_versions(path, n, size=2 * MiB):
    out = []
    for i in range(n):
        c = data((path, i), size)
        tmp = path + ".tmp"
        write_file(tmp, c)
        os.rename(tmp, path)
        out.append(c)
    return out


@test
def old_checkpoint_versions_go_cold_and_pin_keeps_hot():
    skip_native()
    with Store(opts="cold_after_versions=1,tier_interval=0.3") as s:
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
        wait_for(cold_old, "versions other than the newest go cold")
        vs = sorted(int(v) for v in os.listdir(vdir))
        eq(xattr(os.path.join(vdir, str(vs[-1])), "user.aifs.tier"), "hot", "newest version")
        eq(xattr(m, "user.aifs.tier"), "hot", "the file itself")
        for v, c in zip(vs[-3:], vm):
            same_bytes(read_all(os.path.join(vdir, str(v))), c, "version %d from cold" % v)
        pv = os.path.join(ck, ".aifs", "versions", "pinned.pt")
        time.sleep(1.0)
        for v in os.listdir(pv):
            eq(xattr(os.path.join(pv, v), "user.aifs.tier"), "hot", "pinned file's version %s" % v)
        eq(xattr(p, "user.aifs.pin"), "hot", "user.aifs.pin")
        raises(errno.EBUSY, os.setxattr, p, "user.aifs.migrate", b"cold",
               what="migrate of a file pinned hot")
        # a single version can be moved by name
        migrate(m + "@v%d" % vs[-1], "cold")
        eq(xattr(os.path.join(vdir, str(vs[-1])), "user.aifs.tier"), "cold", "newest version moved")
        s.unmount()
        s.fsck_clean("fsck after version policies")


@test
def old_snapshots_and_sealed_journal_files_go_cold():
    skip_native()
    with Store(opts="cold_after_days=0.00002,tier_interval=0.3") as s:
        ds = os.path.join(s.mnt, "datasets")
        write_file(os.path.join(ds, "a"), data("a", 3 * MiB))
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "v1"))
        snapf = os.path.join(ds, ".aifs", "snapshots", "v1", "a")
        j = os.path.join(s.mnt, "audit", "log.jsonl")
        with open(j, "ab") as f:
            f.write(text_bytes(2 * MiB))
        wait_for(lambda: xattr(snapf, "user.aifs.tier") == "cold", "snapshot goes cold")
        wait_for(lambda: xattr(j, "user.aifs.tier") == "cold", "sealed journal file goes cold")
        eq(xattr(os.path.join(ds, "a"), "user.aifs.tier"), "hot", "live dataset file stays hot")
        same_bytes(read_all(snapf), data("a", 3 * MiB), "snapshot file from cold")
        same_bytes(read_all(j), text_bytes(2 * MiB), "journal file from cold")
        s.unmount()
        out = ctl("audit", "verify", s.store)
        check("intact" in out, "audit verify of a journal moved cold: %r" % out[-500:])
        s.fsck_clean("fsck after the policies")


@test
def snapshot_opened_within_cold_after_days_stays_hot():
    """cold_after_days counts from a snapshot's last use (a file opened for
    reading), not from its creation."""
    skip_native()
    with Store(opts="cold_after_days=0.00004,tier_interval=0.3") as s:   # 3.5 s
        ds = os.path.join(s.mnt, "datasets")
        write_file(os.path.join(ds, "a"), data("a", 3 * MiB))
        for tag in ("used", "idle"):
            os.mkdir(os.path.join(ds, ".aifs", "snapshots", tag))
        used = os.path.join(ds, ".aifs", "snapshots", "used", "a")
        idle = os.path.join(ds, ".aifs", "snapshots", "idle", "a")
        t0 = time.time()
        while time.time() - t0 < 8:
            with open(used, "rb") as f:
                f.read(1)
            time.sleep(0.3)
        wait_for(lambda: xattr(idle, "user.aifs.tier") == "cold", "unopened snapshot goes cold")
        eq(xattr(used, "user.aifs.tier"), "hot", "tier of a snapshot opened every 0.3 s")
        wait_for(lambda: xattr(used, "user.aifs.tier") == "cold",
                 "snapshot goes cold once it is no longer opened")
        same_bytes(read_all(used), data("a", 3 * MiB), "snapshot file read from cold")


@test
def epoch_snapshots_move_cold_one_at_a_time():
    """A snapshot shares the live files' records until they change: moving one
    snapshot's files cold moves only what that snapshot reads, whether it reads
    the live record (unchanged since) or a kept one (changed since), and leaves
    the live files, the snapshots before and after it and the counts as they were."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "moved")
        os.mkdir(ds)
        snaps = os.path.join(ds, ".aifs", "snapshots")
        write_file(os.path.join(ds, "same"), data("s", 2 * MiB))
        write_file(os.path.join(ds, "changed"), data("c1", 2 * MiB))
        os.mkdir(os.path.join(snaps, "s1"))
        os.mkdir(os.path.join(snaps, "s2"))
        write_file(os.path.join(ds, "changed"), data("c2", 2 * MiB))
        os.mkdir(os.path.join(snaps, "s3"))
        migrate(os.path.join(snaps, "s2"), "cold")
        want = {("s1", "same"): ("hot", "s"), ("s2", "same"): ("cold", "s"),
                ("s3", "same"): ("hot", "s"), ("s1", "changed"): ("hot", "c1"),
                ("s2", "changed"): ("cold", "c1"), ("s3", "changed"): ("hot", "c2")}

        def checks(when):
            for (tag, name), (tier, seed) in sorted(want.items()):
                p = os.path.join(snaps, tag, name)
                eq(xattr(p, "user.aifs.tier"), tier, "tier of %s/%s %s" % (tag, name, when))
                same_bytes(read_all(p), data(seed, 2 * MiB), "%s/%s %s" % (tag, name, when))
            for name, seed in (("same", "s"), ("changed", "c2")):
                p = os.path.join(ds, name)
                eq(xattr(p, "user.aifs.tier"), "hot", "tier of live %s %s" % (name, when))
                same_bytes(read_all(p), data(seed, 2 * MiB), "live %s %s" % (name, when))
        checks("after the move")
        s.unmount()
        s.fsck_clean("fsck after moving one epoch snapshot cold")
        s.mount()
        checks("after a remount")
        for tag in ("s2", "s1", "s3"):
            os.rmdir(os.path.join(snaps, tag))
            for (t, name) in [k for k in want if k[0] == tag]:
                del want[(t, name)]
            checks("after dropping %s" % tag)
        s.unmount()
        s.fsck_clean("fsck after dropping the snapshots")


@test
def tier_status_text_and_json():
    skip_native()
    with Store() as s:
        write_file(os.path.join(s.mnt, "f"), text_bytes(3 * MiB))
        migrate(os.path.join(s.mnt, "f"), "cold")
        js = json.loads(ctl("tier", "status", "--json", s.mnt))
        for t in ("hot", "cold"):
            for k in ("extents", "bytes", "stored_bytes", "ratio", "allocated_bytes", "codecs"):
                check(k in js["tiers"][t], "tier status --json: %s.%s missing" % (t, k))
        eq(js["tiers"]["cold"]["bytes"], 3 * MiB, "cold bytes")
        txt = ctl("tier", "status", s.mnt)
        check(txt.splitlines()[0].split()[:2] == ["TIER", "EXTENTS"], "text header: %r" % txt)
        ctl("tier", "migrate", os.path.join(s.mnt, "f"), "--to", "lukewarm", rc=2)
        ctl("tier", "bogus", rc=2)
        ctl("tier", "status", "/tmp", rc=1)


# ------------------------------------------------------------------ figures

@test
def figures_migration_and_read_throughput():
    skip_native()
    with Store(opts="migrate_bw=0") as s:
        d = s.work("d")
        size = 256 * MiB
        p = os.path.join(d, "w.pt")
        torch_save(p, "float32", size // 4)
        size = os.path.getsize(p)

        def read_rate():
            drop_caches()
            t = time.time()
            with open(p, "rb") as f:
                while f.read(4 * MiB):
                    pass
            return size / (time.time() - t) / 1e6
        hot = read_rate()
        t = time.time()
        migrate(d, "cold")
        mig = size / (time.time() - t) / 1e6
        cold = read_rate()
        t = time.time()
        migrate(d, "hot")
        back = size / (time.time() - t) / 1e6
        print("# figure %d MiB torch.save fp32: migration hot->cold %.0f MB/s, cold->hot %.0f "
              "MB/s; cold-cache read from hot %.0f MB/s, from cold %.0f MB/s" % (
                  size >> 20, mig, back, hot, cold), flush=True)


if __name__ == "__main__":
    main()
