# Fine granularity: loops and the module body are measured too, also loops in generators.
# Both loops of loops() are "loops:for" (different lines): 1 + 3 activations.
# granularity: fine
# expect-calls: <module>=1 loops=1 loops:for=4 loops:while=1 gen=4 gen:for=4 <module>:for=1
def loops(n):
    total = 0
    for i in range(n):
        for j in range(i):
            if j == 5:
                break
            total += j
        else:
            total += 1
    k = 0
    while k < 3:
        k += 1
        continue
    return total + k


def gen(items):
    for x in items:
        yield x + 1


for item in gen([1, 2, 3]):
    print(item)
print(loops(3))
