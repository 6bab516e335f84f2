-- from eKuiper TestWindow/TestWindowRule7
-- stream: CREATE STREAM demoError ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoError", TYPE="mock", FORMAT="json", KEY="ts",STRICT_VALIDATION="true");
SELECT * FROM demoError GROUP BY HOPPINGWINDOW(ss, 2, 1)
