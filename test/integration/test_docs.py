#!/usr/bin/python3
"""Documentation and the user-facing tools (issue 7, items 1, 3 and 4): man pages render
without warnings, every mount option and aifsctl command is documented, and lsaifs shows
the lifecycle state of files through a real mount in text and in its documented JSON.
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFS_BIN, AIFSCTL_BIN, TOP, Fail, Store, check, data, eq,  # noqa: E402
                     main, mounted, run, skip_native, test, write_file)

LSAIFS_BIN = os.path.join(os.path.dirname(AIFS_BIN), "lsaifs")
MAN = os.path.join(TOP, "man")

# The keys of a JSON entry and of a version object, as lsaifs(1) documents them.
ENTRY_KEYS = {"path", "name", "type", "mode", "size", "stored", "area", "current_version",
              "version_count", "complete", "tier", "sha256", "snapshots", "sealed",
              "retention_until", "holds"}
VERSION_KEYS = {"version", "time", "size", "complete", "sha256"}


# ------------------------------------------------------------------ local helpers

def source(*parts):
    with open(os.path.join(TOP, *parts), encoding="utf-8") as f:
        return f.read()


def call(argv, cwd=None):
    """Run a command; return (rc, stdout, stderr) as text."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                       timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def lsaifs(*args, cwd=None, rc=0):
    """Run lsaifs and require exit status RC; returns stdout."""
    code, out, err = call([LSAIFS_BIN] + list(args), cwd=cwd)
    if code != rc:
        raise Fail("lsaifs %s: expected exit %d, saw %d: %s%s" % (
            " ".join(args), rc, code, out, err))
    return out


def lsaifs_json(*args, cwd=None):
    out = lsaifs("--json", *args, cwd=cwd)
    try:
        return json.loads(out)
    except ValueError as e:
        raise Fail("lsaifs --json %s: expected one JSON document, saw %s: %r" % (
            " ".join(args), e, out[:500]))


