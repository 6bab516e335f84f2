-- from eKuiper TestWindowError/TestWindowErrorRule1
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT size * 3 FROM ldemo GROUP BY TUMBLINGWINDOW(ss, 2)
