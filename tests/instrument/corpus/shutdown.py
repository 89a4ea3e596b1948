# Code that runs at interpreter exit, after CPython has restored builtins and while it clears the
# modules: a module-level object's __del__, a generator and a @contextmanager left suspended.
# expect-calls: Resource.__init__=1 numbers=1 held=1
import contextlib


class Resource:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print("closing", self.name)


def numbers():
    try:
        yield 1
        yield 2
    finally:
        print("generator closed")


@contextlib.contextmanager
def held():
    print("acquire")
    try:
        yield
    finally:
        print("release")


res = Resource("module-level")
gen = numbers()
print(next(gen))
cm = held()
cm.__enter__()