def long_rows(out, what):
    """Rows of `lsaifs -l` output as dicts keyed by the header's column names."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    check(lines and lines[0].split()[0] == "MODE",
          "%s: expected a header line starting with MODE, saw %r" % (what, out[:300]))
    head = lines[0].split()
    rows = {}
    for ln in lines[1:]:
        if ln.startswith(" "):
            continue            # a --versions line
        cells = ln.split()
        eq(len(cells), len(head), "%s: columns of %r" % (what, ln))
        row = dict(zip(head, cells))
        rows[row["NAME"]] = row
    return head, rows


def version_lines(out):
    """The indented --versions lines, split into words."""
    return [ln.split() for ln in out.splitlines() if ln.startswith("    @v")]


def wait_versions(d, name, expected, timeout=10.0):
    """Poll until D/.aifs/versions/NAME lists EXPECTED (release is asynchronous)."""
    vd = os.path.join(d, ".aifs", "versions", name)
    deadline = time.time() + timeout
    while True:
        try:
            seen = sorted(int(n) for n in os.listdir(vd))
        except FileNotFoundError:
            seen = []
        if seen == expected or time.time() > deadline:
            break
        time.sleep(0.05)
    eq(seen, expected, "versions of %s within %.0f s" % (name, timeout))


def iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def macro_words(page):
    """First words of every .B/.BR line of a man page, unescaped and cut before '='."""
    words = set()
    for ln in page.splitlines():
        m = re.match(r'\.(B|BR)\s+"?([^\s"]+)', ln)
        if m:
            w = m.group(2).replace("\\-", "-").replace("\\&", "")
            words.add(re.split(r"=|\\f", w)[0])
    return words


# ------------------------------------------------------------------ man pages

@test
def man_pages_render_without_warnings():
    pages = sorted(f for f in os.listdir(MAN) if re.search(r"\.[0-9]$", f))
    for want in ("aifs.8", "aifsctl.8", "lsaifs.1"):
        check(want in pages, "man/: expected %s among the pages, saw %s" % (want, pages))
    bad = []
    for page in pages:
        p = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(MAN, page)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0 or p.stderr:
            bad.append("%s (exit %d): %s" % (page, p.returncode,
                                             p.stderr.decode("utf-8", "replace").strip()))
    check(not bad, "groff -man -ww -z: expected no warnings, saw: %s" % " | ".join(bad))


# ------------------------------------------------------------------ examples run

# Every example block (.EX ... .EE) of a page follows a roff comment that says how
# it runs; readers do not see it:
#   .\" example: sh [unmounted|nostore] [foreground]   shell commands, each must
#       exit 0 (foreground: the daemon the block starts stays in the foreground;
#       it runs in the background until the store is mounted, then is unmounted)
#   .\" example: transcript [unmounted]   `$ CMD` lines and their output: each CMD
#       must exit 0, except one whose first output line is an error of the shell or
#       of the command itself ("bash: ...", "rm: ..."), which must fail; `$ cat FILE`
#       of a FILE that does not exist first creates it with the output shown
#   .\" example: python                   Python run by /usr/bin/python3
#   .\" example: none REASON              not a command (output formats, file lines)
# and optionally before it
#   .\" example-setup: SHELL LINE         run before the block (state it assumes)
#   .\" example-prelude: PYTHON LINE      put before a python block (names it assumes)
# All blocks of a page run in order against one fresh store, mounted unless the
# block says unmounted (made, not mounted) or nostore (not even made); the
# working directory carries over from block to block, except that a block that
# runs unmounted or runs umount starts in the directory that holds the store
# and the mount point, outside the mount.  The paths the pages use are mapped to the test store (EXAMPLE_PATHS),
# `sudo ` is dropped (the test runs as root) and the user alice is nobody.
EXAMPLE_PATHS = [("/srv/aifs-store", "{store}"), ("/mnt/ai", "{mnt}"),
                 ("/safe/place", "{base}/safe"), ("/tmp/audit-2026-11", "{base}/export"),
                 ("/mnt/hdd/aifs-cold", "{base}/cold"), ("/bulk/aifs-cold", "{base}/cold"),
                 ("/var/log/aifs-witness", "{base}/witness"),
                 ("sudo ", ""), ("chown alice:", "chown nobody:")]


def unroff(line):
    """Text of one line of an .EX block as the reader sees it."""
    line = re.sub(r"\\f[BIRP]", "", line)
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\(em", "\u2014"),
                 ("\\&", ""), ("\\|", ""), ("\\~", " "), ("\\e", "\\")):
        line = line.replace(a, b)
    return line


def page_examples(page):
    """[(line, kind, options, setup lines, prelude lines, block lines)] of man page PAGE."""
    out, marker, setup, prelude, block, start = [], None, [], [], None, 0
    for n, ln in enumerate(source("man", page).splitlines(), 1):
        m = re.match(r'\.\\"\s*example(-setup|-prelude)?:\s*(.*)', ln)
        if block is not None:
            if ln.startswith(".EE"):
                out.append((start, marker, setup, prelude, block))
                marker, setup, prelude, block = None, [], [], None
            else:
                block.append(unroff(ln))
        elif m and m.group(1) == "-setup":
            setup.append(m.group(2))
        elif m and m.group(1) == "-prelude":
            prelude.append(m.group(2))
        elif m:
            marker = m.group(2).split()
        elif ln.startswith(".EX"):
            block, start = [], n
    return out


def transcript_script(lines):
    """A bash script that runs the `$` commands of a transcript as described above."""
    cmds, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        cmd = lines[i][2:]
        i += 1
        while (cmd.endswith(("\\", "|", "&&")) or cmd.count("'") % 2) and i < len(lines):
            cmd += "\n" + lines[i]
            i += 1
        output = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        cmds.append((cmd, output))
    script = ["set -e -o pipefail"]
    for cmd, output in cmds:
        words = cmd.split()
        if words[0] == "cat" and len(words) == 2 and output:
            script.append("[ -e %s ] || cat > %s <<'__AIFS_EXAMPLE__'\n%s\n__AIFS_EXAMPLE__"
                          % (words[1], words[1], "\n".join(output)))
        if output and re.match(r"(bash|%s): " % re.escape(os.path.basename(words[0])), output[0]):
            script.append("if %s\nthen echo 'expected to fail: %s' >&2; exit 1; fi"
                          % (cmd, cmd.replace("'", "")))
        else:
            script.append(cmd)
    return "\n".join(script) + "\n"


def map_paths(text, s):
    for a, b in EXAMPLE_PATHS:
        text = text.replace(a, b.format(store=s.store, mnt=s.mnt, base=s.base))
    return text


def run_example(s, page, line, kind, options, setup, prelude, lines, cwd):
    """Run one example block; returns (problem or None, the directory it ended in)."""
    env = dict(os.environ, PATH="%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
               % os.path.dirname(AIFS_BIN), PYTHONPATH=os.path.join(TOP, "python"))
    here = os.path.join(s.base, "example-cwd")
    pre = "".join(map_paths(ln, s) + "\n" for ln in setup)
    if kind == "python":
        prog = os.path.join(s.base, "example.py")
        with open(prog, "w") as f:
            f.write(map_paths("\n".join(prelude + lines), s) + "\n")
        body = "%s/usr/bin/python3 %s" % (pre, prog)
    elif kind == "transcript":
        body = pre + transcript_script([map_paths(ln, s) for ln in lines])
    else:
        body = "set -e -o pipefail\n" + pre + "".join(map_paths(ln, s) + "\n" for ln in lines)
    if "foreground" in options:
        body = ("(\n%s) &\nfor i in $(seq 600); do mountpoint -q %s && break; sleep 0.1; done\n"
                "umount %s\nwait $!\n" % (body, s.mnt, s.mnt))
    script = os.path.join(s.base, "example.sh")
    with open(script, "w") as f:
        f.write("trap 'pwd > %s' EXIT\n%s" % (here, body))
    p = subprocess.run(["/bin/bash", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    try:
        with open(here) as f:
            cwd = f.read().strip() or cwd
    except OSError:
        pass
    if p.returncode != 0:
        return ("%s line %d (%s): exit %d: %s" % (page, line, kind, p.returncode,
                p.stdout.decode("utf-8", "replace").strip()[-600:]), cwd)
    return None, cwd


def store_let_go(store, timeout=60):
    """Wait until no process holds STORE open (its flock on STORE/lock): after an
    unmount, the daemon still flushes its metadata for a moment, and removing the
    store under it would leave a half store behind."""
    import fcntl
    deadline = time.time() + timeout
    while True:
        try:
            fd = os.open(os.path.join(store, "lock"), os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            check(time.time() < deadline, "the daemon of %s did not let it go in %d s"
                  % (store, timeout))
            time.sleep(0.05)
        finally:
            os.close(fd)


def settle(s, want):
    """Bring the store to state WANT: mounted, unmounted or nostore."""
    if mounted(s.mnt) and (s.proc is None or want != "mounted"):
        rc, out = run(["umount", s.mnt], timeout=60)
        check(rc == 0, "umount %s after an example: %s" % (s.mnt, out))
        if s.proc is not None:
            s.unmount()
        else:
            store_let_go(s.store)   # a daemon an example started closes its store
    if want == "nostore":
        shutil.rmtree(s.store, ignore_errors=True)
    elif not os.path.exists(os.path.join(s.store, "aifs.conf")):
        s.mkfs()
    if want == "mounted" and not mounted(s.mnt):
        s.mount()       # waits for a daemon an example started to have exited


@test
def every_example_in_the_man_pages_runs():
    skip_native()
    pages = sorted(f for f in os.listdir(MAN) if re.search(r"\.[0-9]$", f))
    problems, ran = [], 0
    for page in pages:
        examples = page_examples(page)
        unmarked = [line for line, marker, _, _, _ in examples if not marker]
        if unmarked:
            problems.append("%s: blocks at lines %s have no `.\\\" example:` line" % (page, unmarked))
        with Store() as s:
            for sub in ("safe", "export", "cold"):
                os.mkdir(os.path.join(s.base, sub))
            cwd = s.base
            for line, marker, setup, prelude, lines in examples:
                if not marker or marker[0] == "none":
                    continue
                check(marker[0] in ("sh", "transcript", "python"),
                      "%s line %d: unknown example kind %r" % (page, line, marker))
                state = [w for w in marker[1:] if w in ("unmounted", "nostore")]
                settle(s, state[0] if state else "mounted")
                if state or any(re.match(r"(\$ )?(sudo )?umount ", ln) for ln in lines) or not os.path.isdir(cwd):
                    cwd = s.base        # outside the mount point, as umount needs
                problem, cwd = run_example(s, page, line, marker[0], marker[1:], setup, prelude,
                                           lines, cwd)
                ran += 1
                if problem:
                    problems.append(problem)
            settle(s, "mounted")
    check(ran > 0, "expected examples marked to run in man/, saw none")
    check(not problems, "%d of %d examples failed: %s" % (len(problems), ran, " || ".join(problems)))


def mount_options():
    """Option names fs/options.c accepts: the passthrough and ignored lists and the
    `!strncmp(w, "NAME=", N)` branches of its option parser."""
    src = source("fs", "options.c")
    names = set()
    lists = re.findall(r"static const char \*const (passthrough\w*|ignored)\[\]\s*=\s*\{(.*?)\};",
                       src, re.S)
    check(len(lists) >= 2, "fs/options.c: expected the passthrough and ignored option lists, "
          "saw %s" % [n for n, _ in lists])
    for _, body in lists:
        names.update(re.findall(r'"([^"]+)"', body))
    branches = re.findall(r'!strncmp\(w,\s*"([a-z_]+=)",\s*\d+\)\)\s*\{', src)
    check(branches, "fs/options.c: expected `!strncmp(w, \"NAME=\", N)` option branches, saw none")
    names.update(branches)
    return sorted(n.rstrip("=") for n in names)


@test
def every_mount_option_is_documented():
    options = mount_options()
    documented = macro_words(source("man", "aifs.8"))
    missing = [o for o in options if o not in documented]
    check(not missing, "man/aifs.8: expected a `.B name` or `.BR name` line for every mount "
          "option fs/options.c accepts (%d), missing: %s" % (len(options), ", ".join(missing)))


def aifsctl_commands():
    """The commands aifsctl's main() dispatches (if-chain or table form)."""
    src = source("tools", "aifsctl.c")
    m = re.search(r"\nint main\(.*?\n\}", src, re.S)
    check(m, "tools/aifsctl.c: expected a main() function")
    body = m.group(0)
    cmds = re.findall(r'!strcmp\(argv\[1\],\s*"([a-z][a-z-]*)"\)\)\s*return\s+cmd_', body)
    cmds += re.findall(r'\{\s*"([a-z][a-z-]*)"\s*,\s*cmd_', src)
    check(cmds, "tools/aifsctl.c: expected commands dispatched to cmd_* in main(), saw none")
    return sorted(set(cmds))


