#!/usr/bin/env bash
# Build NodeStudio's one-folder bundle with PyInstaller and smoke-test it (docs/PACKAGING.md).
#
#   packaging/build.sh            # build into build/bundle/dist/nodestudio, then smoke-test
#   packaging/build.sh --test-only   # smoke-test an existing bundle
#
# Uses the active Python environment (it must have NodeStudio's dependencies and pyinstaller:
# `pip install pyinstaller`). The bundle carries that environment's torch: the Linux PyPI wheel
# is the CUDA build (~6-7 GB); build from a venv with the CPU wheels for a small CPU-only one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${NODESTUDIO_BUNDLE_OUT:-$ROOT/build/bundle}
APP=$OUT/dist/nodestudio/nodestudio
SMOKE=$OUT/smoke

if [[ "${1:-}" != "--test-only" ]]; then
    python -c "import PyInstaller" 2>/dev/null || {
        echo "build.sh: pyinstaller is not installed here; run: pip install pyinstaller" >&2
        exit 2
    }
    start=$(date +%s)
    pyinstaller --noconfirm --log-level WARN --distpath "$OUT/dist" --workpath "$OUT/work" \
        packaging/pyinstaller/nodestudio.spec
    echo "build: $(( $(date +%s) - start )) s"
fi

[[ -x "$APP" ]] || { echo "build.sh: no bundle at $APP" >&2; exit 1; }
echo "bundle size: $(du -sh "$OUT/dist/nodestudio" | cut -f1)"
rm -rf "$SMOKE" && mkdir -p "$SMOKE/home"
# A private HOME: the smoke test must not read or change the builder's settings.
export HOME=$SMOKE/home XDG_CONFIG_HOME=$SMOKE/home/.config XDG_DATA_HOME=$SMOKE/home/.local/share
export QT_QPA_PLATFORM=offscreen

"$APP" --version | tee "$SMOKE/version.txt"
grep -q "nodestudio $(python -c 'import nodestudio; print(nodestudio.__version__)')" \
    "$SMOKE/version.txt"

start=$(date +%s)
"$APP" --screenshot "$SMOKE/window.png"
python - "$SMOKE/window.png" <<'PY'
import sys
import numpy as np
from PIL import Image
image = Image.open(sys.argv[1])
assert image.width >= 400 and image.height >= 300, image.size
assert np.unique(np.asarray(image.convert("L"))).size > 8, "the window screenshot is blank"
print(f"window screenshot: {image.size}")
PY
echo "window: $(( $(date +%s) - start )) s"

start=$(date +%s)
WORKFLOW=$OUT/dist/nodestudio/_internal/nodestudio/_bundled/resources/workflows/text_to_image.json
"$APP" run "$WORKFLOW" --device cpu --output "$SMOKE/images"
python - "$SMOKE/images" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
images = sorted(Path(sys.argv[1]).rglob("*.png"))
assert images, "the demo workflow wrote no image"
pixels = np.asarray(Image.open(images[0]).convert("RGB"), dtype=np.float32)
assert pixels.std() > 5, "the demo image is flat"
print(f"demo image: {images[0].name} {pixels.shape}")
PY
echo "demo run: $(( $(date +%s) - start )) s"

"$APP" --install-desktop
test -f "$XDG_DATA_HOME/applications/org.nodestudio.NodeStudio.desktop"
"$APP" --uninstall-desktop
test ! -e "$XDG_DATA_HOME/applications/org.nodestudio.NodeStudio.desktop"
echo "smoke test: OK"
