"""Builds the `inpaint` package with CMake: `pip install --no-build-isolation .`

The extension _core and libinpaint are configured, built and installed into the package by the
project's CMake (python/CMakeLists.txt, INPAINT_PYTHON_INSTALL_DIR). Extra CMake arguments can
be passed in the CMAKE_ARGS environment variable, the build's parallelism in
CMAKE_BUILD_PARALLEL_LEVEL.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# build/ is the project's CMake build folder: setuptools works in build-pip/ instead.
BUILD_BASE = ROOT / "build-pip"


def project_version():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(inpaint VERSION (\d+\.\d+\.\d+)", cmake).group(1)


class CMakeExtension(Extension):
    """An extension CMake builds: setuptools compiles no sources of its own."""

    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        package_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DINPAINT_BUILD_TESTS=OFF", "-DINPAINT_BUILD_CLI=OFF", "-DINPAINT_BUILD_BENCH=OFF",
            f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DINPAINT_PYTHON_INSTALL_DIR={package_dir}",
        ]
        if not (build_dir / "CMakeCache.txt").exists() and shutil.which("ninja"):
            configure += ["-G", "Ninja"]  # the generator of an existing build folder cannot change
        configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        build = ["cmake", "--build", str(build_dir), "--target", "_core"]
        if self.parallel:
            build += ["--parallel", str(self.parallel)]
        install = ["cmake", "--install", str(build_dir), "--component", "python"]
        for command in (configure, build, install):
            subprocess.run(command, check=True)


BUILD_BASE.mkdir(exist_ok=True)
setup(
    version=project_version(),
    packages=["inpaint"],
    package_dir={"": "python"},
    package_data={"inpaint": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("inpaint._core")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": str(BUILD_BASE)}, "egg_info": {"egg_base": str(BUILD_BASE)}},
    zip_safe=False,
)
