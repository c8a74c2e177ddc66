{{ header }}-- Spark SQL job of pipeline `{{ pipeline }}`: one run processes one interval.
-- Run it as manifest.json says: `spark-sql -f {{ file }}` with the variables ds (the interval's
-- date), start and end (its bounds, UTC) and warehouse (the folder of the tables: Parquet under
-- <warehouse>/<schema>/<table>/){% for v in extra_vars %}, {{ v }}{% endfor %}.
-- Order: read sources, compute transforms, run every check (a failed one stops the job before
-- anything is written), stage each table's new contents, then overwrite the tables and files.

SET spark.sql.ansi.enabled=true;
SET spark.sql.timestampType=TIMESTAMP_NTZ;
SET spark.sql.session.timeZone=UTC;
SET spark.sql.sources.partitionOverwriteMode=STATIC;
{{ body }}