"""`segpipe apply`: declarative objects (contract §3) read from YAML/JSON, planned, then written all or nothing.

files.py reads documents · documents.py validates each kind · plan.py (with checks.py, state.py) decides
created / updated / unchanged / refused · execute.py writes a plan in one transaction · explain.py renders it.
"""
