-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT count(*) AS n, max(v) FROM ldemo GROUP BY TUMBLINGWINDOW(dd, 1)
