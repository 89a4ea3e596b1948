"""A small workload for codegreen's demo: one hot function, one cheap one, some recursion.

    codegreen measure python examples/workload.py
    codegreen run -r 3 -- python3 examples/workload.py
"""
import sys


def hot_loop(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def cheap(n):
    return sum(range(n))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print("hot_loop:", hot_loop(2_000_000 * scale))
    print("cheap:", cheap(10_000 * scale))
    print("fib(20):", fib(20))


if __name__ == "__main__":
    main()
