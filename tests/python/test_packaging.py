"""`pip install --no-build-isolation .` builds the package offline from pyproject.toml, and the
installed package works from outside the source tree."""
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.environ.get("INPAINT_SKIP_PIP_TEST") == "1", reason="INPAINT_SKIP_PIP_TEST=1")
def test_pip_install_offline(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # Debian's pip, run by the venv's interpreter, installs into the venv.
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("INPAINT_JOBS", "2"))
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps", "-q", str(ROOT)],
        capture_output=True, text=True, env=env, timeout=1800)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    check = ("import inpaint, numpy as np, os;"
             "assert not inpaint.__file__.startswith(os.environ['SRC']), inpaint.__file__;"
             "img = np.full((40, 40, 3), 90, np.uint8); m = np.zeros((40, 40), np.uint8); m[15:25, 15:25] = 255;"
             "r = inpaint.fill(inpaint.Model('ns'), img, m);"
             "assert abs(int(r.image[20, 20, 0]) - 90) <= 2;"
             # The torch backend ships beside _core and is found there.
             "b = inpaint.backends()[0];"
             "assert not b['built'] or os.path.dirname(inpaint.load_backend('torch')['path'])"
             " == os.path.dirname(inpaint._core.__file__), b;"
             "print(inpaint.__version__)")
    run = subprocess.run([str(python), "-c", check], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(env, SRC=str(ROOT / "python")), timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0.1.0"
