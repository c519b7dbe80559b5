-- Helpers for property filters, inlinable SQL functions.

-- The "text form" of a JSON value: a string is its own text, anything else its
-- JSON text (so "12" and 12 compare equal, and null is 'null').
CREATE FUNCTION whodid_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN v IS NULL THEN NULL
              WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}'
              ELSE v::text END
$$;

-- A JSON number, or a string that holds a decimal number, as numeric; else NULL.
CREATE FUNCTION whodid_numeric(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
           WHEN 'number' THEN (v #>> '{}')::numeric
           WHEN 'string' THEN CASE WHEN (v #>> '{}') ~ '^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?\s*$'
                                   THEN (v #>> '{}')::numeric END
         END
$$;
