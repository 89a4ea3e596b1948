# Generators: each resumption is measured; `calls` counts activations (the first run and every
# resumption, including the one that ends the generator).
# count: 4 activations under list() and 4 more driven through delegate's yield from. early: two
# values, then the loop breaks and the generator is closed when collected, which resumes it once
# more (GeneratorExit at its yield). closer: one value, then close().
# costly_early yields a call's value (expression form): closed early, its last resumption raises
# at the yield with its span already closed, so that resumption is not counted and its exit has
# no partner (the one documented imbalance).
# expect-calls: count=8 echo=5 delegate=2 early=3 closer=2 thrower=3 pipeline=4 squares=4 costly_early=2
# expect-unbalanced: 1
import sys


def count(n):
    i = 0
    while i < n:
        yield i
        i += 1


def echo():
    received = []
    while True:
        value = yield len(received)
        if value is None:
            break
        received.append(value)
    return received


def delegate():
    # yield from: the delegate's work is its own, the delegating generator resumes twice
    result = yield from count(3)
    return result


def early():
    for i in range(100):
        yield i * 2


def costly_early():
    for i in range(100):
        yield str(i)


def closer():
    try:
        yield 1
        yield 2
    finally:
        print("closer cleanup")


def thrower():
    try:
        yield "a"
    except ValueError as e:
        print("caught", e)
        yield "b"


def squares(items):
    for x in items:
        yield x * x, str(x)


def pipeline():
    total = 0
    for v, text in squares([1, 2, 3]):
        total += v
        yield total


print(list(count(3)))
g = echo()
print(next(g), g.send("x"), g.send("y"), g.send("z"))
try:
    g.send(None)
except StopIteration as stop:
    print("echo returned", stop.value)
print(list(delegate()))
for v in early():
    if v >= 2:
        break
for v in costly_early():
    if v == "1":
        break
c = closer()
print(next(c))
c.close()
t = thrower()
print(next(t), t.throw(ValueError("boom")))
t.close()
print(list(pipeline()))
print(sum(x for x in range(5)))
sys.stdout.flush()