@test
def aifsctl_help_lists_every_command():
    cmds = aifsctl_commands()
    rc, out, err = call([AIFSCTL_BIN, "--help"])
    eq(rc, 0, "aifsctl --help exit status")
    in_help = {ln.split()[0] for ln in out.splitlines() if ln.startswith("  ") and ln.split()}
    page = source("man", "aifsctl.8")
    in_page = set()
    for ln in page.splitlines():
        m = re.match(r'\.(?:B|BR|BI|SS|SY|IP|TP)\s+(.*)', ln)
        if m:
            words = m.group(1).replace('"', " ").replace("\\-", "-").split()
            if words and words[0] == "aifsctl":
                words = words[1:]
            if words:
                in_page.add(words[0])
        in_page.update(re.findall(r"\\fB([a-z][a-z-]*)", ln))
    problems = []
    no_help = [c for c in cmds if c not in in_help]
    no_page = [c for c in cmds if c not in in_page]
    if no_help:
        problems.append("missing from aifsctl --help: %s" % ", ".join(no_help))
    if no_page:
        problems.append("missing from man/aifsctl.8: %s" % ", ".join(no_page))
    check(not problems, "aifsctl commands %s: %s" % (cmds, "; ".join(problems)))


def rendered(page):
    """The text of man page PAGE as man(1) shows it, one paragraph per line, words single-spaced."""
    p = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=2000n", os.path.join(MAN, page)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    eq(p.returncode, 0, "groff of %s" % page)
    text = p.stdout.decode("utf-8", "replace").replace("\u2010", "-").replace("\u2212", "-")
    return re.sub(r"[ \t]+", " ", text)


