#!/usr/bin/python3
"""Operators and auditors (issue 22): install and mount with any prefix, uninstall,
systemd unit and completions, reports (sealed and retention attributes, lsaifs,
tier status, metrics, JSON), proofs of one record, and the manual pages."""

import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFS_BIN, AIFSCTL_BIN, TOP, Fail, Store, check, eq,  # noqa: E402
                     force_unmount, main, mounted, read_all, run, skip_native, test, write_file)

LSAIFS_BIN = os.path.join(os.path.dirname(AIFS_BIN), "lsaifs")


def call(argv, cwd=None, input=None):
    """Run a command; return (rc, stdout, stderr) as text."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                       input=input, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------------ install and mount

# Runs in a private mount namespace whose /usr/sbin is an overlay on a tmpfs, so
# that the helper `make install` puts into /sbin never reaches the host.  It
# installs with PREFIX, mounts with mount -t and with an fstab line, and
# uninstalls; every step prints a line so that a failure says where.
INSTALL_SCRIPT = r"""
set -eu
mount --make-rprivate /
mount -t tmpfs tmpfs "$OVL"
mkdir "$OVL/up" "$OVL/work"
mount -t overlay overlay -o "lowerdir=/usr/sbin,upperdir=$OVL/up,workdir=$OVL/work" /usr/sbin
echo "step: make install PREFIX=$PREFIX"
make -s -C "$TOP" install BUILD="$B" PREFIX="$PREFIX" >"$OVL/install.log" 2>&1 || { tail -20 "$OVL/install.log"; exit 1; }
for f in /sbin/mount.fuse.aifs "$PREFIX/sbin/aifs" "$PREFIX/bin/aifsctl" "$PREFIX/bin/lsaifs" \
         "$PREFIX/lib/systemd/system/aifs@.service" \
         "$PREFIX/share/bash-completion/completions/aifsctl" \
         "$PREFIX/share/bash-completion/completions/lsaifs" \
         "$PREFIX/share/man/man8/aifsctl.8"; do
	[ -e "$f" ] || { echo "not installed: $f"; exit 1; }
