"""Process start-up and small-job wall time: what a CLI call, a health check or a CPU worker pays
before and around the work. Medians of N runs of fresh processes; anchors measured in the same
run (`/bin/true`, `python3 -c pass`), since these machines are shared and noisy.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/bench_startup.py [build_dir=build] [runs=10]
Prints a Markdown table.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

build = Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
cli = build / "bin" / "inpaint"
python = "/usr/bin/python3"
env = dict(os.environ, PYTHONPATH=str(build / "python"))
env.pop("INPAINT_BACKEND_PATH", None)


def timed(argv):
    """Wall ms of one fresh process, and its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    wall = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed: {err.decode()}")
    return wall, out.decode()


def rss_mb(argv):
    """Peak RSS of one run, from the kernel's accounting of the waited-for child."""
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execve(argv[0], argv, env)
    _, status, usage = os.wait4(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, argv
    return usage.ru_maxrss / 1024


def median_ms(argv):
    timed(argv)  # warm the page cache
    return statistics.median(timed(argv)[0] for _ in range(runs))


rows = []
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    y, x = np.mgrid[0:512, 0:512]
    image = np.stack([(x * 3 + y) % 256, (y * 5 + 40) % 256, ((x ^ y) * 7) % 256], axis=-1).astype(np.uint8)
    mask = np.zeros((512, 512), np.uint8)
    mask[200:300, 180:320] = 255
    sys.path.insert(0, str(build / "python"))
    import inpaint  # noqa: E402  (the build's module, to write the inputs)

    (tmp / "photo.png").write_bytes(inpaint.encode(image, format="png"))
    (tmp / "mask.png").write_bytes(inpaint.encode(mask, format="png"))
    run_telea = [str(cli), "run", "--model", "telea", "--image", str(tmp / "photo.png"), "--mask",
                 str(tmp / "mask.png"), "--out", str(tmp / "out.jpg"), "--json"]

    true_ms = median_ms(["/bin/true"])
    pass_ms = median_ms([python, "-c", "pass"])
    rows.append(("`/bin/true` (anchor)", true_ms, ""))
    rows.append(("`python3 -c pass` (anchor)", pass_ms, ""))
    rows.append(("`inpaint --version`", median_ms([str(cli), "--version"]), "≤ 30 ms"))
    rows.append(("`inpaint models`", median_ms([str(cli), "models"]), "≤ 30 ms"))
    rows.append(("`python3 -c 'import inpaint'`", median_ms([python, "-c", "import inpaint"]), "≤ 150 ms"))

    # telea on 512²: the process's wall time against the run's own stage times. The issue's
    # budget is wall ≤ model + decode + encode + 40 ms; "outside the library" is wall − total.
    timed(run_telea)
    walls, beyond_stages, beyond_total = [], [], []
    for _ in range(runs):
        wall, out = timed(run_telea)
        stages = json.loads(out)["timings_ms"]
        walls.append(wall)
        beyond_stages.append(wall - stages["model"] - stages["decode"] - stages["encode"])
        beyond_total.append(wall - stages["total"])
    rows.append(("`inpaint run --model telea` 512²", statistics.median(walls), ""))
    rows.append(("  … minus model + decode + encode", statistics.median(beyond_stages), "≤ 40 ms"))
    rows.append(("  … minus the library's total (start-up, exit, file I/O)", statistics.median(beyond_total), ""))
    rss = statistics.median(rss_mb(run_telea) for _ in range(3))

    # The torch backend's cost, paid once by the first torch model of a process.
    backend = [python, "-c", "import inpaint, json; print(json.dumps(inpaint.load_backend('torch')))"]
    loads = []
    if inpaint.backends()[0]["built"]:
        for _ in range(max(3, runs // 2)):
            loads.append(json.loads(timed(backend)[1])["load_ms"])

print(f"runs: {runs} fresh processes each, medians; build: {build}")
print()
print("| what | median ms | target |")
print("|---|---:|---|")
for what, ms, target in rows:
    print(f"| {what} | {ms:.1f} | {target} |")
print(f"| peak RSS of the telea run | {rss:.1f} MB | < 80 MB |")
if loads:
    print(f"| loading the torch backend (first torch model; `load_backend`) | {statistics.median(loads):.1f} | reported |")
