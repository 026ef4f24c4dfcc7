#!/usr/bin/env bash
# A one-minute tour of aifs (run by `make demo`): mount a fresh store in a
# temporary directory, train a small PyTorch model that saves a checkpoint
# every epoch, look at the versions, load an old one, snapshot a dataset,
# change it and diff it; then unmount and remove everything, even on failure.
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

base=$(mktemp -d /tmp/aifs-demo.XXXXXX)
store=$base/store
mnt=$base/mnt

cleanup() {
	local rc=$?
	cd /
	if mountpoint -q "$mnt" 2>/dev/null; then
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			{ umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null; } && break
			sleep 0.5
		done
		mountpoint -q "$mnt" && { umount -l "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"; }
	fi
	# The daemon holds STORE/lock (flock) until it has closed the store.
	[ -e "$store/lock" ] && ! flock -w 30 "$store/lock" true &&
		echo "demo: the aifs daemon did not exit within 30 s" >&2
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
run() { printf '$ %s\n' "$*"; "$@"; }
# run_sh 'COMMAND': show a shell command exactly as written, then run it.
run_sh() { printf '$ %s\n' "$1"; eval "$1"; }

# wait_for PATH: poll up to 10 s (a version appears as the writer closes the file).
wait_for() {
	for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	echo "demo: $1 did not appear" >&2
	return 1
}

say "Make a store and mount it"
run aifsctl mkfs "$store"
mkdir "$mnt"
run aifs "$store" "$mnt"
cd "$mnt"
run ls
run lsaifs -l

say "Train a small model; torch.save writes checkpoints/model.pt after every epoch"
cat >"$base/train.py" <<'EOF'
import torch

torch.manual_seed(0)
x = torch.randn(512, 16)
y = x @ torch.randn(16, 1) + 0.1 * torch.randn(512, 1)
model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for epoch in range(1, 4):
    for i in range(0, 512, 32):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[i:i + 32]), y[i:i + 32])
        loss.backward()
        opt.step()
    loss = torch.nn.functional.mse_loss(model(x), y).item()
    torch.save({"epoch": epoch, "loss": loss, "model": model.state_dict()},
               "checkpoints/model.pt")
    print("epoch %d: loss %.4f, saved checkpoints/model.pt" % (epoch, loss))
EOF
sed -n '/^for epoch/,$p' "$base/train.py"
run python3 "$base/train.py"
wait_for checkpoints/.aifs/versions/model.pt/3

say "Each save became a numbered, immutable version with a SHA-256"
run lsaifs -l --versions checkpoints
run aifsctl versions checkpoints/model.pt

say "Load the epoch-1 model from version 1 (model.pt@v1), the current one from model.pt"
run ls checkpoints checkpoints/.aifs/versions/model.pt
run_sh "python3 -c 'import torch
for name in (\"checkpoints/model.pt@v1\", \"checkpoints/model.pt\"):
    ck = torch.load(name)
    print(name, \"epoch\", ck[\"epoch\"], \"loss %.4f\" % ck[\"loss\"])'"

say "Prepare a dataset and freeze it as snapshot v1 (no data is copied)"
run mkdir datasets/corpus
run_sh 'for i in 0 1 2; do seq 200 | sed "s/.*/{\"shard\": $i, \"id\": &}/" > datasets/corpus/train-$i.jsonl; done'
run head -n 2 datasets/corpus/train-0.jsonl
run ls -l datasets/corpus
run aifsctl snapshot create datasets/corpus v1

say "Keep preparing the live tree: filter one shard, add one, drop one"
run_sh "sed -i '/\"id\": 1[0-9][0-9]}/d' datasets/corpus/train-1.jsonl"
run_sh "echo '{\"shard\": 3, \"id\": 1}' > datasets/corpus/train-3.jsonl"
run rm datasets/corpus/train-0.jsonl
run aifsctl snapshot diff datasets/corpus v1 live

say "The snapshot still holds the frozen data; training can read it while the live tree changes"
run wc -l datasets/corpus/.aifs/snapshots/v1/train-0.jsonl datasets/corpus/.aifs/snapshots/v1/train-1.jsonl
run lsaifs -l datasets/corpus
run lsaifs -ld datasets/corpus

say "Done: unmounting and removing $base"
