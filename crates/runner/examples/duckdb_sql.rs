//! Runs SQL directly on a DuckDB file with the same engine build pipec uses — the baseline of
//! the run benchmarks: `duckdb_sql <database> <sql-file-or-sql>`.

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: duckdb_sql <database> <sql>");
    let sql = args.next().expect("usage: duckdb_sql <database> <sql>");
    let sql = std::fs::read_to_string(&sql).unwrap_or(sql);
    let conn = duckdb::Connection::open(db).expect("open database");
    conn.execute_batch(&sql).expect("run SQL");
}
