#!/usr/bin/python3
"""The command-line grammar of aifsctl and lsaifs (issue 7, item 2): every command has
--help, usage errors exit 2 and problems exit 1, and every --json output parses with
Python's json module and has the top-level keys aifsctl(8) and lsaifs(1) document.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Store, check, data, eq, main,  # noqa: E402
                     skip_native, test, write_file)

LSAIFS_BIN = os.path.join(os.path.dirname(AIFSCTL_BIN), "lsaifs")

# Top-level keys as the man pages document them.
VERSIONS_KEYS = {"file", "current", "versions"}
VERSION_KEYS = {"version", "time", "size", "complete", "current", "sha256", "writer"}
SNAPSHOT_KEYS = {"tag", "time", "files", "bytes"}
DIFF_KEYS = {"change", "path"}
MANIFEST_KEYS = {"path", "size", "sha256", "mode", "mtime"}
LSAIFS_KEYS = {"version", "entries"}
STATUS_KEYS = {"store", "uuid", "format", "version", "daemon", "tiers", "versions",
               "snapshots", "snapshot_files_copied", "journal", "lineage", "ops"}


# ------------------------------------------------------------------ local helpers

def call(argv, cwd=None):
    """Run a command; return (rc, stdout, stderr) as text."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                       stdin=subprocess.DEVNULL, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def aifsctl(*args, rc=0):
    """Run aifsctl and require exit status RC; returns stdout."""
    code, out, err = call([AIFSCTL_BIN] + list(args))
    if code != rc:
        raise Fail("aifsctl %s: expected exit %d, saw %d: %s%s" % (
            " ".join(args), rc, code, out.strip()[:500], err.strip()[:500]))
    return out


def parse_json(out, what):
    try:
        return json.loads(out)
    except ValueError as e:
        raise Fail("%s: expected one JSON document, saw %s: %r" % (what, e, out[:500]))


def help_commands():
    """First words of the commands `aifsctl --help` lists under "commands:" (a|b: both)."""
    rc, out, err = call([AIFSCTL_BIN, "--help"])
    eq(rc, 0, "aifsctl --help exit status")
    lines = out.splitlines()
    check("commands:" in lines, "aifsctl --help: expected a 'commands:' line, saw %r" % out[:300])
    cmds = []
    for ln in lines[lines.index("commands:") + 1:]:
        if not ln.strip():
            break
        first = ln.split()[0]
        for c in first.split("|"):
            if c not in cmds:
                cmds.append(c)
    return cmds


def has_command(cmd):
    return cmd in help_commands()


def wait_versions(path, expected, timeout=10.0):
    """Poll until DIR/.aifs/versions/NAME lists EXPECTED (release is asynchronous)."""
    vd = os.path.join(os.path.dirname(path), ".aifs", "versions", os.path.basename(path))
    deadline = time.time() + timeout
    while True:
        try:
            seen = sorted(int(n) for n in os.listdir(vd))
        except FileNotFoundError:
            seen = []
        if seen == expected or time.time() > deadline:
            break
        time.sleep(0.05)
    eq(seen, expected, "versions of %s within %.0f s" % (path, timeout))


# ------------------------------------------------------------------ grammar

@test
def every_command_has_help_exit_0():
    cmds = help_commands()
    for want in ("mkfs", "fsck", "versions", "snapshot", "audit", "policy", "restore"):
        check(want in cmds, "aifsctl --help: expected command %s among %s" % (want, cmds))
    bad = []
    for c in cmds:
        code, out, err = call([AIFSCTL_BIN, c, "--help"])
        if code != 0 or "usage" not in out.lower():
            bad.append("%s (exit %d, stdout %r, stderr %r)" % (c, code, out[:80], err[:80]))
    check(not bad, "aifsctl CMD --help: expected exit 0 and 'usage' on stdout, saw: %s"
          % "; ".join(bad))
    code, out, err = call([LSAIFS_BIN, "--help"])
    check(code == 0 and "usage" in out.lower(),
          "lsaifs --help: expected exit 0 and usage, saw exit %d: %r" % (code, out[:200]))


