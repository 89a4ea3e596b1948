"""The ``codegreen`` command that ``pip install`` puts on PATH (and ``python -m codegreen``).

The command itself is the C executable shipped inside the package (``codegreen/bin/codegreen``,
which finds ``codegreen/lib/libcodegreen-nemb.so.0`` through its RPATH). This wrapper only
replaces itself with it, so arguments, signals and the exit status are the executable's own, and
tells it which interpreter it was installed for: ``codegreen measure`` runs programs with that
interpreter (``CODEGREEN_PYTHON``, unless the user set it or gives ``--python``), the one that
can import ``codegreen_runtime``.
"""

import os
import sys


def executable():
    """The codegreen executable of this installation, or None.

    pip puts it inside the package (``codegreen/bin/codegreen``); ``cmake --install`` puts it in
    ``<prefix>/bin`` beside ``<prefix>/share/codegreen/python``, with this package somewhere
    under the same prefix; a source tree used through PYTHONPATH names its build's library in
    ``CODEGREEN_LIB_PATH`` (``build/lib/libcodegreen-nemb.so``, or the directory), and the
    executable of that build is ``build/bin/codegreen``."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "bin", "codegreen")
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    prefix = here
    for _ in range(5):
        prefix = os.path.dirname(prefix)
        exe = os.path.join(prefix, "bin", "codegreen")
        if os.path.isdir(os.path.join(prefix, "share", "codegreen", "python")) and \
                os.access(exe, os.X_OK):
            return exe
    lib = os.environ.get("CODEGREEN_LIB_PATH")
    if lib:
        libdir = lib if os.path.isdir(lib) else os.path.dirname(os.path.abspath(lib))
        exe = os.path.join(os.path.dirname(os.path.abspath(libdir)), "bin", "codegreen")
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return None


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    exe = executable()
    if exe is None:
        sys.stderr.write(
            "codegreen: this copy of the codegreen package has no codegreen executable (it was "
            "not installed with pip, and CODEGREEN_LIB_PATH names no build whose bin/ holds "
            "one); install it with `python -m pip install --no-build-isolation .` from the "
            "source tree, or run build/bin/codegreen\n")
        return 1
    env = dict(os.environ)
    if not env.get("CODEGREEN_PYTHON"):
        env["CODEGREEN_PYTHON"] = sys.executable
    try:
        os.execve(exe, [exe] + args, env)
    except OSError as e:
        sys.stderr.write("codegreen: cannot run %s: %s\n" % (exe, e))
        return 1
