#!/bin/bash
# One prepared run of a UNet phase on a GPU machine (issue 19: squares), minutes instead of an
# hour of CPU. Writes resumable state to $OUT/state (rerun the script to continue from it),
# the exported model to $OUT/models and the held-out evaluation to $OUT/eval.json.
#
#   OUT=/path/to/out STEPS=4000 bash tools/demo_model/gpu_unet_phase.sh
#
# Extra training flags go in PHASE_FLAGS (default: the squares phase of docs/DEMO_MODEL.md).
set -euo pipefail
OUT=${OUT:?set OUT to the output folder}
STEPS=${STEPS:-4000}
DEVICE=${DEVICE:-cuda}
PHASE_FLAGS=${PHASE_FLAGS:---batch 64 --lr 2e-4 --ema 0.995 --high-noise-fraction 0.4 \
--shape-focus 0.4 --focus-shapes square:2,circle:1 --word-probe 0.1}
STATE="$OUT/state"
mkdir -p "$STATE" "$OUT/models"
train() { python -m tools.demo_model.train --state-dir "$STATE" "$@"; }
if [ ! -f "$STATE/unet_shipped.pt" ]; then
    train --stage import                      # the shipped model is the starting point
fi
if [ ! -f "$STATE/latents/meta.json" ]; then
    train --stage latents --count 40000        # CPU: about a minute on 16 cores
fi
if [ -f "$STATE/unet.pt" ]; then
    # shellcheck disable=SC2086
    train --stage unet --resume --steps "$STEPS" --device "$DEVICE" $PHASE_FLAGS
else
    # shellcheck disable=SC2086
    train --stage unet --grow-from "$STATE/unet_shipped.pt" --steps "$STEPS" \
        --device "$DEVICE" $PHASE_FLAGS
fi
train --stage export --output "$OUT/models"
python -m tools.demo_model.evaluate --models "$OUT/models" --what heldout,seen,controlnet,outlines \
    --count 96 --sheets "$OUT/sheets" > "$OUT/eval.json"
echo "done: $OUT/eval.json"