def help_words(argv):
    """(usage text, subcommands, options) of `ARGV --help`."""
    rc, out, err = call(argv + ["--help"])
    eq(rc, 0, "%s --help: exit status (stderr %r)" % (" ".join(argv), err))
    check(out.startswith("usage: "), "%s --help: expected its usage, saw %r" % (" ".join(argv), out[:100]))
    usage = out.split("\n\n")[0]
    subs = set()
    for c, verbs in re.findall(r"^(?:usage:)?\s+\S+ ([a-z]+) ([a-z][a-z|]*)\b", usage, re.M):
        if c == argv[-1]:
            subs.update(verbs.split("|"))
    opts = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][a-z-]*)", out))
    return out, subs, opts


@test
def every_subcommand_and_option_is_documented_and_completed():
    page = rendered("aifsctl.8")
    completion = source("dist", "bash-completion", "aifsctl")
    problems = []
    for cmd in aifsctl_commands():
        out, subs, opts = help_words([AIFSCTL_BIN, cmd])
        check(re.search(r"^(?:usage:)?\s+aifsctl %s\b" % cmd, out.split("\n\n")[0], re.M) and
              "commands:" not in out,
              "aifsctl %s --help: expected that command's usage, saw %r" % (cmd, out[:100]))
        if not re.search(r"\b%s\b" % cmd, completion):
            problems.append("completion lacks command %s" % cmd)
        for v in sorted(subs):
            if not re.search(r"\b%s (?:[a-z]+\|)*%s\b" % (cmd, v), page):
                problems.append("aifsctl.8 lacks '%s %s'" % (cmd, v))
            if not re.search(r"\b%s\b" % v, completion):
                problems.append("completion lacks '%s %s'" % (cmd, v))
        for o in sorted(opts - {"--help", "-h"}):
            if o not in page:
                problems.append("aifsctl.8 lacks %s of %s" % (o, cmd))
            if o not in completion:
                problems.append("completion lacks %s of %s" % (o, cmd))
    page = rendered("lsaifs.1")
    completion = source("dist", "bash-completion", "lsaifs")
    _, _, opts = help_words([LSAIFS_BIN])
    for o in sorted(opts):
        if o not in page:
            problems.append("lsaifs.1 lacks %s" % o)
        if o not in completion:
            problems.append("lsaifs completion lacks %s" % o)
    page = rendered("aifs.8")
    _, _, opts = help_words([AIFS_BIN])
    problems += ["aifs.8 lacks %s" % o for o in sorted(opts) if o not in page]
    check(not problems, "; ".join(problems))


