; Highlights for .pipe. When several patterns capture the same node, the last one wins
; (tree-sitter-highlight, Neovim, Helix), so general patterns come first.

; ---------------------------------------------------------------- names
(identifier) @variable

(quoted_identifier) @variable

(param_ref) @variable.builtin

; ---------------------------------------------------------------- declarations
[
  "import"
  "as"
] @keyword.import

[
  "pipeline"
  "source"
  "transform"
  "sink"
  "check"
  "test"
  "define"
] @keyword

(pipeline
  name: (_) @module)

(import
  module: (module_path (_) @module))

(import
  alias: (_) @module)

(source
  name: (_) @type.definition)

(transform
  name: (_) @type.definition)

(define
  name: (_) @function)

(test
  name: (_) @function)

(parameter
  name: (_) @variable.parameter)

(field
  name: (_) @property)

(assignment
  name: (_) @property)

(named_argument
  name: (_) @variable.parameter)

; ---------------------------------------------------------------- pipeline settings and schedules
[
  "schedule"
  "start"
  "end"
  "catchup"
  "retries"
  "backoff"
  "timeout"
  "alert"
  "owner"
  "tags"
  "description"
] @keyword

[
  "daily"
  "hourly"
  "at"
  "cron"
  "every"
  "after"
  "on"
  "file"
] @keyword

(continuous_schedule) @keyword

(unknown_setting
  key: (_) @property)

(after_schedule
  pipeline: (_) @module)

; ---------------------------------------------------------------- steps
[
  "filter"
  "derive"
  "select"
  "except"
  "join"
  "inner"
  "left"
  "right"
  "full"
  "using"
  "group"
  "aggregate"
  "sort"
  "asc"
  "desc"
  "take"
  "union"
  "window"
  "partition"
  "order"
  "sql"
] @keyword

(distinct_step) @keyword

[
  "rows"
  "between"
  "unbounded"
  "preceding"
  "following"
  "current"
  "row"
] @keyword

; ---------------------------------------------------------------- sinks and retention
[
  "mode"
  "merge"
  "incremental"
  "by"
  "archive"
  "expire"
  "to"
] @keyword

(unknown_sink_option
  key: (_) @property)

((mode_option
  name: (identifier) @constant.builtin)
  (#any-of? @constant.builtin "append" "replace"))

((archive_option
  class: (identifier) @constant.builtin)
  (#any-of? @constant.builtin "glacier_ir" "glacier" "deep_archive"))

; ---------------------------------------------------------------- tests
[
  "ds"
  "given"
  "expect"
  "for"
  "defaults"
] @keyword

; ---------------------------------------------------------------- expressions
[
  "and"
  "or"
  "not"
  "is"
  "in"
] @keyword.operator

[
  "case"
  "when"
  "then"
  "else"
] @keyword.conditional

(case_expression
  "end" @keyword.conditional)

(call
  function: (identifier) @function.call)

(call
  function: (qualified_name
    (_) @function.call .))

(apply_step
  function: (identifier) @function.call)

(apply_step
  function: (qualified_name
    (_) @function.call .))

; Builtin functions (pipec_check::ir::Builtin), check rules, source kinds, alerts.
((call
  function: (identifier) @function.builtin)
  (#any-of? @function.builtin
    "count" "count_distinct" "count_if" "sum" "avg" "min" "max" "any_value" "stddev" "median"
    "percentile" "row_number" "rank" "dense_rank" "ntile" "lag" "lead" "first_value" "last_value"
    "lower" "upper" "trim" "length" "substr" "replace" "contains" "starts_with" "ends_with"
    "regexp_matches" "split_part" "concat" "lpad" "rpad" "abs" "round" "floor" "ceil" "sqrt" "ln"
    "exp" "power" "greatest" "least" "coalesce" "nullif" "if" "date_trunc" "year" "month" "day"
    "hour" "day_of_week" "days_between" "hours_between" "minutes_between" "seconds_between"
    "make_date" "make_timestamp" "add_months" "format_time" "parse_time" "to_timezone"
    "from_timezone" "json_get" "md5"
    "not_null" "unique" "accepted_values" "in_range" "row_count"
    "calendar" "csv" "ndjson" "json" "parquet" "http" "postgres" "table" "kafka" "kinesis"
    "secret" "slack" "email"))

; ---------------------------------------------------------------- types
(type
  name: (type_identifier) @type)

((type
  name: (type_identifier) @type.builtin)
  (#any-of? @type.builtin
    "int" "bigint" "float" "decimal" "bool" "string" "date" "timestamp" "interval" "json"
    "integer" "int32" "long" "int64" "double" "float64" "numeric" "boolean" "text" "varchar"
    "datetime" "duration" "relation" "column" "columns"))

(nullable) @operator

; ---------------------------------------------------------------- literals
(comment) @comment

(string) @string

(escape_sequence) @string.escape

; `{relation}` in a SQL block.
(string_body
  (placeholder) @variable)

; Path placeholders (pipec_check::vocab::TEMPLATE_VARS).
((placeholder) @string.special
  (#any-of? @string.special
    "{ds}" "{ds_nodash}" "{yyyy}" "{mm}" "{dd}" "{hh}" "{start}" "{end}"))

[
  (number)
  (integer)
  (duration)
  (retention_age)
] @number

[
  (date)
  (timestamp)
  (time_of_day)
  (minute_mark)
] @string.special

(boolean) @boolean

(null) @constant.builtin

; ---------------------------------------------------------------- operators and punctuation
[
  "->"
  "|"
  "="
  "=="
  "!="
  "<="
  ">="
  "<"
  ">"
  "??"
  "+"
  "-"
  "++"
  "*"
  "/"
  "%"
  "::"
] @operator

(arguments
  (star) @operator)

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  "."
  ":"
] @punctuation.delimiter