@test
def unknown_command_and_bad_arguments_exit_2():
    code, out, err = call([AIFSCTL_BIN, "frobnicate"])
    eq(code, 2, "aifsctl frobnicate: exit status")
    check("frobnicate" in err, "aifsctl frobnicate: expected the name on stderr, saw %r" % err[:200])
    eq(out, "", "aifsctl frobnicate: stdout")
    eq(call([AIFSCTL_BIN])[0], 2, "aifsctl without a command: exit status")
    cases = [["mkfs"], ["fsck"], ["versions"], ["snapshot"], ["audit"], ["policy"],
             ["restore"], ["promote"], ["hold"], ["retain"],
             ["snapshot", "create", "/tmp"], ["snapshot", "frobnicate"],
             ["audit", "frobnicate"], ["policy", "set", "/tmp"], ["restore", "/tmp/x"],
             ["versions", "--frobnicate", "/tmp/x"], ["fsck", "--frobnicate", "/tmp/x"]]
    bad = []
    for args in cases:
        code, out, err = call([AIFSCTL_BIN] + args)
        if code != 2 or not err.strip():
            bad.append("%s (exit %d, stderr %r)" % (" ".join(args), code, err[:80]))
    check(not bad, "aifsctl with missing or bad arguments: expected exit 2 and a message "
          "on stderr, saw: %s" % "; ".join(bad))
    code, out, err = call([LSAIFS_BIN, "--frobnicate"])
    eq(code, 2, "lsaifs --frobnicate: exit status")


GROUPS = ("snapshot", "audit", "policy", "tier", "checkpoint", "rados")


def help_verbs():
    """(command, verb or None) for every line of `aifsctl --help` (a|b: both)."""
    rc, out, err = call([AIFSCTL_BIN, "--help"])
    lines = out.splitlines()
    pairs = []
    for ln in lines[lines.index("commands:") + 1:]:
        if not ln.strip():
            break
        words = ln.split()
        for c in words[0].split("|"):
            verbs = words[1].split("|") if c in GROUPS else [None]
            for v in verbs:
                if (c, v) not in pairs:
                    pairs.append((c, v))
    return pairs


@test
def every_command_and_verb_has_its_own_help_and_usage_line():
    pairs = help_verbs()
    check(("snapshot", "diff") in pairs and ("audit", "verify") in pairs and ("restore", None) in pairs,
          "aifsctl --help: expected snapshot diff, audit verify and restore among %s" % pairs)
    bad = []
    for cmd, verb in pairs:
        argv = [cmd] + ([verb] if verb else [])
        name = " ".join(argv)
        code, out, err = call([AIFSCTL_BIN] + argv + ["--help"])
        first = out.splitlines()[0] if out else ""
        words = first.split()
        if code != 0 or words[:3] != ["usage:", "aifsctl", cmd] or (
                verb and (len(words) < 4 or verb not in words[3].split("|"))):
            bad.append("%s --help: exit %d, first line %r" % (name, code, first))
            continue
        described = out.split("\n\n", 1)[1].strip().splitlines() if "\n\n" in out else []
        code, out, err = call([AIFSCTL_BIN] + argv + ["--frobnicate", "a", "b", "c", "d", "e"])
        usage = [ln for ln in err.splitlines() if ln.startswith("usage:")]
        if code != 2 or out or len(usage) != 1 or usage[0] != first:
            bad.append("%s with bad arguments: exit %d, stdout %r, usage lines %r (expected %r)"
                       % (name, code, out[:80], usage, first))
        elif "commands:" in err or any(d.strip() and d in err for d in described):
            bad.append("%s with bad arguments: expected only the usage, saw %r" % (name, err[:300]))
    check(not bad, "aifsctl CMD [VERB] --help and usage errors: %d of %d wrong: %s"
          % (len(bad), len(pairs), " | ".join(bad)))


@test
def problems_exit_1():
    with tempfile.TemporaryDirectory(prefix="aifs-cli-") as tmp:
        code, out, err = call([AIFSCTL_BIN, "fsck", os.path.join(tmp, "no-such-store")])
        eq(code, 1, "aifsctl fsck of a missing store: exit status")
        check(err.strip(), "aifsctl fsck of a missing store: expected a message on stderr")
        plain = os.path.join(tmp, "model.pt")
        write_file(plain, b"not on aifs")
        code, out, err = call([AIFSCTL_BIN, "versions", plain])
        eq(code, 1, "aifsctl versions of a file outside aifs: exit status")
        check(err.strip(), "aifsctl versions of a file outside aifs: expected a message")
        code, out, err = call([LSAIFS_BIN, os.path.join(tmp, "missing")])
        eq(code, 1, "lsaifs of a missing path: exit status")


# ------------------------------------------------------------------ --json

