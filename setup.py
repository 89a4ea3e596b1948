"""Builds codegreen for ``pip install .`` (setuptools, the standard build backend).

CMake builds everything in ``build-pip/<interpreter>/`` (kept between installs, so a second
install only relinks): libcodegreen-nemb, the ``codegreen`` executable, the ``_codegreen_fast``
extension for the interpreter running pip, and the manual pages. They go into the package:

    codegreen/                   the Python package (Session, load, the notebook magic, ...)
    codegreen/lib/libcodegreen-nemb.so.0
    codegreen/bin/codegreen      finds its library through RPATH $ORIGIN/../lib
    _codegreen_fast.abi3.so      the extension (placed as cmake/python.cmake installs it)
    codegreen_runtime.py         what instrumented programs import

plus the console script ``codegreen`` (codegreen._cli: runs codegreen/bin/codegreen) and the man
pages under <prefix>/share/man. Nothing depends on where the package lands, so the wheel installs
in any venv or conda environment of a compatible interpreter. Needs cmake, a C compiler and the
libraries of scripts/setup.sh (jansson, tree-sitter, cairo) and the grammars of ``npm ci``.

The wheel's tag follows what was built: ``abi3`` when the extension uses the limited API (then one
wheel serves every CPython from the version it targets), the interpreter's own tag otherwise, and
``py3-none`` without an extension.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.install import install

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # building without wheel: `setup.py build` still works
    bdist_wheel = None

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_BASE = os.path.join(ROOT, "build-pip")


def project_version():
    with open(os.path.join(ROOT, "include", "nemb.h")) as f:
        text = f.read()
    return ".".join(re.search(r"^#define NEMB_VERSION_%s (\d+)$" % part, text, re.M).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


def limited_api_version():
    """The CPython version a limited-API extension targets, from its Py_LIMITED_API value."""
    path = os.path.join(ROOT, "python", "ext", "codegreen_fast.c")
    text = open(path).read() if os.path.exists(path) else ""
    m = re.search(r"#\s*define\s+Py_LIMITED_API\s+0x([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})", text)
    if m:
        return "cp%d%d" % (int(m.group(1), 16), int(m.group(2), 16))
    return "cp38"


class CMakeBuild(build_ext):
    """Runs CMake instead of compiling the (placeholder) extension itself."""

    def run(self):
        tag = sys.implementation.cache_tag or "python"
        build = os.path.join(BUILD_BASE, tag)
        stage = os.path.join(build, "stage")
        args = ["cmake", "-S", ROOT, "-B", build,
                "-DCMAKE_BUILD_TYPE=RelWithDebInfo",  # what scripts/build.sh builds and tests
                "-DPython3_EXECUTABLE=" + sys.executable,
                "-DBUILD_TESTING=OFF", "-DNEMB_BUILD_TESTS=OFF", "-DNEMB_BUILD_BENCH=OFF",
                "-DCMAKE_INSTALL_BINDIR=bin", "-DCMAKE_INSTALL_LIBDIR=lib",
                "-DNEMB_PYTHON_SITEDIR=python", "-DCMAKE_INSTALL_PREFIX=" + stage]
        if shutil.which("ninja") and not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            args += ["-G", "Ninja"]
        subprocess.check_call(args)
        subprocess.check_call(["cmake", "--build", build, "--", "-j%d" % (os.cpu_count() or 1)])
        shutil.rmtree(stage, ignore_errors=True)
        subprocess.check_call(["cmake", "--install", build], stdout=subprocess.DEVNULL)

        pkg = os.path.join(self.build_lib, "codegreen")
        for sub in ("lib", "bin"):
            shutil.rmtree(os.path.join(pkg, sub), ignore_errors=True)
            os.makedirs(os.path.join(pkg, sub))
        # The real file under the SONAME the executable asks for (wheels hold no symlinks).
        lib = os.path.realpath(os.path.join(stage, "lib", "libcodegreen-nemb.so"))
        shutil.copyfile(lib, os.path.join(pkg, "lib", "libcodegreen-nemb.so.0"))
        exe = os.path.join(pkg, "bin", "codegreen")
        shutil.copyfile(os.path.join(stage, "bin", "codegreen"), exe)
        os.chmod(exe, 0o755)
        # The extension goes where `cmake --install` put it in the Python directory (beside
        # codegreen_runtime or in the package: cmake/python.cmake decides).
        for old in glob.glob(os.path.join(self.build_lib, "**", "_codegreen_fast*"),
                             recursive=True):
            os.remove(old)
        pystage = os.path.join(stage, "python")
        exts = glob.glob(os.path.join(pystage, "**", "_codegreen_fast*"), recursive=True)
        for ext in exts:
            dest = os.path.join(self.build_lib, os.path.relpath(ext, pystage))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(ext, dest)
        self.distribution.codegreen_ext = (
            "abi3" if any(".abi3." in e for e in exts) else "version" if exts else "none")
        man = os.path.join(stage, "share", "man")
        self.distribution.data_files = [
            ("share/man/" + d, sorted(glob.glob(os.path.join(man, d, "*"))))
            for d in ("man1", "man3") if glob.glob(os.path.join(man, d, "*"))]

    def get_outputs(self):
        return []


class Install(install):
    # Debian's setuptools wheel (python3-setuptools-whl, the offline way to give a venv of
    # another interpreter a build backend) has install_lib and install_egg_info read
    # install.install_layout and install.prefix_option, options only Debian's own distutils
    # defines; Pythons from 3.12 have no distutils, so they are missing there. Declaring them
    # (unset, as on any other system) keeps that wheel usable.
    if not hasattr(install, "install_layout"):
        install_layout = None
    if not hasattr(install, "prefix_option"):
        prefix_option = None


cmdclass = {"build_ext": CMakeBuild, "install": Install}

if bdist_wheel is not None:
    class BdistWheel(bdist_wheel):
        """The tag says what the wheel really needs (see the module's docstring)."""

        def get_tag(self):
            impl, abi, plat = bdist_wheel.get_tag(self)
            kind = getattr(self.distribution, "codegreen_ext", "version")
            if kind == "abi3":
                return limited_api_version(), "abi3", plat
            if kind == "none":
                return "py3", "none", plat
            return impl, abi, plat

    cmdclass["bdist_wheel"] = BdistWheel

os.makedirs(BUILD_BASE, exist_ok=True)
setup(
    name="codegreen",
    version=project_version(),
    description="How many joules does your code cost? Energy measurement for Python, C and "
                "the command line",
    long_description=open(os.path.join(ROOT, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="see the repository",
    python_requires=">=3.8",
    package_dir={"": "python"},
    packages=["codegreen"],
    py_modules=["codegreen_runtime"],
    ext_modules=[Extension("codegreen._codegreen_fast", sources=[])],
    extras_require={"notebook": ["pandas", "ipython"]},
    entry_points={"console_scripts": ["codegreen = codegreen._cli:main"]},
    cmdclass=cmdclass,
    zip_safe=False,
    options={"build": {"build_base": os.path.join(BUILD_BASE, "setuptools")},
             "egg_info": {"egg_base": BUILD_BASE}},
)
