-- from eKuiper TestWindowError/TestWindowErrorRule4
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT color FROM ldemo GROUP BY SlidingWindow(ss, 2), color having collect(size)[0] >= 2 order by color
