#!/usr/bin/env bash
# Fetch, here, the wheels gpu_run.sh installs on the device machine: the packages its image
# (Python 3.12, torch 2.11, transformers 5.17) lacks, at the versions this venv runs. .whl is
# ignored by git (.git/info/exclude) and travels with run(carry=[".whl"]).
set -e
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
version() { python -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf .whl
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
    "diffusers==$(version diffusers)" "torchsde==$(version torchsde)" \
    "trampoline==$(version trampoline)" "platformdirs==$(version platformdirs)" importlib_metadata
du -sh .whl
