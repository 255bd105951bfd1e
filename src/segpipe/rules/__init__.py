"""The rule language (contract §4): pydantic model, checks and the SQL compiler. Pure: opens no connection.

Public interface (stable; other packages import only these names):
- `parse_rules(data, path="rules") -> Node`: validate a rule tree; raises InvalidInput with the JSON path.
- `segment_refs(node) -> set[str]`: the segment keys a rule tree references directly.
- `compile_members(node, as_of, resolve_segment, mode="set") -> sa.Select`: a SELECT of one column,
  `profile_id`, of the profiles matching `node` as of `as_of`.
"""