done
[ ! -e /usr/local/sbin/aifs ] || mount --bind /dev/null /usr/local/sbin/aifs
"$PREFIX/bin/aifsctl" mkfs "$STORE" >/dev/null
echo "step: mount -t fuse.aifs"
env -i PATH=/usr/bin:/bin mount -t fuse.aifs "$STORE" "$MNT" -o allow_other
[ "$(findmnt -n -o FSTYPE "$MNT")" = fuse.aifs ] || { echo "type: $(findmnt -n -o FSTYPE "$MNT")"; exit 1; }
printf 'via mount -t' > "$MNT/f"
echo "step: umount"
umount "$MNT"
for i in $(seq 100); do "$PREFIX/bin/aifsctl" fsck "$STORE" >/dev/null 2>&1 && break; sleep 0.2; done
echo "step: fstab"
printf '%s %s fuse.aifs allow_other,noauto 0 0\n' "$STORE" "$MNT" > "$OVL/fstab"
env -i PATH=/usr/bin:/bin mount -T "$OVL/fstab" "$MNT"
[ "$(cat "$MNT/f")" = "via mount -t" ] || { echo "content: $(cat "$MNT/f")"; exit 1; }
umount "$MNT"
for i in $(seq 100); do "$PREFIX/bin/aifsctl" fsck "$STORE" >/dev/null 2>&1 && break; sleep 0.2; done
echo "step: systemd unit"
unit="$PREFIX/lib/systemd/system/aifs@.service"
cp "$unit" "$OVL/aifs@check.service"
systemd-analyze verify --man=no "$OVL/aifs@check.service"
start=$(sed -n 's/^ExecStart=//p' "$unit")
stop=$(sed -n 's/^ExecStop=//p' "$unit")
MOUNTPOINT=$MNT OPTIONS=allow_other
eval "$start" &
pid=$!
for i in $(seq 150); do findmnt -n "$MNT" >/dev/null && break; sleep 0.2; done
[ "$(cat "$MNT/f")" = "via mount -t" ] || { echo "unit mount: $(cat "$MNT/f")"; exit 1; }
eval "$stop"
wait "$pid" || { echo "ExecStart exited $?"; exit 1; }
echo "step: make uninstall"
make -s -C "$TOP" uninstall BUILD="$B" >"$OVL/uninstall.log" 2>&1 || { tail -20 "$OVL/uninstall.log"; exit 1; }
left=$(find "$PREFIX" /sbin/mount.fuse.aifs -type f 2>/dev/null || true)
[ -z "$left" ] || { echo "left after uninstall: $left"; exit 1; }
echo "step: done"
"""


@test
def install_with_any_prefix_mounts_with_mount_t_and_fstab_and_uninstalls():
    skip_native()
    base = tempfile.mkdtemp(prefix="aifs-inst-")
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    os.mkdir(os.path.join(base, "ovl"))
    try:
        env = dict(os.environ, TOP=TOP, B=os.path.join(base, "build"), PREFIX=os.path.join(base, "x"),
                   STORE=os.path.join(base, "store"), MNT=mnt, OVL=os.path.join(base, "ovl"))
        rc, out = run(["unshare", "-m", "sh", "-c", INSTALL_SCRIPT], env=env, timeout=900)
        eq(rc, 0, "install, mount -t, fstab, uninstall with prefix %s (output: %s)" % (
            env["PREFIX"], out.strip().replace("\n", " | ")))
        check("step: done" in out, "expected every step to run, saw: %s" % out)
    finally:
        if mounted(mnt):
            run(["umount", "-l", mnt])
        shutil.rmtree(base, ignore_errors=True)


def complete(prog, words):
    """The words bash completion of PROG offers for the command line WORDS (last one being typed)."""
    script = '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _%s; ' \
             'printf "%%s\\n" "${COMPREPLY[@]}"' % prog
    rc, out, err = call(["bash", "-c", script, "bash", os.path.join(TOP, "dist", "bash-completion", prog),
                         prog] + words)
    eq(rc, 0, "bash completion of %s %s (stderr: %s)" % (prog, words, err))
    return set(out.split())


@test
def bash_completion_offers_commands_verbs_and_options():
    eq(complete("aifsctl", ["sn"]), {"snapshot"}, "aifsctl sn<TAB>")
    check({"verify", "export", "pubkey", "head", "hold", "unhold", "release"} <= complete("aifsctl", ["audit", ""]),
          "aifsctl audit <TAB>: expected the audit verbs, saw %s" % complete("aifsctl", ["audit", ""]))
    eq(complete("aifsctl", ["policy", "set", "/d", "jo"]), {"journal"}, "aifsctl policy set DIR jo<TAB>")
    eq(complete("aifsctl", ["tier", "migrate", "x", "--to", ""]), {"hot", "cold"}, "tier migrate --to <TAB>")
    eq(complete("lsaifs", ["--js"]), {"--json"}, "lsaifs --js<TAB>")


# ------------------------------------------------------------------ reports

def ctl(*args, input=None):
    return call([AIFSCTL_BIN] + [str(a) for a in args], input=input)


def lsaifs(*args, rc=0):
    code, out, err = call([LSAIFS_BIN] + list(args))
    if code != rc:
        raise Fail("lsaifs %s: expected exit %d, saw %d: %s%s" % (" ".join(args), rc, code, out, err))
    return out


def long_rows(out, what):
    """Rows of `lsaifs -l` output as dicts keyed by the header's column names."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    check(lines and lines[0].split()[0] == "MODE", "%s: expected a header, saw %r" % (what, out[:300]))
    head = lines[0].split()
    rows = {}
    for ln in lines[1:]:
        cells = ln.split()
        eq(len(cells), len(head), "%s: columns of %r" % (what, ln))
        rows[cells[-1]] = dict(zip(head, cells))
    return rows


def xattr(path, name):
    try:
        return os.getxattr(path, name).decode()
    except OSError as e:
        return "errno %d" % e.errno


WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"request 1\\n")
print("written", flush=True)
sys.stdin.read()
os.close(fd)
"""


@test
def journal_files_report_sealed_retention_and_holds():
    skip_native()
    with Store("audit_retention=10") as s:
        log = os.path.join(s.mnt, "audit", "requests.log")
        # The writer is a process of its own that never forks: a close of
        # any copy of its descriptor (a child's exec) would end the session.
        writer = subprocess.Popen([sys.executable, "-c", WRITER, log], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        try:
            eq(writer.stdout.readline(), b"written\n", "the writer's first write")
            eq((xattr(log, "user.aifs.sealed"), xattr(log, "user.aifs.retain_until")),
               ("false", "unsealed"), "sealed and retain_until while open")
            row = long_rows(lsaifs("-l", os.path.join(s.mnt, "audit")), "lsaifs -l audit")["requests.log"]
            eq((row["SEALED"], row["RETAIN"]), ("no", "unsealed"), "SEALED, RETAIN while open")
        finally:
            writer.stdin.close()
            eq(writer.wait(timeout=60), 0, "the writer's exit status")
        sealed_at = datetime.datetime.now(datetime.timezone.utc)
        eq(xattr(log, "user.aifs.sealed"), "true", "user.aifs.sealed after close")
        until = xattr(log, "user.aifs.retain_until")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", until), "retain_until: %r" % until)
        delta = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc) - sealed_at
        check(abs(delta.total_seconds() - 10 * 86400) < 120,
              "retain_until %s: expected the seal (%s) plus 10 days" % (until, sealed_at))
        eq(xattr(log, "user.aifs.retention_mode"), "governance", "user.aifs.retention_mode")
        eq(xattr(log, "user.aifs.holds"), "", "user.aifs.holds with no hold")
        row = long_rows(lsaifs("-l", os.path.join(s.mnt, "audit")), "lsaifs -l audit")["requests.log"]
        eq((row["SEALED"], row["RETAIN"]), ("yes", until), "SEALED, RETAIN of a sealed file")
        os.setxattr(log, "user.aifs.hold", b"case-7")
        os.setxattr(log, "user.aifs.hold", b"case-9")
        eq(xattr(log, "user.aifs.holds"), "case-7,case-9", "user.aifs.holds with two holds")
        row = long_rows(lsaifs("-l", os.path.join(s.mnt, "audit")), "lsaifs -l audit")["requests.log"]
        eq(row["RETAIN"], "held", "RETAIN of a held file")
        e = json.loads(lsaifs("--json", log))["entries"][0]
        eq((e["sealed"], e["retention_until"], e["holds"]), (True, until, ["case-7", "case-9"]),
           "lsaifs --json journal keys")
        eq(xattr(os.path.join(s.mnt, "checkpoints"), "user.aifs.sealed"), "errno %d" % 61,
           "user.aifs.sealed outside a journal area: ENODATA")


@test
def lsaifs_h_is_human_readable_and_outside_aifs_fails():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "datasets")
        write_file(os.path.join(d, "big"), b"x" * (3 * 1024 * 1024 + 5))
        write_file(os.path.join(d, "small"), b"x" * 100)
        rows = long_rows(lsaifs("-lh", d), "lsaifs -lh")
        eq((rows["big"]["SIZE"], rows["small"]["SIZE"]), ("3.0M", "100"), "sizes with -h")
        rows = long_rows(lsaifs("-l", d), "lsaifs -l")
        eq(rows["big"]["SIZE"], str(3 * 1024 * 1024 + 5), "size without -h")
        check(lsaifs("--help").startswith("usage: lsaifs"), "--help prints the usage")
    other = tempfile.mkdtemp(prefix="aifs-plain-")
    try:
        write_file(os.path.join(other, "f"), b"x")
        for path in (other, os.path.join(other, "f")):
            code, out, err = call([LSAIFS_BIN, "-l", path])
            eq((code, out), (1, ""), "lsaifs on %s outside aifs: exit status and output" % path)
            check("not on an aifs mount" in err and path in err, "stderr for %s: %r" % (path, err))
    finally:
        shutil.rmtree(other)


@test
def json_stays_valid_for_names_that_are_not_utf8():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "corpus")
        os.mkdir(ds)
        name = b"a\xffb\xc3\xa9\"\n"
        write_file(os.path.join(os.fsencode(ds), name), b"hello")
        rc, out, err = ctl("snapshot", "create", ds, "t1")
        eq(rc, 0, "snapshot create: %s" % err)
        p = subprocess.run([AIFSCTL_BIN, "snapshot", "manifest", ds, "t1"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        eq(p.returncode, 0, "snapshot manifest: %s" % p.stderr)
        lines = p.stdout.decode("utf-8").splitlines()   # valid UTF-8, or this raises
        paths = [os.fsencode(json.loads(ln)["path"]) for ln in lines]
        eq(paths, [name], "manifest path decoded with surrogateescape")
        doc = json.loads(subprocess.run([LSAIFS_BIN, "--json", ds], stdout=subprocess.PIPE,
                                        timeout=60).stdout.decode("utf-8"))
        eq([os.fsencode(e["name"]) for e in doc["entries"]], [name], "lsaifs --json name")


@test
def tier_status_columns_are_logical_unique_stored_and_ratio():
    skip_native()
    with Store("compress=lz4") as s:
        ck = os.path.join(s.mnt, "checkpoints")
        body = b"".join(b"line %08d of a compressible checkpoint\n" % i for i in range(26000))[:1 << 20]
        write_file(os.path.join(ck, "m.pt"), body)
        rc, out, err = ctl("promote", os.path.join(ck, "m.pt@v1"), os.path.join(ck, "copy.pt"))
        eq(rc, 0, "promote: %s%s" % (out, err))
        rc, out, err = ctl("tier", "status", "--json", s.mnt)
        eq(rc, 0, "tier status --json: %s" % err)
        hot = json.loads(out)["tiers"]["hot"]
        check(hot["bytes"] >= 2 * len(body) and hot["raw_bytes"] == len(body) and
              0 < hot["stored_bytes"] < len(body),
              "hot tier: expected the promoted copy shared and compressed, saw %s" % hot)
        rc, out, err = ctl("tier", "status", s.mnt)
        lines = out.splitlines()
        eq(lines[0].split(), ["TIER", "EXTENTS", "LOGICAL", "UNIQUE", "STORED", "RATIO", "ON", "DISK"],
           "tier status header")
        row = lines[1].split()
        eq(row[0], "hot", "first row")
        eq(" ".join(row[4:6]), "1.0 MiB", "UNIQUE column: the bytes of the distinct extents")
        eq(float(row[8]), round(hot["raw_bytes"] / hot["stored_bytes"], 3),
           "RATIO column: UNIQUE / STORED")


SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+]+|NaN|[+-]Inf)')


def parse_metrics(text):
    """{name: {labels-text: value}} from a Prometheus text exposition; fails on any bad line."""
    helps, types, samples = set(), {}, {}
    for ln in text.splitlines():
        if ln.startswith("# HELP "):
            helps.add(ln.split()[2])
        elif ln.startswith("# TYPE "):
            _, _, name, typ = ln.split()
            check(typ in ("counter", "gauge"), "TYPE of %s: %r" % (name, typ))
            types[name] = typ
        else:
            m = SAMPLE.fullmatch(ln)
            check(m, "metrics: malformed line %r" % ln)
            name = m.group(1)
            check(name in types and name in helps, "metrics: %s has no HELP or TYPE line" % name)
            check(types[name] != "counter" or name.endswith("_total"), "counter %s: _total" % name)
            samples.setdefault(name, {})[m.group(2) or ""] = float(m.group(3))
    return samples


@test
def metrics_file_is_prometheus_text_with_documented_names():
    skip_native()
    with Store() as s:
        write_file(os.path.join(s.mnt, "checkpoints", "m.pt"), b"x" * 100000)
        check("metrics" in os.listdir(os.path.join(s.mnt, ".aifs")), "metrics listed in .aifs")
        with open(os.path.join(s.mnt, ".aifs", "metrics"), "rb") as f:
            text = f.read().decode("ascii")
        m = parse_metrics(text)
        writes = m["aifs_operation_bytes_total"]['{op="write"}']
        check(writes >= 100000, "aifs_operation_bytes_total{op=write}: expected >= 100000, saw %s" % writes)
        check(m["aifs_operations_total"]['{op="write"}'] >= 1, "write operations counted")
        with open(os.path.join(s.mnt, ".aifs", "stats")) as f:
            stats = json.load(f)
        eq(m["aifs_versions"][""], stats["versions"], "aifs_versions equals status's versions")
        eq(m["aifs_journal_records"][""], stats["journal"]["records"], "journal records")
        eq(set(m["aifs_tier_used_bytes"]), {'{tier="hot"}', '{tier="cold"}'}, "tier labels")
    with open(os.path.join(TOP, "man", "aifs.7")) as f:
        page = f.read()
    section = page.split(".SS Metrics")[1].split(".SH")[0]
    documented = set(re.findall(r"^\.B (aifs_\w+)", section, re.M))
    # the aifs_cache_* metrics are those of a store whose data is in RADOS
    # (test_rados.py checks them there); this store's data is local
    cache = {n for n in documented if n.startswith("aifs_cache_")}
    check(cache, "aifs(7) documents the aifs_cache_* metrics")
    eq(documented - cache, set(m), "metric names documented in aifs(7) .SS Metrics")


def json_of(what, *args):
    rc, out, err = ctl(*args)
    try:
        return rc, json.loads(out)
    except ValueError as e:
        raise Fail("%s: expected one JSON document, saw %s: %r (stderr %r)" % (what, e, out[:400], err))


def wait_signed(s, records, timeout=60):
    """Wait until the newest checkpoint covers RECORDS records; its text."""
    path = os.path.join(s.mnt, ".aifs", "audit", "checkpoint")
    deadline = time.time() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read()
            if int(text.split("\n")[1]) >= records:
                return text
        except OSError:
            pass
        if time.time() > deadline:
            raise Fail("no checkpoint covering %d records within %ds" % (records, timeout))
        time.sleep(0.2)


@test
def policy_get_audit_head_and_verify_speak_json():
    skip_native()
    with Store("audit_checkpoint_secs=1") as s:
        rc, doc = json_of("policy get --json", "policy", "get", "--json", os.path.join(s.mnt, "audit"))
        eq((rc, doc), (0, {"path": os.path.join(s.mnt, "audit"), "policy": "journal"}), "policy get --json")
        rc, doc = json_of("audit head --json (empty)", "audit", "head", "--json", s.mnt)
        eq((rc, doc), (0, {"origin": None, "size": 0, "root": None, "note": None}), "audit head --json, no records")
        write_file(os.path.join(s.mnt, "audit", "a.log"), b"one\n")
        text = wait_signed(s, 3)
        rc, doc = json_of("audit head --json", "audit", "head", "--json", s.mnt)
        lines = text.split("\n")
        eq((rc, doc["origin"], doc["size"], doc["root"]), (0, lines[0], int(lines[1]), lines[2]),
           "audit head --json fields")
        eq(doc["note"], text, "audit head --json note is the checkpoint text")
        s.unmount()
        rc, doc = json_of("audit verify --json", "audit", "verify", "--json", s.store)
        eq(rc, 0, "audit verify --json exit status")
        eq((doc["intact"], doc["problems"], doc["checkpoints"] >= 1, doc["bytes_reread"]),
           (True, [], True, 8), "audit verify --json of an intact store (the write and the seal re-read)")
        eq(doc["records"], doc["signed_records"], "every record signed")
        # A changed public key makes every signature a problem: listed, exit 1.
        other = os.path.join(s.base, "other")
        eq(ctl("mkfs", other)[0], 0, "mkfs of a second store")
        rc, doc = json_of("audit verify --json, wrong key", "audit", "verify", "--json", "--pubkey",
                          os.path.join(other, "audit.pub"), s.store)
        eq((rc, doc["intact"]), (1, False), "verify with another store's key: exit status, intact")
        check(doc["problems"] and all(isinstance(p, str) for p in doc["problems"]),
              "problems listed as strings: %r" % doc["problems"])


# ------------------------------------------------------------------ proofs

TAMPER_BIN = os.path.join(os.path.dirname(AIFS_BIN), "aifs-tamper")

WRITE_IN_PIECES = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for piece in sys.argv[2:]:
    os.write(fd, piece.encode())
    time.sleep(0.05)
os.close(fd)
"""


