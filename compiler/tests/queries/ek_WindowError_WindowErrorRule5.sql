-- from eKuiper TestWindowError/TestWindowErrorRule5
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT color, size FROM ldemo GROUP BY tumblingwindow(ss, 1) ORDER BY size
