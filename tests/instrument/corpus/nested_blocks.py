# Ten nested loops at fine granularity: with a guard around each loop and the function the
# instrumented copy would exceed CPython's 20 statically nested blocks; the innermost guard is
# left out (that loop is not measured), and the program runs as it is. (3.13 has no such limit.)
# granularity: fine
# expect-calls: <module>=1 nest=1 nest:for=*
def nest():
    n = 0
    for i0 in range(2):
        for i1 in range(2):
            for i2 in range(2):
                for i3 in range(2):
                    for i4 in range(2):
                        for i5 in range(2):
                            for i6 in range(2):
                                for i7 in range(2):
                                    for i8 in range(2):
                                        for i9 in range(2):
                                            n += 1
    return n


print(nest())
