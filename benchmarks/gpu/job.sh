#!/usr/bin/env bash
# One GPU session (15 minutes of device time in all) turned into weights and timings.
#   bash benchmarks/gpu/job.sh DATA_DIR OUT_DIR [BUDGET_S]
# Phase 0: throughput table (synthetic data, one model at a time, GPU to itself).
# Phase 1: resnet18_cifar10_fast alone on the GPU (headline timing, torch.compile; eager if compile fails).
# Phase 2: the small-model queue and resnet50_e5_cifar100_fast in three processes sharing the GPU
#          (small models leave most of an H100/H200 idle; their wall times say "shared" in the summary).
# Phase 3: resnet50_e5_cifar100_fast alone on the GPU, with whatever time phase 1 left.
# PHASES picks the phases (default "0 1 2"); the headline session of the reproduction table is
#   PHASES="1 3" bash benchmarks/gpu/job.sh DATA OUT 480
# (resnet18 alone, then resnet50_e5 alone: no shared-GPU wall times).
# Data staging for the device: benchmarks/gpu/stage.sh here, benchmarks/gpu/merge.sh there.
# Everything lands in OUT_DIR; small run folders are packed so that they come back through $OUT.
set -uo pipefail
DATA=$1; OUT=$2; BUDGET=${3:-540}
START=$(date +%s); left() { echo $(( BUDGET - ($(date +%s) - START) )); }
RUNS=/tmp/gpu_runs; mkdir -p "$RUNS" "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{ nvidia-smi; python3 -c "import torch,sys; print(sys.version); print(torch.__version__, torch.cuda.get_device_name())"; git rev-parse HEAD 2>/dev/null; } > "$RUNS/env.txt" 2>&1
Q="python3 -m cifarzoo.train.queue"; QSET=${QSET:-}  # QSET="--set epochs=1" for a CPU dry run
PHASES=${PHASES:-"0 1 2"}; has() { [[ " $PHASES " == *" $1 "* ]]; }
# phase 1 leaves this much for what follows it (phase 2 or 3)
AFTER1=210; has 3 && AFTER1=${P3_MIN:-300}

if has 0; then
echo "== phase 0: throughput ($(left)s left)"
timeout 45 $Q --throughput-only resnet18 resnet50_e5 wrn28_10 densenet121 --batch-size 512 --steps 20 \
  --amp bf16 --channels-last --out "$RUNS/throughput" > "$RUNS/phase0.log" 2>&1
tail -n 6 "$RUNS/phase0.log"
fi

if has 1; then
echo "== phase 1: resnet18 ($(left)s left)"
P1=$(( $(left) - AFTER1 )); [ $P1 -gt 300 ] && P1=300
[ $P1 -lt 60 ] && { echo "only ${P1}s for phase 1: BUDGET too small for PHASES=\"$PHASES\"" >&2; exit 2; }
timeout $((P1 + 20)) $Q --recipes resnet18_cifar10_fast --data-dir "$DATA" $QSET --out "$RUNS/solo" \
  --time-budget $P1 --reserve-s 0 --compile on > "$RUNS/phase1.log" 2>&1
if ! grep -q '"status": "completed"' "$RUNS/solo/queue_summary.json" 2>/dev/null; then
  echo "resnet18 with compile did not complete; eager retry" | tee -a "$RUNS/phase1.log"
  P1=$(( $(left) - AFTER1 ))
  [ $P1 -gt 60 ] && timeout $((P1 + 20)) $Q --recipes resnet18_cifar10_fast --data-dir "$DATA" $QSET \
    --out "$RUNS/solo_eager" --time-budget $P1 --reserve-s 0 --compile off >> "$RUNS/phase1.log" 2>&1
fi
tail -n 4 "$RUNS/phase1.log"
fi

if has 2; then
echo "== phase 2: shared ($(left)s left)"
P2=$(( $(left) - 25 ))
timeout $((P2 + 15)) $Q --recipes resnet20_cifar10_fast resnet56_cifar10_fast resnet20_cifar100_fast \
  resnet56_cifar100_fast --data-dir "$DATA" $QSET --out "$RUNS/resnets" --time-budget $P2 --reserve-s 30 \
  --compile off > "$RUNS/phase2a.log" 2>&1 &
timeout $((P2 + 15)) $Q --recipes mobilenetv2_x0_5_cifar10_fast shufflenetv2_x1_0_cifar10_fast \
  mobilenetv2_x0_5_cifar100_fast shufflenetv2_x1_0_cifar100_fast --data-dir "$DATA" $QSET --out "$RUNS/mobile" \
  --time-budget $P2 --reserve-s 30 --compile off > "$RUNS/phase2b.log" 2>&1 &
timeout $((P2 + 15)) $Q --recipes resnet50_e5_cifar100_fast --data-dir "$DATA" $QSET --out "$RUNS/r50" \
  --time-budget $P2 --reserve-s 0 --compile off > "$RUNS/phase2c.log" 2>&1 &
wait
tail -n 6 "$RUNS"/phase2*.log
fi

if has 3; then
echo "== phase 3: resnet50_e5 alone ($(left)s left)"
P3=$(( $(left) - 25 ))
timeout $((P3 + 15)) $Q --recipes resnet50_e5_cifar100_fast --data-dir "$DATA" $QSET --out "$RUNS/r50_solo" \
  --time-budget $P3 --reserve-s 0 --compile on > "$RUNS/phase3.log" 2>&1
tail -n 6 "$RUNS/phase3.log"
fi

# pack: results/logs/metrics (no checkpoints, no large weights) + small weights, each file < 16 MiB
cd "$RUNS"
find . -name '*.safetensors' -size +6M -exec sh -c 'sha256sum "$1" > "$1.sha256"; ls -l "$1" >> "$1.sha256"; rm "$1"' _ {} \;
tar czf "$OUT/results.tgz" --exclude='*.safetensors' --exclude='checkpoint*' .
find . -name '*.safetensors' | sort > /tmp/weights.txt
split -n l/5 /tmp/weights.txt /tmp/wpart.
for p in /tmp/wpart.*; do [ -s "$p" ] && tar cf "$OUT/weights_$(basename "$p" | cut -d. -f2).tar" -T "$p"; done
ls -l "$OUT"; echo "done in $(( $(date +%s) - START ))s"
