#!/usr/bin/env bash
# Split the real CIFAR data into git-ignored parts that each fit one device call (64 MiB carried,
# working tree included), to be carried in back-to-back calls and merged there by merge.sh.
#   bash benchmarks/gpu/stage.sh [SHARED_DATA]      (default ../shared/data)
# .devdata/a: cifar.py, checksums.json, cifar10 labels + train_00..05
# .devdata/b: cifar10 train_06..09 + test       .devdata/c, .devdata/d: the same split of cifar100
# Device calls (the machine stays warm ~30 s between them, so send them back to back):
#   run(carry=[".devdata/a"], command="bash benchmarks/gpu/merge.sh --collect")
#   run(carry=[".devdata/b"], command="bash benchmarks/gpu/merge.sh --collect")      # then c likewise
#   run(carry=[".devdata/d"], command="bash benchmarks/gpu/merge.sh /tmp/data && CIFARZOO_GIT_COMMIT=<commit> PHASES='1 3' bash benchmarks/gpu/job.sh /tmp/data $OUT 480")
# Each call copies what it carried to /tmp/raw on the warm machine; the last checks all files first.
set -euo pipefail
SRC=${1:-../shared/data}
DST=.devdata
[ -f "$SRC/cifar.py" ] || { echo "no $SRC/cifar.py: pass the shared data folder" >&2; exit 2; }
rm -rf "$DST"; mkdir -p "$DST"/{a,b}/cifar10 "$DST"/{c,d}/cifar100
cp "$SRC/cifar.py" "$SRC/checksums.json" "$DST/a/"
for ds_part in "cifar10 a b" "cifar100 c d"; do
  set -- $ds_part; ds=$1; first=$2; second=$3
  cp "$SRC/$ds"/*_labels.npz "$DST/$first/$ds/"
  for i in 00 01 02 03 04 05; do cp "$SRC/$ds/train_$i.webp" "$DST/$first/$ds/"; done
  for i in 06 07 08 09; do cp "$SRC/$ds/train_$i.webp" "$DST/$second/$ds/"; done
  cp "$SRC/$ds"/test_*.webp "$DST/$second/$ds/"
done
tree_bytes=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
for p in a b c d; do
  total=$(( $(du -sb "$DST/$p" | cut -f1) + tree_bytes ))
  printf '%s: %5.1f MiB with the working tree%s\n' "$p" "$(echo "$total/1048576" | bc -l)" \
    "$([ $total -gt 67108864 ] && echo '  TOO LARGE for one call' || true)"
done
