# An uncaught exception: exit status 1 and the traceback names this file's own lines.
# expect-calls: level_one=1 level_two=1
# expect-exit: 1


def level_two(d):
    return d["missing"] + \
        1


def level_one():
    data = {"present": 1}
    return level_two(data)


print("before")
level_one()
