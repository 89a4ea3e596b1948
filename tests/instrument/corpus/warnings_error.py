# PYTHONWARNINGS=error turns the invalid escape sequence below into Python's SyntaxError of the
# file (status 1, nothing runs); measure shows the same error instead of a traceback of its own.
# env: PYTHONWARNINGS=error
# expect-exit: 1
# expect-report: none
# expect-calls:
import re

print(re.match("\d+", "42x").group())
