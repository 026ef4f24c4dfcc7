#!/usr/bin/env bash
# A tour of aifs (run by `make demo`), in under three minutes: make a store
# under ./demo/ of the source tree and mount it; prepare a small dataset of
# tensors and snapshot it; change the live tree and diff it; train a tiny
# PyTorch model on the snapshot, saving a checkpoint every epoch; list versions
# and their lineage, restore and load versions; branch the dataset and
# restore a directory checkpoint; serve requests that are
# journaled into audit/; show the
# signed journal head and the mount's status; unmount, verify the journal and
# check the store.  ./demo/ is removed at the end, even on failure.
#
# usage: test/demo.sh [BUILD_DIR]      (default: build)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
for b in aifs aifsctl lsaifs; do
	[ -x "$build/$b" ] || { echo "demo: $build/$b is missing; run make first" >&2; exit 1; }
done
PATH=$build:$PATH
# The Debian python3 that has python3-torch, whatever else PATH may hold.
python3() { /usr/bin/python3 "$@"; }
/usr/bin/python3 -c 'import torch' 2>/dev/null ||
	{ echo "demo: /usr/bin/python3 cannot import torch; run make deps (as root)" >&2; exit 1; }

base=$top/demo
store=$base/store
mnt=$base/mnt
started=$(date +%s)

if mountpoint -q "$mnt" 2>/dev/null; then
	echo "demo: $mnt is still mounted from an earlier run; umount it first" >&2
	exit 1
fi
rm -rf "$base"
mkdir -p "$base/scripts" "$mnt"

unmount() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			{ umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null; } && break
			sleep 0.5
		done
		mountpoint -q "$mnt" && { umount -l "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"; }
	fi
	# The daemon holds STORE/lock (flock) until it has closed the store.
	if [ -e "$store/lock" ] && ! flock -w 30 "$store/lock" true; then
		echo "demo: the aifs daemon did not exit within 30 s" >&2
		return 1
	fi
}

cleanup() {
	local rc=$?
	cd /
	unmount || true
	# Never remove a directory that is still a mount point.
	if mountpoint -q "$mnt" 2>/dev/null; then
		echo "demo: $mnt is still mounted; left $base in place" >&2
	else
		rm -rf "$base"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }
note() { printf '#   %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# run_sh 'COMMAND': show a shell command exactly as written, then run it.
run_sh() { printf '$ %s\n' "$1"; eval "$1"; }
# show FILE: print the interesting part of a script before running it.
show() { sed -n '/^# --- shown ---$/,$p' "$1" | sed 1d | sed 's/^/    /'; }

# wait_for PATH: poll up to 10 s (a version appears as the writer closes the file).
wait_for() {
	for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	echo "demo: $1 did not appear" >&2
	return 1
}

say "1. Make a store under ./demo/store and mount it on ./demo/mnt"
run aifsctl mkfs "$store"
run aifs "$store" "$mnt"
cd "$mnt"
note "mkfs made one directory per area: datasets/ (snapshots), checkpoints/ (versions), audit/ (journal)"
run lsaifs -l

say "2. Prepare a dataset: 256 samples, one tensor file (.pt) per sample"
cat >"$base/scripts/prepare.py" <<'EOF'
import os
import torch

# --- shown ---
torch.manual_seed(0)
w = torch.randn(16, 1)                       # the rule the model has to learn
os.makedirs("datasets/toy", exist_ok=True)
for i in range(256):
    x = torch.randn(16)
    y = x @ w + 0.05 * torch.randn(1)
    torch.save({"x": x, "y": y}, "datasets/toy/sample-%03d.pt" % i)
print("wrote 256 samples to datasets/toy/")
EOF
show "$base/scripts/prepare.py"
run python3 "$base/scripts/prepare.py"
run_sh 'ls datasets/toy | sed -n 1,3p; ls datasets/toy | wc -l'

say "3. Freeze the dataset as snapshot v1: instant, and no data is copied"
run aifsctl snapshot create datasets/toy v1
run aifsctl snapshot list datasets/toy
run lsaifs -ld datasets/toy
note "the frozen tree is read-only under datasets/toy/.aifs/snapshots/v1"

say "4. Keep preparing the live tree: drop 2 samples, relabel one, add one"
run rm datasets/toy/sample-000.pt datasets/toy/sample-001.pt
run_sh "python3 -c 'import torch; s = torch.load(\"datasets/toy/sample-002.pt\"); s[\"y\"] *= -1; torch.save(s, \"datasets/toy/sample-002.pt\")'"
run cp datasets/toy/sample-003.pt datasets/toy/sample-256.pt
note "snapshot diff compares stored SHA-256s: it reads metadata, not the data"
run aifsctl snapshot diff datasets/toy v1 live
note "- only in v1, + only in the live tree, M changed"

say "4b. Branch the dataset: a writable copy of snapshot v1 that shares its data"
run aifsctl snapshot clone datasets/toy v1 datasets/toy-branch
run rm datasets/toy-branch/sample-255.pt
run aifsctl snapshot diff datasets/toy v1 datasets/toy-branch
note "the branch is yours to change; v1 and the live tree are untouched"

say "5. Train a tiny model for 3 epochs, reading the snapshot; save a checkpoint every epoch"
cat >"$base/scripts/train.py" <<'EOF'
import os
import torch
from torch.utils.data import DataLoader, Dataset

# --- shown ---
class Samples(Dataset):
    def __init__(self, root):
        self.files = sorted(os.path.join(root, f) for f in os.listdir(root))
    def __len__(self):
        return len(self.files)
    def __getitem__(self, i):
        s = torch.load(self.files[i])
        return s["x"], s["y"]

data = Samples("datasets/toy/.aifs/snapshots/v1")      # the frozen snapshot
loader = DataLoader(data, batch_size=32, shuffle=True, num_workers=2)
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.02)
os.makedirs("checkpoints/run", exist_ok=True)
for epoch in range(1, 4):
    total = 0.0
    for x, y in loader:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * len(x)
    torch.save(model.state_dict(), "checkpoints/run/model.pt")
    print("epoch %d: %d samples, loss %.4f, saved checkpoints/run/model.pt"
          % (epoch, len(data), total / len(data)))
