#!/usr/bin/python3
"""Journal (audit) areas, issue 5 items 5 and 6: every way of tampering with a stopped store is
caught by `aifsctl audit verify`, every time; a PyTorch inference loop in two processes appends
whole JSON lines to one O_APPEND journal file, and the log accounts for every byte."""

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Store, check, data, eq, main, read_all,  # noqa: E402
                     run, skip_native, test)

KiB = 1 << 10
APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND
TAMPER_BIN = os.path.join(os.path.dirname(os.path.abspath(AIFSCTL_BIN)), "aifs-tamper")
REPEAT = 3


# ------------------------------------------------------------------ helpers

def sha(b):
    return hashlib.sha256(b).hexdigest()


def ctl(*args, timeout=300):
    return run([AIFSCTL_BIN] + [str(a) for a in args], timeout=timeout)


def ctl_ok(what, *args):
    rc, out = ctl(*args)
    if rc != 0:
        raise Fail("%s: aifsctl %s: expected exit 0, saw %d: %s" % (
            what, " ".join(str(a) for a in args), rc, out.strip()[-1500:]))
    return out


def tamper(store, *args):
    """Run aifs-tamper STORE ARGS...; it must succeed (the tampering itself is not under test)."""
    check(os.access(TAMPER_BIN, os.X_OK), "expected the test helper %s (built with Check), saw none" % TAMPER_BIN)
    rc, out = run([TAMPER_BIN, store] + [str(a) for a in args], timeout=120)
    if rc != 0:
        raise Fail("aifs-tamper %s: expected exit 0, saw %d: %s" % (" ".join(str(a) for a in args), rc, out.strip()))
    return out


def append(path, chunks, flags=APPEND, mode=0o644):
    """Create/open path for appending, write each chunk with its own write(), close,
    and wait for the seal: it comes with the release that follows close(), and an
    open for writing waits for that (a sealed file refuses it)."""
    fd = os.open(path, flags, mode)
    try:
        for c in chunks:
            eq(os.write(fd, c), len(c), "write of %d bytes to %s" % (len(c), path))
    finally:
        os.close(fd)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError:
        pass


def verify_intact(store, what, pubkey=None):
    """aifsctl audit verify STORE [--pubkey]: exit 0 and the 'intact' line; returns (records, checkpoints, bytes)."""
    args = ["audit", "verify", store] + (["--pubkey", pubkey] if pubkey else [])
    rc, out = ctl(*args)
    if rc != 0:
        raise Fail("%s: aifsctl %s: expected exit 0, saw %d: %s" % (what, " ".join(args), rc, out.strip()[-1500:]))
    m = re.search(r"^audit: intact: ([0-9]+) records, ([0-9]+) signed checkpoints, ([0-9]+) bytes re-read",
                  out, re.M)
    check(m, "%s: aifsctl %s: expected a line 'audit: intact: N records, M signed checkpoints, B bytes "
          "re-read', saw %r" % (what, " ".join(args), out.strip()[-1500:]))
    return tuple(int(x) for x in m.groups())


def verify_catches(store, what, pubkey=None, names=None):
    """aifsctl audit verify must exit 1, say no 'intact', and name the problem (a line besides the summary).

    names: a regular expression one of the problem lines must match (what verify must point at).
    Returns the problem lines."""
    args = ["audit", "verify", store] + (["--pubkey", pubkey] if pubkey else [])
    rc, out = ctl(*args)
    if rc != 1:
        raise Fail("%s: aifsctl %s: expected exit 1, saw %d: %s" % (what, " ".join(args), rc, out.strip()[-1500:]))
    check("intact" not in out, "%s: verify output: expected no 'intact', saw %r" % (what, out.strip()[-1500:]))
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    check(any(re.match(r"^audit: [0-9]+ problems?", ln) for ln in lines),
          "%s: verify output: expected a summary 'audit: N problem(s)...', saw %r" % (what, out.strip()[-1500:]))
    probs = [ln for ln in lines if not ln.startswith("audit: ") and not ln.startswith("note: ")]
    check(probs, "%s: verify output: expected a line naming the problem besides the summary, saw %r" % (
        what, out.strip()[-1500:]))
    if names is not None:
        check(any(re.search(names, ln) for ln in probs),
              "%s: verify output: expected a problem line matching %r, saw %r" % (what, names, probs))
    return probs


