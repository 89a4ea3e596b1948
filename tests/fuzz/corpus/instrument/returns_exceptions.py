# return expressions are evaluated before the exit is recorded; exceptions leave through the
# exit too; try/finally that overrides a return; recursion.
# expect-calls: work=3 outer=1 fails=3 catcher=1 overrides=1 finally_return=1 fib=177 even=6 odd=5 reraiser=1
# expect-includes: outer>work
import sys


def work(n):
    s = 0
    for i in range(n):
        s += i
    return s


def outer():
    # the call inside the return belongs to outer's span
    return work(200000) + work(10)


def fails(x):
    if x:
        raise ValueError("bad %d" % x)
    return 0


def catcher():
    try:
        fails(1)
    except ValueError as e:
        return "caught " + str(e)


def overrides():
    try:
        return "from try"
    finally:
        print("finally runs")


def finally_return():
    try:
        return "try"
    finally:
        return "finally wins"  # noqa: B012


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def even(n):
    return True if n == 0 else odd(n - 1)


def odd(n):
    return False if n == 0 else even(n - 1)


def reraiser():
    try:
        fails(2)
    except ValueError:
        raise


print(outer(), fails(0), catcher(), overrides(), finally_return())
print(fib(10), even(10))
try:
    reraiser()
except ValueError as e:
    print("reraised", e)
work(1)
sys.stdout.flush()
