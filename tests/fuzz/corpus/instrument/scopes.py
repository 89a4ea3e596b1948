# global/nonlocal, decorators with arguments, functools.wraps, static/class methods,
# properties, lambdas left intact, nested functions and classes.
# expect-calls: bump=2 make_counter=1 make_counter.<locals>.inc=3 repeat=1 repeat.<locals>.deco=1 repeat.<locals>.deco.<locals>.wrapper=1 greet=2 Shape.area=2 Shape.unit=1 Shape.build=1 Shape.side=4 Shape.__init__=2 Outer.Inner.deep=1 use_lambdas=1
import functools

counter = 0


def bump():
    global counter
    counter += 1
    return counter


def make_counter():
    n = 0

    def inc():
        nonlocal n
        n += 1
        return n
    return inc


def repeat(times):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return [fn(*args, **kwargs) for _ in range(times)]
        return wrapper
    return deco


@repeat(times=2)
def greet(name, punctuation="!"):
    """Greets."""
    return "hi " + name + punctuation


class Shape:
    def __init__(self, side):
        self._side = side

    @property
    def side(self):
        return self._side

    @side.setter
    def side(self, value):
        self._side = value

    def area(self):
        return self.side * self.side

    @staticmethod
    def unit():
        return Shape(1)

    @classmethod
    def build(cls, side):
        return cls(side)


class Outer:
    class Inner:
        def deep(self):
            return type(self).__qualname__


def use_lambdas():
    key = lambda pair: (pair[1], pair[0])  # noqa: E731
    items = sorted([(1, "b"), (2, "a")], key=key)
    adders = [lambda x, k=k: x + k for k in range(3)]
    return items, [f(10) for f in adders], (lambda: (yield 1))


bump()
print(bump(), counter)
inc = make_counter()
print(inc(), inc(), inc())
print(greet("ann"), greet.__name__, greet.__doc__)
s = Shape.build(3)
print(s.area(), Shape.unit().area())
print(Outer.Inner().deep())
items, added, gen_lambda = use_lambdas()
print(items, added, list(gen_lambda()))
