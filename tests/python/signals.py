"""Waiting for a child process to be ready for a signal, instead of sleeping and hoping."""
import time


def wait_for_handler(pid, signum, seconds=60):
    """Waits until process pid catches signum (the SigCgt mask in /proc/PID/status): the `inpaint`
    tool installs its handlers when a run begins, after start-up (loading LibTorch can take
    seconds on a busy machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as status:
            caught = next(int(line.split()[1], 16) for line in status if line.startswith("SigCgt:"))
        if caught & (1 << (signum - 1)):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not install a handler for signal {signum} within {seconds} s")
