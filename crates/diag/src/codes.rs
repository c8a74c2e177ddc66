//! The registry of diagnostic codes. Codes are never reused or renumbered: a retired code keeps
//! its row with `retired: true`. Every code has a page at `docs/errors/<code>.md`.
//!
//! Ranges: `E00xx` syntax, `E01xx` names, `E02xx` types, `E03xx` pipelines and schedules,
//! `E04xx` graph, `E05xx` run time, `E06xx` emit targets, `W0xxx` warnings.

/// One registered diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable code, e.g. `E0102`.
    pub id: &'static str,
    /// A one-line summary, the title of its docs page.
    pub title: &'static str,
}

macro_rules! codes {
    ($($name:ident = $id:literal : $title:literal;)*) => {
        $(
            #[doc = concat!("`", $id, "`: ", $title)]
            pub const $name: Code = Code { id: $id, title: $title };
        )*
        /// Every registered code, in numeric order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    SYNTAX = "E0001": "syntax error";
    UNTERMINATED_STRING = "E0002": "unterminated string";
    TOO_DEEP = "E0003": "nesting too deep";
    BAD_LITERAL = "E0004": "invalid literal";
    BAD_ESCAPE = "E0005": "invalid escape sequence in a string";
    NOT_TEXT = "E0006": "file is not UTF-8 text";
    NUL_IN_STRING = "E0007": "NUL character in a string";
    UNKNOWN_RELATION = "E0101": "unknown relation";
    UNKNOWN_COLUMN = "E0102": "unknown column";
    UNKNOWN_FUNCTION = "E0103": "unknown function";
    DUPLICATE_NAME = "E0104": "duplicate name";
    UNKNOWN_MODULE = "E0105": "unknown module or file in import";
    AMBIGUOUS_COLUMN = "E0106": "ambiguous column";
    UNKNOWN_SOURCE_KIND = "E0107": "unknown source, sink or alert kind";
    UNKNOWN_OPTION = "E0108": "unknown option";
    MISSING_OPTION = "E0109": "missing required option";
    UNKNOWN_PIPELINE = "E0110": "unknown pipeline";
    UNKNOWN_TYPE = "E0111": "unknown type";
    DUPLICATE_COLUMN = "E0112": "duplicate column";
    UNKNOWN_PARAM = "E0113": "unknown run parameter";
    IMPORT_CYCLE = "E0114": "import cycle";
    NO_SCHEMA = "E0115": "source without a schema";
    RESERVED_SCHEMA = "E0116": "schema reserved for pipec's state";
    TYPE_MISMATCH = "E0201": "type mismatch";
    NOT_BOOLEAN = "E0202": "condition is not boolean";
    AGGREGATE_NOT_ALLOWED = "E0203": "aggregate function not allowed here";
    JOIN_KEYS_INCOMPARABLE = "E0204": "join keys are not comparable";
    KEY_NOT_IN_RELATION = "E0205": "key column not in relation";
    BAD_ARGUMENTS = "E0206": "wrong arguments to a function";
    JOIN_CONFLICT = "E0207": "column on both sides of a join";
    UNION_MISMATCH = "E0208": "union of relations with different columns";
    SECRET_IN_DATA = "E0209": "secret used as data";
    WINDOW_NOT_ALLOWED = "E0210": "window function outside a window step";
    FIXTURE_MISMATCH = "E0211": "fixture does not match its relation";
    BAD_OPTION_VALUE = "E0212": "option has the wrong kind of value";
    NESTED_AGGREGATE = "E0213": "aggregate inside an aggregate";
    UNNAMED_EXPRESSION = "E0214": "expression needs a name";
    NOT_GROUPED = "E0215": "column neither grouped nor aggregated";
    NULL_COMPARISON = "E0216": "comparison with null";
    SINK_SCHEMA_MISMATCH = "E0217": "table source does not match the sink that writes it";
    BAD_TIME_PATTERN = "E0220": "unsupported time pattern";
    NOT_CONSTANT = "E0221": "argument must be a literal";
    OUT_OF_RANGE = "E0222": "literal argument out of range";
    BAD_WINDOW_FRAME = "E0223": "invalid window frame";
    BAD_CRON = "E0301": "invalid cron expression";
    UNKNOWN_TIMEZONE = "E0302": "unknown time zone";
    BAD_TIME = "E0303": "invalid time of day";
    DUPLICATE_SETTING = "E0304": "setting given twice";
    UNKNOWN_SETTING = "E0305": "unknown pipeline setting";
    BAD_DATE_RANGE = "E0306": "end date before start date";
    MISSING_PIPELINE = "E0307": "declarations without a pipeline";
    UNKNOWN_MODE = "E0308": "unknown sink mode";
    FILE_SINK_OPTION = "E0309": "sink option a file sink cannot honour";
    BAD_PERIOD = "E0313": "`every` period does not divide a day";
    AFTER_INTERVALS_DIFFER = "E0314": "`after` pipelines with different intervals";
    PARTITION_SHORTER_THAN_DAY = "E0315": "`partition by` on intervals shorter than a day";
    BAD_COMPRESSION = "E0316": "compressed files pipec cannot read";
    AMBIGUOUS_GLOB = "E0317": "path with `*` or `?` but no `glob` option";
    UNKNOWN_SCHEDULE = "E0318": "unknown schedule";
    CYCLE = "E0401": "dependency cycle";
    PIPELINE_CYCLE = "E0402": "cycle between pipelines";
    BAD_ROW = "E0501": "a data value does not fit its declared type";
    NULL_IN_NON_NULL = "E0502": "null in a non-nullable column";
    NO_INPUT = "E0503": "no input file for the interval";
    CHECK_FAILED = "E0504": "check failed, nothing published";
    FETCH_FAILED = "E0505": "HTTP fetch failed";
    DATABASE_FAILED = "E0506": "database source failed";
    MISSING_SECRET = "E0507": "secret not set";
    WAREHOUSE_BUSY = "E0508": "warehouse is in use by another run";
    NOT_RUNNABLE = "E0509": "source kind cannot run locally";
    TABLE_MISMATCH = "E0510": "existing table has different columns";
    TEST_FAILED = "E0511": "unit test failed";
    EXECUTION_FAILED = "E0512": "query failed while running";
    TIMED_OUT = "E0513": "run took longer than its timeout";
    TABLE_SOURCE_MISMATCH = "E0515": "warehouse table does not fit the source's schema";
    OUTSIDE_PARTITION = "E0516": "row outside the run's partition";
    WAREHOUSE_LOCKED = "E0520": "warehouse file is held open by another program";
    NEWER_STATE = "E0525": "warehouse state is from a newer pipec";
    STATE_MIGRATION = "E0526": "pipec state could not be migrated";
    FILE_SINK_UNWRITABLE = "E0532": "file sink cannot be written";
    EMPTY_INPUT = "E0534": "input file is empty";
    MALFORMED_LINE = "E0535": "line of an NDJSON file is not a JSON object";
    BREAKING_CHANGE = "E0540": "breaking change since the warehouse's last run";
    TARGET_UNSUPPORTED = "E0601": "not supported on this target";
    FUNCTION_UNSUPPORTED = "E0602": "function not supported in this target's SQL dialect";
    NAME_UNSUPPORTED = "E0603": "name cannot be written for this target";
    EMIT_DRIFT = "E0604": "emitted files differ from what emit would write";
    AIRFLOW_SCHEDULE = "E0640": "schedule has no Airflow data-interval timetable";
    SAM_NAME = "E0650": "name cannot be written in the AWS stack";
    SAM_SCHEDULE = "E0651": "schedule cannot be written as an EventBridge trigger";
    SAM_TYPE = "E0652": "column type has no Glue/Athena type";
    SAM_RETENTION = "E0653": "retention cannot be applied to this data on AWS";
    BAD_RETENTION_AGE = "E0660": "invalid retention age";
    UNKNOWN_STORAGE_CLASS = "E0661": "unknown archive storage class";
    ARCHIVE_NOT_BEFORE_EXPIRE = "E0662": "`archive` not before `expire`";
    EXPIRE_WITHOUT_PARTITION = "E0663": "`expire` on a table without `partition by`";
    RETENTION_ON_REPLACED_DATA = "E0664": "retention on data every run replaces";
    RETENTION_SOURCE_KIND = "E0665": "retention on a source that does not read files";
    BAD_RETENTION_LINE = "E0666": "malformed retention line";
    COST_VOLUME_FILE = "E0670": "volume file cannot be read";
    COST_VOLUME_NAME = "E0671": "volume file does not match the specs";
    UNUSED_SOURCE = "W0001": "unused source";
    UNUSED_TRANSFORM = "W0002": "transform is never used";
    TAKE_WITHOUT_SORT = "W0003": "`take` without `sort`";
    WINDOW_WITHOUT_ORDER = "W0004": "order-dependent window function without `order`";
}

/// Looks a code up by its id, e.g. `lookup("E0102")`.
pub fn lookup(id: &str) -> Option<Code> {
    ALL.iter().copied().find(|c| c.id == id)
}
