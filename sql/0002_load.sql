-- Loading customer data: helpers for the set-based profile merge (segpipe.load.merge).

-- Folds attribute deltas in row order: later keys win, a null value is kept (it means "remove this key").
CREATE AGGREGATE segpipe.jsonb_concat_agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{}');

-- The top-level keys of a delta whose value is JSON null: the attributes to remove.
CREATE FUNCTION segpipe.jsonb_null_keys(delta jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(key), '{}') FROM jsonb_each(delta) WHERE value = 'null'::jsonb $$;

-- A delta without its top-level nulls (nested nulls are values and stay): the attributes to set.
CREATE FUNCTION segpipe.jsonb_without_nulls(delta jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(delta) WHERE value <> 'null'::jsonb $$;