def journal_write(path, *pieces):
    """Write PIECES to a new journal file, one write() each, by one process that never forks."""
    rc, out = run([sys.executable, "-c", WRITE_IN_PIECES, path] + list(pieces))
    eq(rc, 0, "journal writer: %s" % out)


def records_of(s):
    with open(os.path.join(s.mnt, ".aifs", "stats")) as f:
        return json.load(f)["journal"]["records"]


@test
def audit_prove_bundle_verifies_offline_and_catches_changes():
    skip_native()
    with Store("audit_checkpoint_secs=1") as s:
        log = os.path.join(s.mnt, "audit", "inference.log")
        journal_write(log, "req 1 ok\nreq 2 ", "denied\nreq 3 ok\n")
        wait_signed(s, records_of(s))
        bundle = os.path.join(s.base, "line2.json")
        rc, out, err = ctl("audit", "prove", log, "--line", 2, "-o", bundle)
        eq(rc, 0, "audit prove --line 2: %s%s" % (out, err))
        b = json.load(open(bundle))
        eq((b["format"], b["path"], b["start"], b["end"], len(b["entries"])),
           ("aifs-audit-bundle-1", "/audit/inference.log", 9, 22, 2), "bundle of line 2 (two writes)")
        # Checked elsewhere: only the bundle, in a directory of its own, no store, no mount.
        alone = os.path.join(s.base, "elsewhere")
        os.mkdir(alone)
        shutil.copy(bundle, alone)
        shutil.copy(os.path.join(s.store, "audit.pub"), os.path.join(alone, "trusted.pub"))
        rc, out, err = call([AIFSCTL_BIN, "audit", "verify", "--bundle", "line2.json", "--pubkey",
                             "trusted.pub"], cwd=alone)
        eq(rc, 0, "verify --bundle with the trusted key: %s%s" % (out, err))
        check("valid" in out and "line 2: req 2 denied\n" in out, "verify --bundle output: %r" % out)
        rc, out, err = call([AIFSCTL_BIN, "audit", "verify", "--bundle", "line2.json", "--json",
                             "--pubkey", "trusted.pub"], cwd=alone)
        v = json.loads(out)
        eq((rc, v["valid"], v["problem"], v["records"], v["trusted_key"], v["line"], v["text"]),
           (0, True, None, 2, True, 2, "req 2 denied\n"), "verify --bundle --json: %r" % out)
        # The same checks in a few lines of Python, as aifs(7) describes them.
        check_bundle_by_hand(b, open(os.path.join(s.store, "audit.pub")).read().strip())
        rc, out, err = ctl("audit", "prove", log, "--offset", 0, "--hash-only", "-o", bundle + ".h")
        eq(rc, 0, "audit prove --offset 0 --hash-only: %s" % err)
        h = json.load(open(bundle + ".h"))
        check(len(h["entries"]) == 1 and "data_b64" not in h["entries"][0], "hash-only bundle: %s" % h)
        eq(ctl("audit", "verify", "--bundle", bundle + ".h")[0], 0, "verify of a hash-only bundle")
        # Changed bytes, a changed record, another key: each refused (exit 1).
        other = os.path.join(s.base, "other")
        eq(ctl("mkfs", other)[0], 0, "mkfs of a second store")
        bad = dict(b, entries=[dict(b["entries"][0], data_b64=base64.b64encode(b"req 2 allowed").decode())]
                   + b["entries"][1:])
        rec = base64.b64decode(b["entries"][1]["record_b64"]).replace(b'"uid":0', b'"uid":7')
        bad2 = dict(b, entries=b["entries"][:1] + [dict(b["entries"][1], record_b64=base64.b64encode(rec).decode())])
        for what, doc, extra in (("changed bytes", bad, []), ("changed record", bad2, []),
                                 ("another key", b, ["--pubkey", os.path.join(other, "audit.pub")])):
            path = os.path.join(s.base, "bad.json")
            with open(path, "w") as f:
                json.dump(doc, f)
            rc, out, err = ctl("audit", "verify", "--bundle", path, *extra)
            eq(rc, 1, "verify --bundle with %s: exit status (%s%s)" % (what, out, err))
            check("NOT valid" in out, "verify --bundle with %s: %r" % (what, out))
            rc, out, err = ctl("audit", "verify", "--bundle", path, "--json", *extra)
            v = json.loads(out)
            eq((rc, v["valid"], bool(v["problem"])), (1, False, True),
               "verify --bundle --json with %s: %r" % (what, out))
        eq(ctl("audit", "prove", log, "--line", 9)[0], 1, "prove of a line the file does not have")
        eq(ctl("audit", "prove", log)[0], 2, "prove without --line or --offset: usage")


