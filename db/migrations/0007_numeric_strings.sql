-- A numeric string for the GT/GTE/LT/LTE filters is exactly what
-- docs/decisions.md says: [+-]digits[.digits][e±NNN], nothing around it.
-- 0002 also took surrounding whitespace, which the reference (tests/reference.py)
-- and the documentation do not; "12 " is text, not a number, like "12abc".
-- The exponent stays at most 3 digits: PostgreSQL's numeric cannot hold 1e1000000.
CREATE OR REPLACE FUNCTION whodid_numeric(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
           WHEN 'number' THEN (v #>> '{}')::numeric
           WHEN 'string' THEN CASE WHEN (v #>> '{}') ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$'
                                   THEN (v #>> '{}')::numeric END
         END
$$;
