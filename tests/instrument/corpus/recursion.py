# A RecursionError stays a RecursionError under every hot path (through ctypes it became
# "TypeError: ... the function id must be an int"). How deep the recursion got is not compared:
# the runtime's own calls take frames too.
# env: CODEGREEN_RUNTIME_CTYPES=1
# expect-calls: down=* main=1
import sys


def down(n):
    return down(n + 1) + 1


def main():
    try:
        down(0)
    except RecursionError as e:
        print(type(e).__name__, "caught", "maximum recursion depth exceeded" in str(e))
    try:
        down(0)
    except RecursionError as e:
        print("again", type(e).__name__)


main()
