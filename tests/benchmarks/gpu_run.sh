#!/usr/bin/env bash
# Issue 15's GPU figures in one device call: installs the wheels carried in .whl (what the
# device image lacks: tests/benchmarks/gpu_wheels.sh fetches them here), then runs gpu_all.py
# with its log and figures under $OUT. Arguments go to gpu_all.py.
#   run(command="bash tests/benchmarks/gpu_run.sh", carry=[".whl"], timeout_s=590)
set -o pipefail
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
OUT=${OUT:-/tmp/gpu-figures}
mkdir -p "$OUT"
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch, diffusers, transformers; print('torch', torch.__version__, \
'diffusers', diffusers.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
"$PYTHON" tests/benchmarks/gpu_all.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
