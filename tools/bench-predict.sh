#!/usr/bin/env bash
# Per-stage timings of `camserve predict` on the 512-px photos of ../shared/images
# (mobilenetv2-imagenet, overlay PNG + base64 as the HTTP API returns them), and the
# cost of everything after the forward pass (cam + encode) relative to the forward pass.
#   tools/bench-predict.sh [REPEATS]      default 5
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${BIN:-build/camserve}
reps=${1:-5}
imgs=()
for f in "$SHARED"/images/*.jpg "$SHARED"/images/*.png; do imgs+=("$f"); done
args=()
for _ in $(seq "$reps"); do args+=("${imgs[@]}"); done
"$BIN" predict --model "$SHARED/models/mobilenetv2-imagenet" --embed-png "${args[@]}" | python3 -c '
import json, sys, statistics as st
rows = {}
for line in sys.stdin:
    d = json.loads(line)
    name = d["file"].rsplit("/", 1)[-1]
    rows.setdefault(name, []).append((d["image"], d["timing_ms"]))
print("%-18s %9s %7s %7s %7s %7s %7s %8s" % ("image", "size", "decode", "prep", "forward", "cam", "encode", "post/fwd"))
ratios = []
for name, rs in sorted(rows.items()):
    t = {k: st.median(r[1][k] for r in rs) for k in rs[0][1]}
    im = rs[0][0]
    ratio = (t["cam"] + t["encode"]) / t["forward"]
    if max(im["width"], im["height"]) <= 1024: ratios.append(ratio)
    print("%-18s %4dx%-4d %7.2f %7.2f %7.2f %7.2f %7.2f %7.0f%%" % (name, im["width"], im["height"], t["decode"],
          t["preprocess"], t["forward"], t["cam"], t["encode"], 100 * ratio))
print("median post-forward / forward over the images up to 1024 px: %.0f%%" % (100 * st.median(ratios)))
'
