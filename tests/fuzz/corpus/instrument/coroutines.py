# Coroutines and async generators: every await and yield splits the activation, also the
# implicit awaits of async for (each __anext__) and async with (__aenter__, __aexit__). Two tasks
# that suspend inside async with / async for interleave on one thread: their spans must not
# nest into each other (no unbalanced checkpoint).
# middle: 3 activations (start, after leaf, after sleep) x 3 calls; consume: start + 4 __anext__;
# user: start + __aenter__ + 3 __anext__ + __aexit__ = 6, two tasks.
# expect-calls: leaf=4 middle=9 gather_all=3 ticker=4 consume=5 main=8 cancelled=2 returns_await=2 Resource.__aenter__=4 Resource.__aexit__=4 slow_items=10 user=12
import asyncio


async def leaf(x):
    return x * 2


async def middle(x):
    a = await leaf(x)
    await asyncio.sleep(0)
    return a + 1


async def gather_all():
    results = await asyncio.gather(middle(1), middle(2))
    print("gathered", results)
    return sum(await asyncio.gather(asyncio.sleep(0, 1)))


async def ticker(n):
    for i in range(n):
        yield i


async def consume():
    out = []
    async for v in ticker(3):
        out.append(v)
    return out


async def cancelled():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        print("cancelled cleanup")
        raise


class Resource:
    async def __aenter__(self):
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        await asyncio.sleep(0)
        return False


async def slow_items(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def user(name):
    total = 0
    async with Resource() as r:
        async for v in slow_items(2):
            total += v
    return name, total, type(r).__name__


async def returns_await():
    return await middle(5)


async def main():
    print(await leaf(1))
    print(await gather_all())
    print(await consume())
    task = asyncio.ensure_future(cancelled())
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("task cancelled")
    print(await returns_await())
    print(await asyncio.gather(user("a"), user("b")))


asyncio.run(main())
