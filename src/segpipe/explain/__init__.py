"""`segpipe segment explain` and `segpipe segment sql`: why one profile is in or out of a segment, and what SQL
a segment compiles to.

evaluate.py walks the rule tree and computes every leaf's outcome and deciding value for one profile in
Postgres (one query for all leaves); describe.py turns the result into text; sql.py prints the compiled query.
"""