@test
def usage_errors_print_that_commands_usage_and_exit_2():
    for argv, first in ((["restore", "/tmp", "abc"], "usage: aifsctl restore FILE|DIR N"),
                        (["retain", "/tmp", "--last", "x"], "usage: aifsctl retain DIR"),
                        (["hold", "x"], "usage: aifsctl hold FILE@vN TAG"),
                        (["versions"], "usage: aifsctl versions"),
                        (["audit", "prove", "/tmp/x"], "usage: aifsctl audit prove")):
        rc, out, err = call([AIFSCTL_BIN] + argv)
        eq((rc, out), (2, ""), "aifsctl %s: exit status and stdout" % " ".join(argv))
        lines = [ln for ln in err.splitlines() if ln.startswith("usage:")]
        check(lines and lines[0].startswith(first) and "commands:" not in err,
              "aifsctl %s: expected %r on stderr and not the whole help, saw %r" % (" ".join(argv), first, err))
    check("user.aifs.restore" not in os.listxattr("/tmp"), "no attribute left on /tmp")
    rc, out, err = call([AIFSCTL_BIN, "restore", "/tmp", "3"])
    eq(rc, 1, "aifsctl restore on a path outside aifs: exit status (%r)" % err)
    check("not on a mounted aifs" in err, "restore outside aifs says so: %r" % err)
    rc, out, err = call([AIFSCTL_BIN, "restore", "--help"])
    eq((rc, out.splitlines()[0]), (0, "usage: aifsctl restore FILE|DIR N"), "aifsctl restore --help")