def check_bundle_by_hand(b, vkey):
    """Verify bundle B with hashlib and the Ed25519 of openssl(1), following aifs(7)."""
    import hashlib
    text, sigs = b["checkpoint"].split("\n\n", 1)
    origin, size, root = text.split("\n")[:3]
    eq(int(size), b["tree_size"], "checkpoint size")
    name, keyhash_key = vkey.split("+", 1)[0], base64.b64decode(vkey.split("+", 2)[2])
    eq(keyhash_key[0], 1, "vkey algorithm byte (Ed25519)")
    sig = [ln for ln in sigs.splitlines() if ln.startswith("\u2014 %s " % name)]
    check(sig, "a signature line by %s" % name)
    raw = base64.b64decode(sig[0].split()[2])[4:]
    pem = base64.b64encode(bytes.fromhex("302a300506032b6570032100") + keyhash_key[1:]).decode()
    d = tempfile.mkdtemp()
    try:
        for fn, data in (("k.pem", ("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % pem).encode()),
                         ("msg", (text + "\n").encode()), ("sig", raw)):
            with open(os.path.join(d, fn), "wb") as f:
                f.write(data)
        rc, out = run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", os.path.join(d, "k.pem"),
                       "-rawin", "-in", os.path.join(d, "msg"), "-sigfile", os.path.join(d, "sig")])
        eq(rc, 0, "openssl verifies the checkpoint signature: %s" % out)
    finally:
        shutil.rmtree(d)
    for e in b["entries"]:
        rec = base64.b64decode(e["record_b64"])
        leaf = hashlib.sha256(b"\0" + rec).digest()
        eq(leaf.hex(), e["leaf_hash"], "leaf hash")
        eq(hashlib.sha256(base64.b64decode(e["data_b64"])).hexdigest(), json.loads(rec)["sha256"],
           "data sha256")
        # RFC 9162 2.1.3.2
        fn, sn, r = e["seq"], b["tree_size"] - 1, leaf
        for p in map(bytes.fromhex, e["inclusion_proof"]):
            check(sn != 0, "proof longer than the path")
            if fn & 1 or fn == sn:
                r = hashlib.sha256(b"\1" + p + r).digest()
                while not fn & 1 and fn:
                    fn, sn = fn >> 1, sn >> 1
            else:
                r = hashlib.sha256(b"\1" + r + p).digest()
            fn, sn = fn >> 1, sn >> 1
        eq((sn, base64.b64encode(r).decode()), (0, root), "inclusion proof of record %d" % e["seq"])


