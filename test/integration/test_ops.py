#!/usr/bin/python3
"""Operators and auditors (issue 22): install and mount with any prefix, uninstall,
systemd unit and completions, reports (sealed and retention attributes, lsaifs,
tier status, metrics, JSON), proofs of one record, and the manual pages."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFS_BIN, AIFSCTL_BIN, TOP, Fail, Store, check, eq,  # noqa: E402
                     main, mounted, read_all, run, skip_native, test, write_file)

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


if __name__ == "__main__":
    main()
