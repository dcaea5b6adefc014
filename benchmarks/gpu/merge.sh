#!/usr/bin/env bash
# On the device: gather the parts carried by stage.sh's calls, check every file, export the pickles.
#   bash benchmarks/gpu/merge.sh --collect    (each staging call: copy what it carried to /tmp/raw)
#   bash benchmarks/gpu/merge.sh DATA_DIR     (last call: collect, check all 30 files, export)
# Fails fast (exit 3) naming what is missing, so no device time goes into a job without its data.
set -euo pipefail
OUT=$1
RAW=/tmp/raw; mkdir -p "$RAW"
for p in .devdata/*/; do [ -d "$p" ] && cp -rn "$p"* "$RAW/"; done
if [ "$OUT" = "--collect" ]; then find "$RAW" -type f | wc -l; exit 0; fi
missing=()
for f in cifar.py checksums.json; do [ -f "$RAW/$f" ] || missing+=("$f"); done
for ds in cifar10 cifar100; do  # cifar.py exports both
  for f in train_labels.npz test_labels.npz test_00.webp test_01.webp \
           train_00.webp train_01.webp train_02.webp train_03.webp train_04.webp \
           train_05.webp train_06.webp train_07.webp train_08.webp train_09.webp; do
    [ -f "$RAW/$ds/$f" ] || missing+=("$ds/$f")
  done
done
if [ ${#missing[@]} -gt 0 ]; then echo "merge: missing ${missing[*]}" >&2; exit 3; fi
python3 "$RAW/cifar.py" export "$OUT"  # decodes from its own folder, checks md5 of the CIFAR-10 files
ls "$OUT"
