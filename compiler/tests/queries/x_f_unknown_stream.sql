--fail=stream nope not found
SELECT a FROM nope