def export_records(store, d):
    """aifsctl audit export STORE D; return the records of D/records.jsonl (dicts, in file order)."""
    try:
        ctl_ok("export", "audit", "export", store, d)
    except subprocess.TimeoutExpired:
        raise Fail("aifsctl audit export %s %s: expected to finish within 300 s, saw it still running "
                   "(%s records in the store)" % (store, d, _count_hint(store)))
    raw = read_all(os.path.join(d, "records.jsonl"))
    check(raw == b"" or raw.endswith(b"\n"), "records.jsonl: expected to end with a newline, saw %r" % raw[-40:])
    recs = []
    for i, ln in enumerate(raw.split(b"\n")[:-1]):
        try:
            recs.append(json.loads(ln))
        except ValueError as e:
            raise Fail("records.jsonl line %d: expected JSON, saw %r (%s)" % (i, ln[:200], e))
    return recs


def _count_hint(store):
    rc, out = ctl("audit", "verify", store)
    m = re.search(r"([0-9]+) records", out)
    return m.group(1) if m else "?"


def checkpoint_sizes(d):
    return sorted(int(n[:-5]) for n in os.listdir(os.path.join(d, "checkpoints")) if n.endswith(".note"))


def fresh_copy(src, dst):
    """A fresh copy (cp -a) of the unmounted store directory src at dst."""
    shutil.rmtree(dst, ignore_errors=True)
    rc, out = run(["cp", "-a", src, dst], timeout=300)
    if rc != 0:
        raise Fail("cp -a %s %s: expected exit 0, saw %d: %s" % (src, dst, rc, out.strip()))
    return dst


def segments(store):
    hot = os.path.join(store, "hot")
    return sorted(os.path.join(hot, n) for n in os.listdir(hot) if n.startswith("seg-"))


def find_once(paths, needle):
    """(path, offset) of the only occurrence of needle in the files, or (None, -1)."""
    for p in paths:
        b = read_all(p)
        i = b.find(needle)
        if i >= 0:
            check(b.find(needle, i + 1) < 0, "needle found twice in %s" % p)
            return p, i
    return None, -1


def flip(path, off):
    with open(path, "r+b") as fh:
        fh.seek(off)
        b = fh.read(1)
        fh.seek(off)
        fh.write(bytes([b[0] ^ 0x01]))


def check_tiling(recs, path, content, what):
    """The write records of path cover content exactly, in seq order (several records may make up one
    write(): the kernel splits a write crossing a page boundary), each with the sha256 of its bytes;
    the seal covers the whole file.  Returns the write records."""
    mine = [r for r in recs if r.get("path") == path]
    check(mine, "%s: expected records of %s, saw none" % (what, path))
    eq([r["seq"] for r in mine], sorted(r["seq"] for r in mine), "%s: seq order of the records" % what)
    eq([r["op"] for r in mine[:1]], ["create"], "%s: first op" % what)
    eq([r["op"] for r in mine[-1:]], ["seal"], "%s: last op" % what)
    writes = mine[1:-1]
    off = 0
    for r in writes:
        eq(r["op"], "write", "%s: op of record %d" % (what, r["seq"]))
        eq(r["offset"], off, "%s: offset of record %d (records must tile the file)" % (what, r["seq"]))
        check(r["length"] > 0, "%s: record %d: expected a positive length, saw %d" % (what, r["seq"], r["length"]))
        check(off + r["length"] <= len(content), "%s: record %d covers [%d, %d), past the file's %d bytes" % (
            what, r["seq"], off, off + r["length"], len(content)))
        eq(r["sha256"], sha(content[off:off + r["length"]]),
           "%s: sha256 of record %d against file bytes [%d, %d)" % (what, r["seq"], off, off + r["length"]))
        off += r["length"]
    eq(off, len(content), "%s: bytes covered by the write records" % what)
    eq((mine[-1]["length"], mine[-1]["sha256"]), (len(content), sha(content)), "%s: seal record (length, sha256)" % what)
    return writes


