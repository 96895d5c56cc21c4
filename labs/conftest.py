"""pytest runs the solution notebooks only: labs/student/ is generated from them.

`cnnlabs assign` writes the student notebooks, and tests/test_exercises.py checks that
they match the solutions; their stubs are not meant to pass nbval.
"""

collect_ignore = ["student"]
