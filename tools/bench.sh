#!/usr/bin/env bash
# Side-by-side forward latency: camserve bench vs ONNX Runtime (../shared/peers/ort-bench),
# same model, same threads, batch 1, alternating in one run (this machine is shared and noisy).
#   tools/bench.sh [MODEL...]      default: the four models of the speed target
# Env: THREADS="1 2", RUNS=30 (timed runs per measurement), ROUNDS=5, SHARED=../shared,
#      BIN=build/camserve
# For each model and thread count, ROUNDS rounds of camserve and ORT (the order
# alternating from round to round); a round's result is its median latency, and
# the table shows the median of the rounds for each (and their ratio), so a
# burst of load from other processes lands on both sides or shifts one round,
# not the verdict.  The rounds' medians go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${BIN:-build/camserve}
THREADS=${THREADS:-"1 2"}
RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-5}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(tv-resnet18 tv-googlenet tv-squeezenet1_1 mobilenetv2-imagenet)
peer="$SHARED/peers/ort-bench"
have_peer=1
if ! "$peer" "$SHARED/models/tv-squeezenet1_1/model.onnx" 1 1 224 2 >/dev/null 2>&1; then
  echo "bench: ort-bench is not runnable here (needs node + npm registry); camserve numbers only" >&2
  have_peer=0
fi
field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
printf '%-22s %7s %12s %12s %7s %8s\n' model threads camserve_ms ort_ms ratio rss_mb
for m in "${models[@]}"; do
  for t in $THREADS; do
    cs=(); os=(); rss=0
    for r in $(seq "$ROUNDS"); do
      # odd rounds run camserve first, even rounds ORT first: neither side
      # always gets the slot right after the other's warm caches or load
      for side in $([ $((r % 2)) -eq 1 ] && echo "cs ort" || echo "ort cs"); do
        if [ "$side" = cs ]; then
          c=$("$BIN" bench --model "$SHARED/models/$m" --threads "$t" --runs "$RUNS")
          cs+=("$(echo "$c" | field median_ms)"); rss=$(echo "$c" | field peak_rss_mb)
        elif [ $have_peer -eq 1 ]; then
          o=$("$peer" "$SHARED/models/$m/model.onnx" "$t" 1 224 "$RUNS")
          os+=("$(echo "$o" | field median_ms)")
        fi
      done
    done
    echo "# $m threads $t: camserve ${cs[*]} | ort ${os[*]:-}" >&2
    cm=$(median "${cs[@]}"); om="-"; ratio="-"
    if [ $have_peer -eq 1 ]; then
      om=$(median "${os[@]}")
      ratio=$(awk -v a="$cm" -v b="$om" 'BEGIN{printf "%.2f", a/b}')
    fi
    printf '%-22s %7s %12s %12s %7s %8s\n' "$m" "$t" "$cm" "$om" "$ratio" "$rss"
  done
done
