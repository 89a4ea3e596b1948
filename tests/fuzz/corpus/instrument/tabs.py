# Tab-indented code (the instrumenter indents with tabs too).
# expect-calls: tabbed=1 Tabbed.method=2 tabbed.<locals>.inner=1

def tabbed(n):
	def inner(x):
		if x:
			return x + 1
		return 0
	total = 0
	for i in range(n):
		total += i
	return inner(total)


class Tabbed:
	def method(self):
		"""Docstring
	with a tab-indented second line."""
		return 42


print(tabbed(4), Tabbed().method(), Tabbed.method.__doc__ == """Docstring
	with a tab-indented second line.""", Tabbed().method())
