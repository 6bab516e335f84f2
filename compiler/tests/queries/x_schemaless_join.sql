-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
-- stream: CREATE STREAM ldemo1 () WITH (DATASOURCE="ldemo1", TYPE="mock", FORMAT="json");
SELECT color, ldemo1.temp, * FROM ldemo INNER JOIN ldemo1 ON ldemo.ts = ldemo1.ts GROUP BY SlidingWindow(ss, 1)