# ------------------------------------------------------------------ lsaifs

def three_saves(d):
    """Save D/model.pt three times; returns the contents, oldest first."""
    saves = [data(("model", n), 20000 + 1000 * n) for n in (1, 2, 3)]
    path = os.path.join(d, "model.pt")
    for n, content in enumerate(saves, 1):
        write_file(path, content)
        wait_versions(d, "model.pt", list(range(1, n + 1)))
    return saves


@test
def lsaifs_long_shows_versions_and_area():
    skip_native()
    with Store() as s:
        ck = os.path.join(s.mnt, "checkpoints")
        saves = three_saves(ck)
        os.mkdir(os.path.join(ck, "run2"))
        shas = [hashlib.sha256(c).hexdigest() for c in saves]
        stored = os.getxattr(os.path.join(ck, "model.pt"), "user.aifs.stored_size").decode()
        out = lsaifs("-l", "--versions", ck)
        head, rows = long_rows(out, "lsaifs -l --versions checkpoints")
        eq(head, ["MODE", "SIZE", "STORED", "AREA", "VER", "VERS", "COMPLETE", "TIER", "SHA256",
                  "SEALED", "RETAIN", "SNAPSHOTS", "NAME"], "lsaifs -l header")
        eq(sorted(rows), ["model.pt", "run2"], "names listed")
        eq(rows["model.pt"], {
            "MODE": "-rw-r--r--", "SIZE": str(len(saves[2])), "STORED": stored,
            "AREA": "checkpoint", "VER": "3", "VERS": "3", "COMPLETE": "yes", "TIER": "hot",
            "SHA256": shas[2][:12], "SEALED": "-", "RETAIN": "-", "SNAPSHOTS": "-",
            "NAME": "model.pt"}, "lsaifs -l row of model.pt")
        eq(rows["run2"]["AREA"], "checkpoint", "area of run2")
        eq([rows["run2"][k] for k in ("VER", "VERS", "COMPLETE", "SHA256", "SNAPSHOTS")],
           ["-"] * 5, "lifecycle columns of directory run2")
        vdir = os.path.join(ck, ".aifs", "versions", "model.pt")
        times = [iso(os.stat(os.path.join(vdir, str(n))).st_mtime) for n in (1, 2, 3)]
        eq(version_lines(out), [
            ["@v1", times[0], str(len(saves[0])), "complete", shas[0][:12]],
            ["@v2", times[1], str(len(saves[1])), "complete", shas[1][:12]],
            ["@v3", times[2], str(len(saves[2])), "complete", shas[2][:12], "(current)"]],
            "lsaifs --versions lines")

        doc = lsaifs_json("--versions", os.path.join(ck, "model.pt"))
        eq(doc, {"version": 1, "entries": [{
            "path": os.path.join(ck, "model.pt"), "name": os.path.join(ck, "model.pt"),
            "type": "file", "mode": "0644", "size": len(saves[2]), "stored": int(stored),
            "area": "checkpoint", "current_version": 3, "version_count": 3,
            "versions": [{"version": n, "time": times[n - 1], "size": len(saves[n - 1]),
                          "complete": True, "sha256": shas[n - 1]} for n in (1, 2, 3)],
            "complete": True, "tier": "hot", "sha256": shas[2], "snapshots": None,
            "sealed": None, "retention_until": None, "holds": None}]}, "lsaifs --json --versions model.pt")

        # Any user who can read the paths sees the same: it is all plain file access.
        code, out, err = call(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               LSAIFS_BIN, "--json", "--versions", os.path.join(ck, "model.pt")])
        eq((code, err), (0, ""), "lsaifs as user nobody: exit status and stderr")
        eq(json.loads(out), doc, "lsaifs --json --versions model.pt as user nobody")

        # The version files themselves, reached by name through .aifs.
        _, rows = long_rows(lsaifs("-l", vdir), "lsaifs -l .aifs/versions/model.pt")
        eq(sorted(rows), ["1", "2", "3"], "names in .aifs/versions/model.pt")
        eq([(rows[n]["VER"], rows[n]["SHA256"], rows[n]["MODE"]) for n in ("1", "2", "3")],
           [(str(n), shas[n - 1][:12], "-r--r--r--") for n in (1, 2, 3)],
           "version, sha256 and mode of each version file")
        # .aifs is never listed, even with -a; names only without -l.
        eq(lsaifs("-a", ck).splitlines(), ["model.pt", "run2"], "lsaifs -a checkpoints")