# ------------------------------------------------------------------ tamper tests

def _tamper_workload(s):
    """A few journal files, one of them large (its data in a segment file); returns the large file's content."""
    a = os.path.join(s.mnt, "audit")
    os.mkdir(os.path.join(a, "svc"))
    for i in range(3):
        append(os.path.join(a, "svc", "req-%d.jsonl" % i),
               [b'{"req": %d, "part": %d, "note": "%s"}\n' % (i, k, b"x" * (10 * k)) for k in range(i + 2)])
    # reading the head signs what is there: several checkpoints, however late the signer runs
    read_all(os.path.join(s.mnt, ".aifs", "audit", "checkpoint"))
    big = data("tamper-big", 256 * KiB + 123)
    append(os.path.join(a, "big.bin"), [big[i:i + 64 * KiB] for i in range(0, len(big), 64 * KiB)])
    append(os.path.join(a, "last.log"), [b"last line\n"])
    return big


@test
def tamper_each_way_is_caught_every_time():
    skip_native()
    with Store(opts="audit_checkpoint_records=5,audit_checkpoint_secs=3600") as s:
        big = _tamper_workload(s)
        s.unmount()
        nrec, ncp, _ = verify_intact(s.store, "untouched store")
        recs = export_records(s.store, os.path.join(s.base, "export"))
        eq(len(recs), nrec, "exported records against verify's count")
        eq([r["seq"] for r in recs], list(range(nrec)), "seq of the exported records")
        sizes = checkpoint_sizes(os.path.join(s.base, "export"))
        eq(len(sizes), ncp, "exported checkpoints against verify's count")
        check(len(sizes) >= 2 and sizes[-1] == nrec,
              "checkpoint sizes: expected several, the newest %d, saw %s" % (nrec, sizes))
        bigw = [r for r in recs if r["path"] == "/audit/big.bin" and r["op"] == "write"]
        eq([(r["offset"], r["length"]) for r in bigw],
           [(o, min(64 * KiB, len(big) - o)) for o in range(0, len(big), 64 * KiB)], "records of big.bin")
        orig_pub = os.path.join(s.base, "original.pub")
        shutil.copy(os.path.join(s.store, "audit.pub"), orig_pub)
        copy = os.path.join(s.base, "copy")
        n = nrec
        shown = {}

        def caught(kind, rep, what, **kw):
            probs = verify_catches(copy, "%s (%d of %d): %s" % (kind, rep + 1, REPEAT, what), **kw)
            shown.setdefault(kind, "%s -> %s" % (what, probs[0]))

        # 1. one byte of journal data in a segment file
        for rep, foff in enumerate((70 * KiB + 5, 150 * KiB + 77, len(big) - 1)):
            needle = big[foff - 32:foff + 32] if foff + 32 <= len(big) else big[-64:]
            seg, off = find_once(segments(s.store), needle)
            check(seg is not None, "expected big.bin's bytes stored raw in a segment file, saw them in none of %s" %
                  segments(s.store))
            at = off + (foff - (len(big) - 64) if foff + 32 > len(big) else 32)
            fresh_copy(s.store, copy)
            flip(os.path.join(copy, "hot", os.path.basename(seg)), at)
            w = next(r for r in bigw if r["offset"] <= foff < r["offset"] + r["length"])
            caught("data byte", rep, "byte %d of big.bin flipped in %s" % (foff, os.path.basename(seg)),
                   names=r"^record %d\b" % w["seq"])
        # 2. delete one record
        for rep, seq in enumerate((1, n // 2, n - 1)):
            fresh_copy(s.store, copy)
            tamper(copy, "delete-record", seq)
            caught("delete record", rep, "record %d deleted" % seq)
        # 3. alter one record (a digit of its length)
        for rep, seq in enumerate((bigw[1]["seq"], 0, n - 1)):
            fresh_copy(s.store, copy)
            tamper(copy, "alter-record", seq)
            caught("alter record", rep, "record %d (%s) altered" % (seq, recs[seq]["op"]))
        # 4. swap two records
        for rep, (x, y) in enumerate(((0, 1), (n // 2, n // 2 + 3), (n - 2, n - 1))):
            fresh_copy(s.store, copy)
            tamper(copy, "swap-records", x, y)
            caught("swap records", rep, "records %d and %d swapped" % (x, y))
        # 5. truncate the log
        for rep, m in enumerate((n - 1, n // 2, 1)):
            fresh_copy(s.store, copy)
            tamper(copy, "truncate-log", m)
            caught("truncate log", rep, "records %d.. deleted" % m)
        # 6. replace the key: verify with STORE/audit.pub fails; with the original public key it passes
        for rep in range(REPEAT):
            other = os.path.join(s.base, "other-%d" % rep)
            ctl_ok("mkfs of another store", "mkfs", other)
            fresh_copy(s.store, copy)
            vkey = read_all(os.path.join(other, "audit.pub")).decode().strip().splitlines()[0]
            check(vkey and vkey != read_all(orig_pub).decode().strip(),
                  "another store's key: expected a different verifier key, saw %r" % vkey)
            with open(os.path.join(copy, "audit.pub"), "w") as fh:
                fh.write(vkey + "\n")
            caught("replace key", rep, "STORE/audit.pub replaced by another store's key",
                   names=r"checkpoint|signature|key")
            got = verify_intact(copy, "replace key (%d of %d): verify --pubkey ORIGINAL" % (rep + 1, REPEAT),
                                pubkey=orig_pub)
            eq(got[:2], (nrec, ncp), "verify --pubkey ORIGINAL after replacing STORE/audit.pub: records, checkpoints")
            shutil.rmtree(other, ignore_errors=True)
        # the original is still intact (nothing above touched it)
        verify_intact(s.store, "the original store after the tampered copies")
        for kind, text in shown.items():
            print("# %s: %s" % (kind, text), flush=True)


@test
def tamper_of_a_long_log_is_caught_as_of_a_short_one():
    """verify reads a long log in parts (one per core) and each journal file in one pass:
    a record missing at the seam of two parts, one altered, the log cut, a flipped byte
    shared by several small records -- each is named as a walk of the records would."""
    skip_native()
    with Store(opts="audit_checkpoint_records=700,audit_checkpoint_secs=3600") as s:
        a = os.path.join(s.mnt, "audit")
        small = [b"%05d %s\n" % (i, b"y" * (i % 90)) for i in range(3000)]
        append(os.path.join(a, "small.log"), small)
        big = data("long-log", 3000 * 700)
        append(os.path.join(a, "rows.log"), [big[i:i + 700] for i in range(0, len(big), 700)])
        s.unmount()
        n, ncp, nbytes = verify_intact(s.store, "the long log")
        check(n > 6000 and ncp >= 2, "records and checkpoints of the long log: %d, %d" % (n, ncp))
        eq(nbytes, 2 * (len(b"".join(small)) + len(big)), "bytes re-read (every write and the seals)")
        copy = os.path.join(s.base, "copy")
        for seq in (n // 2 - 1, n // 2, n // 2 + 1):      # the seam of two parts on 2 cores
            fresh_copy(s.store, copy)
            tamper(copy, "delete-record", seq)
            verify_catches(copy, "record %d of %d deleted" % (seq, n),
                           names=r"^record %d is missing \(found record %d instead\)$" % (seq, seq + 1))
        fresh_copy(s.store, copy)
        tamper(copy, "alter-record", n // 2 + 7)
        verify_catches(copy, "record %d altered" % (n // 2 + 7), names=r"root hash does not match")
        fresh_copy(s.store, copy)
        tamper(copy, "truncate-log", n // 2)
        verify_catches(copy, "log cut at %d" % (n // 2), names=r"records were removed|claims")
        # a byte of small.log inside a stored block that several records share: each record
        # holding that block is named (as reading each record alone named them), and the seal
        recs = export_records(s.store, os.path.join(s.base, "export"))
        w = [r for r in recs if r["path"] == "/audit/small.log" and r["op"] == "write"]
        content = b"".join(small)
        target = w[len(w) // 2]
        needle = content[target["offset"]:target["offset"] + 12]
        seg, off = find_once(segments(s.store), content[target["offset"] - 20:target["offset"] + 12])
        check(seg is not None, "expected small.log's bytes stored raw in a segment file")
        fresh_copy(s.store, copy)
        flip(os.path.join(copy, "hot", os.path.basename(seg)), off + 20 + len(needle) // 2)
        probs = verify_catches(copy, "a byte of record %d flipped" % target["seq"],
                               names=r"^record %d: /audit/small.log" % target["seq"])
        named = sorted(int(m.group(1)) for m in (re.match(r"^record ([0-9]+): ", p) for p in probs) if m)
        seal = [r["seq"] for r in recs if r["path"] == "/audit/small.log" and r["op"] == "seal"]
        check(target["seq"] in named and seal[0] in named,
              "records named after the flip: expected %d and the seal %d among %s" % (
                  target["seq"], seal[0], named))
        # and only those: the write records named lie within one stored block (4 KiB of the file)
        spans = [(r["offset"], r["offset"] + r["length"]) for r in w if r["seq"] in named]
        check(max(e for _, e in spans) - min(b for b, _ in spans) <= 4096 + 2 * 100,
              "write records named after one flipped byte span %d bytes: %s" % (
                  max(e for _, e in spans) - min(b for b, _ in spans), named[:20]))


# ------------------------------------------------------------------ inference workload

MODEL_SEED = 1234


def _infer(conn, start, fpath, model_path, writer, secs):
    """Child: a small PyTorch model as an inference service; one O_APPEND write of one JSON line per request.

    Sends ("ok", pid, lines written, loop start, loop end) or ("error", text) through conn."""
    try:
        import torch
        torch.set_num_threads(1)
        model = torch.nn.Linear(16, 4)
        model.load_state_dict(torch.load(model_path))
        model.eval()
        gen = torch.Generator().manual_seed(writer)
        fd = os.open(fpath, APPEND, 0o644)
        lines = []
        try:
            start.wait(60)
            t_start = time.monotonic()
            t_end = t_start + secs
            i = 0
            while time.monotonic() < t_end:
                x = torch.randn(1, 16, generator=gen)
                t0 = time.perf_counter()
                with torch.no_grad():
                    y = model(x)
                lat = time.perf_counter() - t0
                line = (json.dumps({"writer": writer, "req": i,
                                    "input_sha256": hashlib.sha256(x.numpy().tobytes()).hexdigest(),
                                    "output": [round(v, 6) for v in y[0].tolist()],
                                    "latency_us": round(lat * 1e6, 1),
                                    "model": model_path}, separators=(",", ":")) + "\n").encode()
                if len(line) >= 4096:
                    raise AssertionError("line of %d bytes, expected < 4 KiB" % len(line))
                n = os.write(fd, line)
                if n != len(line):
                    raise AssertionError("write of %d bytes returned %d" % (len(line), n))
                lines.append(line)
                i += 1
            t_done = time.monotonic()
        finally:
            os.close(fd)
        conn.send(("ok", os.getpid(), lines, t_start, t_done))
    except BaseException as e:
        conn.send(("error", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())))
    finally:
        conn.close()


def _append_1k(conn, start, fpath, secs):
    """Child: append 1 KiB records with O_APPEND for secs seconds; sends ("ok", pid, count, loop start, end)."""
    try:
        rec = (b"%d-" % os.getpid()).ljust(1023, b"r") + b"\n"
        fd = os.open(fpath, APPEND, 0o644)
        n = 0
        try:
            start.wait(60)
            t_start = time.monotonic()
            t_end = t_start + secs
            while time.monotonic() < t_end:
                for _ in range(50):
                    if os.write(fd, rec) != len(rec):
                        raise AssertionError("short write")
                n += 50
            t_done = time.monotonic()
        finally:
            os.close(fd)
        conn.send(("ok", os.getpid(), n, t_start, t_done))
    except BaseException as e:
        conn.send(("error", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())))
    finally:
        conn.close()


def _run_children(ctx, target, argss, what):
    """Start one child per args tuple, release them together, collect (pid, result, ...) of each; returns
    (results, seconds from the first child's loop start to the last one's loop end: CLOCK_MONOTONIC is
    the same in every process)."""
    start = ctx.Event()
    procs, conns = [], []
    for args in argss:
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=target, args=(w, start) + tuple(args))
        p.start()
        w.close()
        procs.append(p)
        conns.append(r)
    time.sleep(0.5)
    start.set()
    results = []
    try:
        for r in conns:
            if not r.poll(300):
                raise Fail("%s: expected a result from a child within 300 s, saw none" % what)
            res = r.recv()
            if res[0] != "ok":
                raise Fail("%s: child failed: %s" % (what, res[1]))
            results.append(res[1:])
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
                p.join()
    for p in procs:
        eq(p.exitcode, 0, "%s: exit status of child %d" % (what, p.pid))
    return results, max(r[-1] for r in results) - min(r[-2] for r in results)


def _per_writer_order(lines, logged, what):
    """Each line of the file is a whole logged line; each writer's lines appear in the order it wrote them."""
    pos = {}
    for w, ls in logged.items():
        for k, ln in enumerate(ls):
            pos[ln] = (w, k)
    nxt = {w: 0 for w in logged}
    for i, ln in enumerate(lines):
        try:
            obj = json.loads(ln)
        except ValueError as e:
            raise Fail("%s: line %d: expected JSON, saw %r (%s)" % (what, i, ln[:300], e))
        check(isinstance(obj, dict) and "writer" in obj, "%s: line %d: expected an object with 'writer', saw %r" % (
            what, i, ln[:300]))
        check(ln in pos, "%s: line %d: expected one of the lines written (whole), saw a torn or interleaved "
              "line %r" % (what, i, ln[:300]))
        w, k = pos[ln]
        eq(k, nxt[w], "%s: line %d: index among writer %s's lines (each writer's order)" % (what, i, w))
        nxt[w] += 1
    for w, ls in logged.items():
        eq(nxt[w], len(ls), "%s: lines of writer %s in the file" % (what, w))


@test
def inference_two_writers_append_whole_lines():
    skip_native()
    ctx = multiprocessing.get_context("fork")           # the parent never imports torch
    with Store() as s:
        # the model, versioned by path, in a plain area of the mount
        mdir = os.path.join(s.mnt, "models", "linear-16x4")
        os.makedirs(mdir)
        model_path = os.path.join(mdir, "v1.pt")
        code = ("import torch; torch.manual_seed(%d); "
                "torch.save(torch.nn.Linear(16, 4).state_dict(), %r)" % (MODEL_SEED, model_path))
        rc, out = run(["/usr/bin/python3", "-c", code], timeout=120)
        eq(rc, 0, "saving the model with torch (output %r)" % out.strip()[-800:])
        f = os.path.join(s.mnt, "audit", "requests.jsonl")
        res, dt = _run_children(ctx, _infer, [(f, model_path, w, 3.0) for w in (0, 1)], "inference writers")
        logged = {w: r[1] for w, r in enumerate(res)}
        pids = {w: r[0] for w, r in enumerate(res)}
        nlines = sum(len(v) for v in logged.values())
        check(all(len(v) > 10 for v in logged.values()),
              "expected each writer to log more than 10 requests in 3 s, saw %s" % {w: len(v) for w, v in logged.items()})
        content = read_all(f)
        eq(len(content), sum(len(ln) for v in logged.values() for ln in v),
           "size of requests.jsonl against the bytes the two writers wrote")
        check(content.endswith(b"\n"), "requests.jsonl: expected to end with a newline, saw %r" % content[-40:])
        lines = [ln + b"\n" for ln in content.split(b"\n")[:-1]]
        eq(len(lines), nlines, "lines in requests.jsonl")
        _per_writer_order(lines, logged, "requests.jsonl")
        linew = [json.loads(ln)["writer"] for ln in lines]

        s.unmount()
        t0 = time.monotonic()
        recs = export_records(s.store, os.path.join(s.base, "export"))
        t_export = time.monotonic() - t0
        eq([r["seq"] for r in recs], list(range(len(recs))), "seq of the exported records")
        writes = check_tiling(recs, "/audit/requests.jsonl", content, "records of requests.jsonl")
        # each record's bytes lie within one line, written by that line's process
        starts = []
        o = 0
        for ln in lines:
            starts.append(o)
            o += len(ln)
        li = 0
        for r in writes:
            while li + 1 < len(starts) and starts[li + 1] <= r["offset"]:
                li += 1
            end = starts[li] + len(lines[li])
            check(r["offset"] + r["length"] <= end,
                  "record %d covers [%d, %d), across the end of line %d at %d: expected each write record "
                  "inside one line (one write() per line)" % (r["seq"], r["offset"], r["offset"] + r["length"],
                                                               li, end))
            eq(r["pid"], pids[linew[li]], "pid of record %d (line %d, writer %d)" % (r["seq"], li, linew[li]))
        t0 = time.monotonic()
        nrec, _, _ = verify_intact(s.store, "after the inference run")
        t_verify = time.monotonic() - t0
        eq(nrec, len(recs), "records verified against records exported")
        print("# inference_two_writers_append_whole_lines: 2 writers, %d requests (JSON lines of %d..%d bytes) in "
              "%.2fs: %.0f requests/s; %d journal write records: %.0f records/s" % (
                  nlines, min(len(ln) for ln in lines), max(len(ln) for ln in lines), dt, nlines / dt,
                  len(writes), len(writes) / dt), flush=True)
        print("# inference_two_writers_append_whole_lines: export of %d records %.1fs, verify %.1fs" % (
            len(recs), t_export, t_verify), flush=True)

    # records/s of 1 KiB O_APPEND writes, one writer then two, on a store of their own (not exported)
    with Store() as r:
        k1 = os.path.join(r.mnt, "audit", "rate-1.log")
        (one,), dt1 = _run_children(ctx, _append_1k, [(k1, 2.0)], "one 1 KiB writer")
        k2 = os.path.join(r.mnt, "audit", "rate-2.log")
        two, dt2 = _run_children(ctx, _append_1k, [(k2, 2.0), (k2, 2.0)], "two 1 KiB writers")
        c1 = read_all(k1)
        eq(len(c1), one[1] * KiB, "size of rate-1.log")
        check(c1 == ((b"%d-" % one[0]).ljust(1023, b"r") + b"\n") * one[1],
              "rate-1.log: expected the %d appended 1 KiB records, saw other bytes" % one[1])
        c2 = read_all(k2)
        n2 = sum(t[1] for t in two)
        eq(len(c2), n2 * KiB, "size of rate-2.log")
        for pid, n, _, _ in two:
            rec = (b"%d-" % pid).ljust(1023, b"r") + b"\n"
            eq(sum(1 for i in range(0, len(c2), KiB) if c2[i:i + KiB] == rec), n,
               "whole 1 KiB records of writer %d in rate-2.log" % pid)
        r.unmount()
        nrec, _, nbytes = verify_intact(r.store, "after the 1 KiB O_APPEND runs")
        eq(nrec, 2 * 2 + one[1] + n2, "records after the 1 KiB runs (2 files: create and seal each, one record "
           "per 1 KiB write, which never crosses a page boundary)")
        print("# inference_two_writers_append_whole_lines: 1 KiB O_APPEND records, one writer: %d in %.2fs: "
              "%.0f records/s, %.2f MiB/s" % (one[1], dt1, one[1] / dt1, one[1] * KiB / dt1 / (1 << 20)), flush=True)
        print("# inference_two_writers_append_whole_lines: 1 KiB O_APPEND records, two writers: %d in %.2fs: "
              "%.0f records/s, %.2f MiB/s" % (n2, dt2, n2 / dt2, n2 * KiB / dt2 / (1 << 20)), flush=True)


# ------------------------------------------------------------------ names in records

SHORT_RETENTION = "audit_retention=0.00002"     # days: 1.728 s
# Names as the records hold them (JSON strings of the names' bytes): text that looks like the
# record's own keys, a backslash and a control byte (escaped), and bytes that are not UTF-8 (as
# they are), among them the UTF-8 of U+10FF80, the code point verify carries such bytes as.
ODD_NAMES = [b'q"op":"write","retention":0,"lock":"compliance","age":9.log',
             b'back\\slash\x01.log',
             b'raw\xff\xfe-\xf4\x8f\xbe\x80-\xc3.log']


def _utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _out_bytes(argv, timeout=300):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout


@test
def record_names_with_key_text_and_bytes_not_utf8_verify_prove_delete():
    """Journal files whose names hold a record's key text, escaped bytes or bytes that are not UTF-8:
    audit proof lists each one's records, prove bundles a line of each, verify says the store is
    intact and names each file deleted after its retention exactly."""
    skip_native()
    with Store(opts=SHORT_RETENTION) as s:
        d = os.path.join(os.fsencode(s.mnt), b"audit", b"n")
        os.mkdir(d)
        paths = [os.path.join(d, n) for n in ODD_NAMES]
        for p in paths:
            append(p, [b"line one\n", b"line two\n"])
        t = time.monotonic()
        s.remount()                                # the unmount signs every record so far
        for n, p in zip(ODD_NAMES, paths):
            rc, out = _out_bytes([AIFSCTL_BIN, "audit", "proof", p])
            eq(rc, 0, "aifsctl audit proof %r: exit status (output %r)" % (n, out[-1500:]))
            proofs = [json.loads(ln) for ln in out.splitlines()]
            eq(len(proofs), 4, "audit proof %r: inclusion proofs (create, two writes, seal; output %r)" % (n, out))
            if not _utf8(n):
                continue                           # a bundle names its file in a JSON string
            bundle = os.path.join(os.fsencode(s.base), b"b-%d.json" % ODD_NAMES.index(n))
            rc, out = _out_bytes([AIFSCTL_BIN, "audit", "prove", p, "--line", "2", "-o", bundle])
            eq(rc, 0, "aifsctl audit prove %r --line 2: exit status (output %r)" % (n, out[-1500:]))
            rc, out = _out_bytes([AIFSCTL_BIN, "audit", "verify", "--bundle", bundle, "--json"])
            eq(rc, 0, "aifsctl audit verify --bundle of %r: exit status (output %r)" % (n, out[-1500:]))
            v = json.loads(out.decode("utf-8", "surrogateescape"))
            eq((v["valid"], v["records"], v["text"], os.fsencode(v["path"])),
               (True, 1, "line two\n", b"/audit/n/" + n), "verify --bundle --json of %r" % n)
        time.sleep(max(0, t + 3.0 - time.monotonic()))     # retention (1.7 s) is over
        for p in paths[::2]:
            os.unlink(p)
        s.unmount()
        rc, out = _out_bytes([AIFSCTL_BIN, "audit", "verify", s.store])
        eq(rc, 0, "aifsctl audit verify: exit status (output %r)" % out[-2000:])
        check(re.search(rb"^audit: intact: [0-9]+ records", out, re.M), "verify: expected 'intact', saw %r" % out)
        for n in ODD_NAMES[::2]:
            check(re.search(rb"^deleted after its retention: /audit/n/" + re.escape(n) +
                            rb" \(inode [0-9]+\) by uid 0 \(record [0-9]+; ", out, re.M),
                  "verify: expected %r named exactly as deleted after its retention, saw %r" % (n, out))
        check(b"against retention" not in out, "verify: expected no deletion against retention, saw %r" % out)
        # the records hold the names' bytes: each file's create, two writes and seal (and delete)
        ex = os.path.join(s.base, "export")
        ctl_ok("export", "audit", "export", s.store, ex)
        recs = [json.loads(ln.decode("utf-8", "surrogateescape"))
                for ln in read_all(os.path.join(ex, "records.jsonl")).splitlines()]
        for i, n in enumerate(ODD_NAMES):
            mine = [r for r in recs if os.fsencode(r["path"]) == b"/audit/n/" + n]
            eq([r["op"] for r in mine], ["create", "write", "write", "seal"] + (["delete"] if i % 2 == 0 else []),
               "records naming %r" % n)
            eq(len({r["inode"] for r in mine}), 1, "inodes in the records naming %r" % n)


if __name__ == "__main__":
    main()
