-- Strict times: an offset is ±hh:mm with hh ≤ 23 and mm ≤ 59 (contract §4: `+00:60` and `+05:99` are not
-- offsets, so such strings are plain strings, as in segpipe.timeutil.strict_time). 0003 accepted any offset of
-- less than 24 hours in minutes, as Python's parser does; this replaces segpipe.strict_time, everything else
-- about it unchanged (see 0003 for what it checks and why it is written this way). segpipe.rule_time calls it
-- for every string its own fast path does not prove valid, so it follows.
CREATE OR REPLACE FUNCTION segpipe.strict_time(value text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'
THEN CASE WHEN substr(value, 1, 4)::int >= 1
          AND substr(value, 6, 2)::int BETWEEN 1 AND 12
          AND substr(value, 9, 2)::int BETWEEN 1 AND (
              CASE substr(value, 6, 2)::int
                  WHEN 2 THEN CASE WHEN substr(value, 1, 4)::int % 4 = 0
                                    AND (substr(value, 1, 4)::int % 100 <> 0 OR substr(value, 1, 4)::int % 400 = 0)
                                   THEN 29 ELSE 28 END
                  WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30
                  ELSE 31 END)
          AND substr(value, 12, 2)::int <= 23
          AND substr(value, 15, 2)::int <= 59
          AND substr(value, 18, 2)::int <= 59
          AND (right(value, 1) = 'Z'
               OR (substr(value, length(value) - 4, 2)::int <= 23 AND right(value, 2)::int <= 59))
     THEN CASE WHEN substr(value, 1, 4)::int BETWEEN 2 AND 9998
               OR (make_timestamp(substr(value, 1, 4)::int, substr(value, 6, 2)::int, substr(value, 9, 2)::int,
                                  substr(value, 12, 2)::int, substr(value, 15, 2)::int, substr(value, 18, 2)::int)
                   - make_interval(mins => CASE WHEN right(value, 1) = 'Z' THEN 0
                                                ELSE (substr(value, length(value) - 4, 2)::int * 60
                                                      + right(value, 2)::int)
                                                     * CASE WHEN substr(value, length(value) - 5, 1) = '-'
                                                            THEN -1 ELSE 1 END END))
                  BETWEEN '0001-01-01 00:00:00'::timestamp AND '9999-12-31 23:59:59'::timestamp
          THEN timezone('UTC',
                   make_timestamp(substr(value, 1, 4)::int, substr(value, 6, 2)::int, substr(value, 9, 2)::int,
                                  substr(value, 12, 2)::int, substr(value, 15, 2)::int,
                                  (substr(value, 18, 2)::int
                                   + rpad(left(substr(value, 21, greatest(length(value) - 20
                                                                - CASE WHEN right(value, 1) = 'Z' THEN 1 ELSE 6 END, 0)),
                                               6), 6, '0')::int / 1000000.0)::float8)
                   - make_interval(mins => CASE WHEN right(value, 1) = 'Z' THEN 0
                                                ELSE (substr(value, length(value) - 4, 2)::int * 60
                                                      + right(value, 2)::int)
                                                     * CASE WHEN substr(value, length(value) - 5, 1) = '-'
                                                            THEN -1 ELSE 1 END END))
          END
     END
END
$fn$;