@test
def lsaifs_json_schema_is_stable():
    skip_native()
    page = source("man", "lsaifs.1")
    section = page.split('.SS "JSON format"')[1].split(".SH")[0]
    documented = set(re.findall(r"^\.TP\n\.B (\w+)", section, re.M))
    documented |= set(re.findall(r"^\.TQ\n\.B (\w+)", section, re.M))
    eq(documented, ENTRY_KEYS | {"versions"}, "keys of a JSON entry documented in lsaifs(1)")
    with Store() as s:
        ck = os.path.join(s.mnt, "checkpoints")
        three_saves(ck)
        ds = os.path.join(s.mnt, "datasets", "corpus")
        os.mkdir(ds)
        write_file(os.path.join(ds, "a.jsonl"), b'{"text": "hello"}\n')
        write_file(os.path.join(s.mnt, "audit", "requests.log"), b"request 1\n")
        os.symlink("model.pt", os.path.join(ck, "latest"))
        for args in ([], ["--versions"]):
            doc = lsaifs_json("-R", *args, s.mnt)
            eq(sorted(doc), ["entries", "version"], "top-level keys")
            eq(doc["version"], 1, "schema version")
            by_path = {e["path"]: e for e in doc["entries"]}
            rel = sorted(os.path.relpath(p, s.mnt) for p in by_path)
            eq(rel, ["audit", "audit/requests.log", "checkpoints", "checkpoints/latest",
                     "checkpoints/model.pt", "datasets", "datasets/corpus",
                     "datasets/corpus/a.jsonl"], "paths of lsaifs -R --json %s" % args)
            want = ENTRY_KEYS | ({"versions"} if args else set())
            for e in doc["entries"]:
                eq(set(e), want, "keys of entry %s with %s" % (e["path"], args))
                eq(e["name"], os.path.basename(e["path"]), "name of %s" % e["path"])
                check(re.fullmatch(r"0[0-7]{3}", e["mode"]), "%s: mode %r" % (e["path"], e["mode"]))
                check(isinstance(e["size"], int) and isinstance(e["stored"], int),
                      "%s: integer size and stored" % e["path"])
                if e["path"].endswith("requests.log"):
                    eq((e["sealed"], e["holds"]), (True, []), "journal keys of %s" % e["path"])
                    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["retention_until"] or ""),
                          "retention_until of %s: %r" % (e["path"], e["retention_until"]))
                else:
                    eq((e["sealed"], e["retention_until"], e["holds"]), (None, None, None),
                       "journal keys of %s" % e["path"])
                for v in e.get("versions", []):
                    eq(set(v), VERSION_KEYS, "keys of a version of %s" % e["path"])
            model = by_path[os.path.join(ck, "model.pt")]
            eq((model["type"], model["area"], model["current_version"], model["version_count"],
                model["complete"], model["tier"], len(model["sha256"])),
               ("file", "checkpoint", 3, 3, True, "hot", 64), "model.pt entry")
            if args:
                eq([v["version"] for v in model["versions"]], [1, 2, 3], "versions of model.pt")
            eq(by_path[os.path.join(ck, "latest")]["type"], "symlink", "type of latest")
            eq(by_path[os.path.join(s.mnt, "audit", "requests.log")]["area"], "journal",
               "area of audit/requests.log")
            corpus = by_path[ds]
            eq((corpus["type"], corpus["area"], corpus["snapshots"], corpus["version_count"]),
               ("dir", "dataset", [], None), "datasets/corpus entry")
            eq(by_path[os.path.join(ds, "a.jsonl")]["sha256"],
               hashlib.sha256(b'{"text": "hello"}\n').hexdigest(), "sha256 of a.jsonl")


