# Exit status, arguments, stdin, threads, an uncaught exception's traceback on stderr.
# expect-calls: read_input=1 worker=4 main=1 fail_late=1
# expect-exit: 3
# args: one "two words"
# stdin: line one\nline two\n
import sys
import threading


def read_input():
    return [line.rstrip("\n") for line in sys.stdin]


def worker(i, out):
    out[i] = i * i


def main():
    print(sys.argv[1:], read_input())
    out = [None] * 4
    threads = [threading.Thread(target=worker, args=(i, out)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(out)
    sys.stdout.flush()
    return 3


def fail_late(code):
    try:
        raise RuntimeError("shown on stderr")
    except RuntimeError:
        import traceback
        traceback.print_exc()
    sys.exit(code)


fail_late(main())
