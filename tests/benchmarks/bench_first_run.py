"""What the first run in the window costs, with and without the warm start (run by hand).

    python tests/benchmarks/bench_first_run.py [--look 10] [--repeat 2]

Each measurement is a fresh interpreter (offscreen, a fresh NODESTUDIO_HOME) that opens the
window on the default workflow (the demo model), waits ``--look`` seconds as a user looking at
the window would, presses Run and times it until the image is in the Outputs panel. Printed:
the window's opening time, the first run's time (Run → image) and what the warm start had
done by then, with the warm start off (what every first run cost before) and on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
began = time.perf_counter()
from PySide6.QtCore import QEventLoop, QTimer
from nodestudio.ui.application import create_main_window, ensure_application

look = float(sys.argv[1])
app = ensure_application()
window = create_main_window(autosave=False)
window.show()
app.processEvents()
opened = time.perf_counter() - began
controller = window.run_controller
warm = {}
controller.warmup.finished.connect(lambda s, what: warm.update(seconds=s, what=what))

def wait(condition, limit):
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    poll.start(5)
    QTimer.singleShot(int(limit * 1000), loop.quit)
    loop.exec()

deadline = time.perf_counter() + look
wait(lambda: time.perf_counter() > deadline, look + 1)
pressed = time.perf_counter()
jobs = controller.run()
wait(lambda: jobs and jobs[0].done
     and (controller.gallery.entries or jobs[0].status != 'finished'), 300)
first = time.perf_counter() - pressed
print(json.dumps({"opened": opened, "first_run": first, "status": jobs[0].status,
                  "warm": warm}))
window.close()
"""


def measure(look: float, warm: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        environment = dict(os.environ, QT_QPA_PLATFORM="offscreen", NODESTUDIO_HOME=home,
                           NODESTUDIO_WARM_START="1" if warm else "0")
        done = subprocess.run([sys.executable, "-c", CHILD, str(look)], capture_output=True,
                              text=True, env=environment, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--look", type=float, default=10.0,
                        help="seconds between the window showing and pressing Run")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"{time.strftime('%Y-%m-%d %H:%M')} · load {os.getloadavg()[0]:.2f}")
    for warm in (False, True):
        for _ in range(args.repeat):
            got = measure(args.look, warm)
            print(f"warm start {'on ' if warm else 'off'}: window {got['opened']:.1f} s, "
                  f"first run {got['first_run']:.2f} s ({got['status']}), "
                  f"warm start did {got['warm'] or 'nothing yet'}")


if __name__ == "__main__":
    main()