@test
def lsaifs_snapshots_column():
    skip_native()
    with Store() as s:
        datasets = os.path.join(s.mnt, "datasets")
        ds = os.path.join(datasets, "corpus")
        os.mkdir(ds)
        os.mkdir(os.path.join(datasets, "other"))
        for n in range(3):
            write_file(os.path.join(ds, "part-%d.txt" % n), data(("part", n), 5000))
        for tag in ("v2", "v1"):
            code, out, err = call([AIFSCTL_BIN, "snapshot", "create", ds, tag])
            eq(code, 0, "aifsctl snapshot create %s: %s%s" % (tag, out, err))
        _, rows = long_rows(lsaifs("-l", datasets), "lsaifs -l datasets")
        eq((rows["corpus"]["AREA"], rows["corpus"]["SNAPSHOTS"]), ("dataset", "v1,v2"),
           "area and snapshots of corpus")
        eq(rows["other"]["SNAPSHOTS"], "-", "snapshots of a dataset dir without any")
        _, rows = long_rows(lsaifs("-ld", ds), "lsaifs -ld datasets/corpus")
        eq(rows[ds]["SNAPSHOTS"], "v1,v2", "lsaifs -ld datasets/corpus")
        doc = lsaifs_json(datasets)
        snaps = {e["name"]: e["snapshots"] for e in doc["entries"]}
        eq(snaps, {"corpus": ["v1", "v2"], "other": []}, "JSON snapshots of datasets/*")
        _, rows = long_rows(lsaifs("-l", s.mnt), "lsaifs -l of the root")
        eq(rows["checkpoints"]["SNAPSHOTS"], "-", "snapshots column of a checkpoint dir")
        # The frozen tree of a snapshot lists like any directory, with the same hashes.
        _, live = long_rows(lsaifs("-l", ds), "lsaifs -l corpus")
        _, frozen = long_rows(lsaifs("-l", os.path.join(ds, ".aifs", "snapshots", "v1")),
                              "lsaifs -l corpus/.aifs/snapshots/v1")
        eq({n: r["SHA256"] for n, r in frozen.items()},
           {n: r["SHA256"] for n, r in live.items()}, "sha256 column of snapshot v1 vs live")


@test
def lsaifs_reports_bad_paths_and_usage():
    skip_native()
    with Store() as s:
        ck = os.path.join(s.mnt, "checkpoints")
        write_file(os.path.join(ck, "a.pt"), b"x")
        missing = os.path.join(s.mnt, "nope")
        code, out, err = call([LSAIFS_BIN, missing, ck])
        eq(code, 1, "lsaifs with a missing path: exit status")
        eq(out, "%s:\na.pt\n" % ck, "lsaifs with a missing path: the other path still listed")
        eq(err.count("\n"), 1, "one line on stderr per bad path (%r)" % err)
        check(missing in err and "No such file" in err, "stderr names the path: %r" % err)
        code, out, err = call([LSAIFS_BIN, "--no-such-option"])
        eq(code, 2, "lsaifs --no-such-option: exit status")
        code, out, err = call([LSAIFS_BIN, "--help"])
        eq(code, 0, "lsaifs --help: exit status")
        check(out.startswith("usage: lsaifs"), "lsaifs --help: usage on stdout, saw %r" % out[:80])


main()