@test
def audit_witness_catches_a_truncated_log_that_verify_alone_accepts():
    skip_native()
    with Store("audit_checkpoint_secs=1") as s:
        journal_write(os.path.join(s.mnt, "audit", "a.log"), "one\n", "two\n")
        ino = os.stat(os.path.join(s.mnt, "audit", "a.log")).st_ino
        n = records_of(s)
        wait_signed(s, n)
        witnessed = os.path.join(s.base, "witnessed.jsonl")
        rc, out, err = ctl("audit", "witness", s.mnt, witnessed)
        eq(rc, 0, "audit witness: %s" % err)
        rc, out, err = ctl("audit", "witness", s.mnt, witnessed)
        eq((rc, len(open(witnessed).readlines())), (0, 1), "a checkpoint witnessed twice is saved once")
        s.unmount()
        rc, out, err = ctl("audit", "verify", "--against", witnessed, s.store)
        eq(rc, 0, "verify --against before any change: %s%s" % (out, err))
        # Rewrite history: drop the file, its records and every checkpoint.
        for args in (["truncate-log", "0"], ["delete-checkpoint", str(n)], ["delete-inode", str(ino)]):
            rc, out = run([TAMPER_BIN, s.store] + args)
            eq(rc, 0, "aifs-tamper %s: %s" % (args, out))
        rc, out, err = ctl("audit", "verify", s.store)
        eq(rc, 0, "verify alone sees a consistent (empty) log: %r" % out)
        rc, out, err = ctl("audit", "verify", "--against", witnessed, s.store)
        eq(rc, 1, "verify --against after the rewrite: exit status (%s)" % out)
        check("records were removed" in out, "verify --against names the removal: %r" % out)


