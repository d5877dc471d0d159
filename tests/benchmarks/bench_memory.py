"""Each memory mode under a memory budget: it/s and peak, on the same graph and model.

    python tests/benchmarks/bench_memory.py --device cpu                       # tiny, CPU
    python tests/benchmarks/bench_memory.py --device cuda --model sdxl --size 1024 --budget 8
    python tests/benchmarks/bench_memory.py --device cuda --model flux --size 1024 --budget 12 \
        --steps 3 --modes offload sequential fp8                     # Flux-dev in 12 GB

On CUDA the budget is enforced with ``torch.cuda.set_per_process_memory_fraction`` (a mode that
does not fit fails with the out-of-memory message, which is a figure too); on the CPU it is the
memory manager's budget, so "auto" picks as it would on such a card. Random weights at the
released shapes (bench_models.py), nothing downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_models import MODELS, build_model
from bench_sampler import make_graph
from gpu_all import ALL_MODES, _args, _memory_modes, _precision, _session_factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", choices=MODELS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--budget", type=float, default=0.002, help="GiB")
    parser.add_argument("--modes", nargs="*", default=list(ALL_MODES), choices=ALL_MODES)
    parser.add_argument("--workdir", type=Path, default=None)
    options = parser.parse_args()
    from bench_models import family

    _precision(options.model, options.device)
    cfg = {"sd3": 5.0, "flux": 1.0}.get(family(options.model), 7.0)
    with tempfile.TemporaryDirectory(prefix="nodestudio-bench-memory-") as temporary:
        root = options.workdir or Path(temporary)
        checkpoint = build_model(options.model, root, options.device)
        args = _args(options.model, options.size, options.device, options.steps, 1, cfg)
        graph, ids = make_graph(root / "checkpoints" / checkpoint, checkpoint, args)
        session = _session_factory(root, options.device)
        table = _memory_modes(session, graph, ids, options.budget, options,
                              tuple(options.modes))
    print(f"{options.model} {options.size}² {options.steps} steps, budget {options.budget} GiB, "
          f"device {options.device}")
    for mode, row in table.items():
        if "failed" in row:
            print(f"  {mode:10s} failed: {row['failed']}")
        else:
            print(f"  {mode:10s} {row['it/s']:8.2f} it/s   peak {row['peak_gib']:.3f} GiB   "
                  f"placed: {'; '.join(row['placed'])}")


if __name__ == "__main__":
    main()
