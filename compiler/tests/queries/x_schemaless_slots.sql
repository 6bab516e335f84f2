-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT b, a, collect(*) AS all_rows, a + c FROM ldemo GROUP BY TUMBLINGWINDOW(ss, 1), b ORDER BY b DESC, a