def witnessed_sizes(path):
    """Sizes of the checkpoints in a witness file, in the order they were appended."""
    try:
        with open(path) as f:
            return [int(json.loads(line)["checkpoint"].split("\n")[1]) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_witnessed(path, records, timeout=60):
    """Wait until the witness file holds a checkpoint of RECORDS records or more."""
    deadline = time.time() + timeout
    while not any(n >= records for n in witnessed_sizes(path)):
        if time.time() > deadline:
            raise Fail("witness file %s: expected a checkpoint of %d records within %ds, saw %r"
                       % (path, records, timeout, witnessed_sizes(path)))
        time.sleep(0.1)


@test
def audit_witness_option_hands_each_checkpoint_out_and_catches_a_rewrite():
    skip_native()
    base = tempfile.mkdtemp(prefix="aifs-witness-")
    try:
        witnessed = os.path.join(base, "witnessed.jsonl")
        with Store("audit_checkpoint_secs=1,audit_witness=tee -a %s" % witnessed) as s:
            journal_write(os.path.join(s.mnt, "audit", "a.log"), "one\n", "two\n")
            ino = os.stat(os.path.join(s.mnt, "audit", "a.log")).st_ino
            wait_witnessed(witnessed, records_of(s))
            journal_write(os.path.join(s.mnt, "audit", "b.log"), "three\n")
            n = records_of(s)
            wait_witnessed(witnessed, n)
            sizes = witnessed_sizes(witnessed)
            eq(sizes, sorted(set(sizes)), "checkpoints handed out once each, in order")
            s.unmount()
            rc, out, err = ctl("audit", "verify", "--against", witnessed, s.store)
            eq(rc, 0, "verify --against the witness: %s%s" % (out, err))
            check("checked against %d witnessed checkpoint" % len(witnessed_sizes(witnessed)) in out,
                  "verify --against counts the witnessed checkpoints: %r" % out)
            syslog = os.path.join(base, "syslog")
            with open(syslog, "w") as f:
                f.writelines("Dec  7 00:00:00 gpu1 aifs-witness: " + ln for ln in open(witnessed))
            rc, out, err = ctl("audit", "verify", "--against", syslog, s.store)
            eq(rc, 0, "verify --against the witness lines as syslog keeps them: %s%s" % (out, err))
            rc, out, err = ctl("audit", "verify", "--json", "--against", witnessed, s.store)
            v = json.loads(out)
            eq((rc, v["intact"], any("witnessed checkpoint" in n for n in v["notes"])), (0, True, True),
               "verify --json --against: %r" % out)
            # Rewrite history: drop every record, every checkpoint and the file.
            for args in ([["truncate-log", "0"]] + [["delete-checkpoint", str(k)] for k in sizes]
                         + [["delete-inode", str(ino)]]):
                rc, out = run([TAMPER_BIN, s.store] + args)
                eq(rc, 0, "aifs-tamper %s: %s" % (args, out))
            rc, out, err = ctl("audit", "verify", "--against", witnessed, s.store)
            eq(rc, 1, "verify --against after the rewrite: exit status (%s)" % out)
            check("records were removed" in out, "verify --against names the removal: %r" % out)
        # A whole new store with its own key and as many records is caught too.
        with Store("audit_checkpoint_secs=1") as other:
            for name in ("a.log", "b.log", "c.log"):
                journal_write(os.path.join(other.mnt, "audit", name), "x\n", "y\n")
            wait_signed(other, records_of(other))
            other.unmount()
            rc, out, err = ctl("audit", "verify", "--against", witnessed, other.store)
            eq(rc, 1, "verify --against of another store: exit status (%s)" % out)
            check("not a checkpoint signed by the key" in out, "verify --against names the key: %r" % out)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# Appends ARGV[3] records to journal file ARGV[1], reading the checkpoint ARGV[2]
# (which signs what is there) after each.
MANY_CHECKPOINTS = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(int(sys.argv[3])):
    os.write(fd, b"req %d\\n" % i)
    with open(sys.argv[2]) as f:
        f.read()
os.close(fd)
"""

# Waits until GATE exists, then appends its stdin to the witness file.
SLOW_WITNESS = "while [ ! -e {gate} ]; do sleep 0.05; done; cat >> {out}"


@test
def audit_witness_slow_or_failing_never_holds_the_filesystem():
    skip_native()
    with Store() as s:
        gate, out = os.path.join(s.base, "gate"), os.path.join(s.base, "witnessed.jsonl")
        s.unmount()
        s.mount("audit_checkpoint_secs=1,audit_witness=" + SLOW_WITNESS.format(gate=gate, out=out))
        # The command waits at the gate: journal writes and checkpoint reads go on,
        # and the checkpoints signed meanwhile queue up.
        for i in range(5):
            journal_write(os.path.join(s.mnt, "audit", "f%d.log" % i), "req %d\n" % i)
            wait_signed(s, records_of(s))
        eq(witnessed_sizes(out), [], "nothing delivered while the command waits")
        n = records_of(s)
        open(gate, "w").close()
        wait_witnessed(out, n)
        sizes = witnessed_sizes(out)
        eq((sizes, len(sizes)), (sorted(set(sizes)), 5), "queued checkpoints delivered one by one, in order")
        # More checkpoints than the queue holds while the command waits: the oldest
        # queued are dropped with one line, the newest is delivered.
        os.unlink(gate)
        rc, o = run([sys.executable, "-c", MANY_CHECKPOINTS, os.path.join(s.mnt, "audit", "many.log"),
                     os.path.join(s.mnt, ".aifs", "audit", "checkpoint"), "100"])
        eq(rc, 0, "100 records, each signed: %s" % o)
        n = records_of(s)
        open(gate, "w").close()
        wait_witnessed(out, n)
        sizes = witnessed_sizes(out)
        eq((sizes == sorted(set(sizes)), len(sizes) < 5 + 100), (True, True),
           "checkpoints after a full queue: in order, some dropped: %r" % sizes)
        eq(open(s.log).read().count("the oldest are dropped"), 1, "lines logged for the drops")
        s.unmount()
        rc, o, err = ctl("audit", "verify", "--against", out, s.store)
        eq(rc, 0, "verify --against the slow witness: %s%s" % (o, err))
        s.mount("audit_checkpoint_secs=1,audit_witness=cat >/dev/null; exit 3")
        journal_write(os.path.join(s.mnt, "audit", "g.log"), "after\n")
        wait_signed(s, records_of(s))
        deadline = time.time() + 60
        while "exited with status 3" not in open(s.log).read():
            check(time.time() < deadline, "a failing witness is logged: %s" % s.log_tail())
            time.sleep(0.1)
        write_file(os.path.join(s.mnt, "plain.txt"), b"still works")
        eq(read_all(os.path.join(s.mnt, "plain.txt")), b"still works", "the mount after a failing witness")


@test
def audit_export_from_reports_the_records_it_exported():
    skip_native()
    with Store("audit_checkpoint_secs=1") as s:
        log = os.path.join(s.mnt, "audit", "a.log")
        journal_write(log, "1\n", "2\n", "3\n")
        for _ in range(100):        # the seal (and its record) follows the writer's release
            if os.getxattr(log, "user.aifs.sealed") == b"true":
                break
            time.sleep(0.1)
        n = records_of(s)
        wait_signed(s, n)
        s.unmount()
        rc, out, err = ctl("audit", "export", "--from", 2, s.store, os.path.join(s.base, "e"))
        eq(rc, 0, "export --from 2: %s" % err)
        check(out.startswith("exported %d records (2 to %d) and " % (n - 2, n - 1)), "export --from 2: %r" % out)
        with open(os.path.join(s.base, "e", "records.jsonl")) as f:
            eq(len(f.readlines()), n - 2, "records in the export")


@test
def status_of_a_store_whose_path_needs_escaping():
    """.aifs/stats is JSON whatever bytes the store's path holds."""
    skip_native()
    base = tempfile.mkdtemp(prefix='aifs-"quoted-')
    store, mnt = os.path.join(base, "st"), os.path.join(base, "m")
    os.mkdir(mnt)
    try:
        eq(run([AIFSCTL_BIN, "mkfs", store])[0], 0, "mkfs")
        eq(run([AIFS_BIN, store, mnt])[0], 0, "mount")
        stats = json.loads(read_all(os.path.join(mnt, ".aifs", "stats")))
        eq(stats["store"], store, "the store's path in .aifs/stats")
        code, out = run([AIFSCTL_BIN, "status", mnt])
        eq(code, 0, "aifsctl status exit status: %s" % out)
        check(store in out, "aifsctl status names the store: %r" % out)
    finally:
        force_unmount(mnt)
        check(not mounted(mnt), "%s still mounted after the test" % mnt)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