EOF
show "$base/scripts/train.py"
note "AIFS_JOB=toy-train names the training job (without it, the job is the training command and the processes it starts)"
export AIFS_JOB=toy-train
run python3 "$base/scripts/train.py"
unset AIFS_JOB
wait_for checkpoints/run/.aifs/versions/model.pt/3

say "6. Every save became a numbered, immutable version with its SHA-256 (no copies)"
run lsaifs -l --versions checkpoints/run
note "and each version records what its job read: its lineage, captured by aifs"
run aifsctl lineage checkpoints/run/model.pt@v3

say "7. Roll back: make version 1 the newest again (a new version, no copy)"
run aifsctl restore checkpoints/run/model.pt 1
wait_for checkpoints/run/.aifs/versions/model.pt/4
run aifsctl versions checkpoints/run/model.pt
note "model.pt now serves version 4 (the content of version 1); model.pt@vN reads any version"

say "7b. A directory checkpoint: each save_pretrained-style save (config + weights) is one version"
cat >"$base/scripts/save_dir.py" <<'EOF'
import json, os, sys, torch
d, step = "checkpoints/hf", int(sys.argv[1])
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "config.json"), "w") as f:
    json.dump({"step": step, "hidden": 32}, f)
torch.save(torch.nn.Linear(16, 32).state_dict(), os.path.join(d, "pytorch_model.bin"))
EOF
run python3 "$base/scripts/save_dir.py" 1
run python3 "$base/scripts/save_dir.py" 2
run aifsctl versions checkpoints/hf
run aifsctl restore checkpoints/hf 1
run_sh 'cat checkpoints/hf/config.json; echo'
note "the directory holds save 1 again; what it held is kept as version 3, the restore is version 4"

say "8. Serve the epoch-2 model (model.pt@v2); journal every request into audit/"
cat >"$base/scripts/serve.py" <<'EOF'
import hashlib
import json
import os
import time
import torch

# --- shown ---
path = "checkpoints/run/model.pt@v2"
sha = os.getxattr(path, "user.aifs.sha256").decode()
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
model.load_state_dict(torch.load(path))
model.eval()
torch.manual_seed(2)
# A journal file is append-only and is sealed when it is closed.
log = os.open("audit/requests.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for request in range(20):
    x = torch.randn(16)
    t0 = time.perf_counter()
    with torch.no_grad():
        y = model(x).item()
    entry = {"request": request,
             "input_sha256": hashlib.sha256(x.numpy().tobytes()).hexdigest(),
             "output": round(y, 6),
             "latency_ms": round((time.perf_counter() - t0) * 1000, 3),
             "model": path, "model_sha256": sha}
    os.write(log, (json.dumps(entry) + "\n").encode())
os.close(log)
print("served 20 requests with %s (sha256 %s...)" % (path, sha[:16]))
EOF
show "$base/scripts/serve.py"
run python3 "$base/scripts/serve.py"
run head -n 2 audit/requests.jsonl
run_sh "{ echo tampered >> audit/requests.jsonl; } 2>/dev/null || echo 'refused: the file was sealed when the server closed it'"
note "each write is a record of a Merkle log; its head is signed with the store's key"
run aifsctl audit head "$mnt"

say "9. The mount at a glance"
if aifsctl status --help >/dev/null 2>&1; then
	run aifsctl status "$mnt"
else
	note "(this build has no 'aifsctl status' yet; skipped)"
fi

say "10. Unmount, then check the store offline"
cd "$top"
run umount "$mnt"
unmount
note "verify the journal with only the public key, and every invariant of the store"
run aifsctl audit verify "$store"
run aifsctl fsck "$store"

say "Done in $(( $(date +%s) - started )) s; removing ./demo"
