-- from eKuiper TestWindowError/TestWindowErrorRule2
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT color, ts FROM ldemo where size > 2 GROUP BY tumblingwindow(ss, 1)
