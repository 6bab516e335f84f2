-- stream: CREATE STREAM dev ( id BIGINT, info STRUCT(model STRING, loc STRUCT(lat FLOAT, lng FLOAT)), tags ARRAY(STRING) ) WITH (DATASOURCE="dev");
SELECT info->loc->lat AS lat, info.model, tags[0], tags[1:], tags[:2], tags[-1] FROM dev WHERE info->model LIKE "x%"
