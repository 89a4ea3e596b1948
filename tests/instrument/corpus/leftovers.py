# What measure adds is not seen by the program or its children: sys.path, os.environ (PYTHONPATH
# and codegreen's variables), sys.orig_argv, builtins (one name for the runtime, three per file:
# its ids, enter and exit; the async helpers have no name of their own).
# expect-calls: main=1
import builtins
import os
import subprocess
import sys


def main():
    print(sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
    print([p for p in sys.path if "codegreen" in p])
    print(sorted(k for k in os.environ if k.startswith("CODEGREEN_") and k != "CODEGREEN_PROVIDERS"))
    print(os.environ.get("PYTHONPATH"))
    print(getattr(sys, "orig_argv", [None, __file__])[1:])
    names = [n for n in vars(builtins) if n.startswith("_codegreen")]
    print(len([n for n in names if not n.endswith(("_ids", "_enter", "_exit"))]) <= 1)
    child = subprocess.run([sys.executable, "-c", "import os, sys; print(sorted(k for k in "
                            "os.environ if k.startswith('CODEGREEN_M')), os.environ.get("
                            "'PYTHONPATH'), [p for p in sys.path if 'codegreen' in p])"],
                           stdout=subprocess.PIPE, universal_newlines=True)
    print(child.stdout.strip())


main()