@test
def json_outputs_parse():
    skip_native()
    with Store() as s:
        run = os.path.join(s.mnt, "checkpoints", "run")
        os.mkdir(run)
        model = os.path.join(run, "model.pt")
        for n in (1, 2):
            write_file(model, data(("cli", n), 5000 + n))
            wait_versions(model, list(range(1, n + 1)))
        ds = os.path.join(s.mnt, "datasets", "toy")
        os.mkdir(ds)
        write_file(os.path.join(ds, "a.bin"), data("a", 300))
        write_file(os.path.join(ds, "b.bin"), data("b", 400))
        aifsctl("snapshot", "create", ds, "v1")
        os.unlink(os.path.join(ds, "a.bin"))
        write_file(os.path.join(ds, "b.bin"), data("b2", 400))
        write_file(os.path.join(ds, "c.bin"), data("c", 500))
        aifsctl("snapshot", "create", ds, "v2")

        doc = parse_json(aifsctl("versions", "--json", model), "versions --json")
        check(isinstance(doc, dict), "versions --json: expected an object, saw %r" % doc)
        eq(set(doc), VERSIONS_KEYS, "versions --json: top-level keys")
        eq(doc["current"], 2, "versions --json: current")
        eq([v["version"] for v in doc["versions"]], [1, 2], "versions --json: version numbers")
        for v in doc["versions"]:
            eq(set(v), VERSION_KEYS, "versions --json: keys of version %s" % v.get("version"))

        doc = parse_json(aifsctl("snapshot", "list", "--json", ds), "snapshot list --json")
        check(isinstance(doc, list), "snapshot list --json: expected an array, saw %r" % doc)
        eq([t.get("tag") for t in doc], ["v1", "v2"], "snapshot list --json: tags")
        for t in doc:
            eq(set(t), SNAPSHOT_KEYS, "snapshot list --json: keys of %s" % t.get("tag"))
        eq([(t["files"], t["bytes"]) for t in doc], [(2, 700), (2, 900)],
           "snapshot list --json: files and bytes")

        doc = parse_json(aifsctl("snapshot", "diff", "--json", ds, "v1", "v2"),
                         "snapshot diff --json")
        check(isinstance(doc, list), "snapshot diff --json: expected an array, saw %r" % doc)
        for d in doc:
            eq(set(d), DIFF_KEYS, "snapshot diff --json: keys of %r" % d)
        eq(sorted((d["path"], d["change"]) for d in doc),
           [("a.bin", "removed"), ("b.bin", "changed"), ("c.bin", "added")],
           "snapshot diff --json v1 v2")

        out = aifsctl("snapshot", "manifest", ds, "v2")
        lines = out.splitlines()
        eq(len(lines), 2, "snapshot manifest v2: lines")
        for ln in lines:
            m = parse_json(ln, "snapshot manifest line")
            check(isinstance(m, dict), "snapshot manifest: expected an object, saw %r" % ln)
            eq(set(m), MANIFEST_KEYS, "snapshot manifest: keys of %r" % ln)
        eq([json.loads(ln)["path"] for ln in lines], ["b.bin", "c.bin"], "manifest paths")

        code, out, err = call([LSAIFS_BIN, "--json", "-R", s.mnt])
        eq((code, err), (0, ""), "lsaifs --json -R: exit status and stderr")
        doc = parse_json(out, "lsaifs --json -R")
        eq(set(doc), LSAIFS_KEYS, "lsaifs --json -R: top-level keys")
        paths = {os.path.relpath(e["path"], s.mnt) for e in doc["entries"]}
        for p in ("checkpoints/run/model.pt", "datasets/toy/c.bin"):
            check(p in paths, "lsaifs --json -R: expected %s among %s" % (p, sorted(paths)))

        if not has_command("status"):
            print("# aifsctl has no status command in this build: status and stats not checked")
            return
        doc = parse_json(aifsctl("status", "--json", s.mnt), "status --json")
        check(isinstance(doc, dict), "status --json: expected an object")
        eq(set(doc), STATUS_KEYS, "status --json: top-level keys")
        eq((doc["versions"], doc["snapshots"]), (2, 2), "status --json: versions and snapshots")
        doc = parse_json(aifsctl("stats", "--json", s.mnt), "stats --json")
        check(isinstance(doc, dict) and "ops" in doc,
              "stats --json: expected an object with key ops, saw %r" % str(doc)[:300])
        check("write" in doc["ops"], "stats --json: expected ops.write, saw %s" % sorted(doc["ops"]))


if __name__ == "__main__":
    main()
