" Vim syntax file
" Language:    pipe (.pipe data pipelines, compiled by pipec)
" Maintainer:  the pipec project
" Reference:   docs/language.md

if exists("b:current_syntax")
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn case match
syn sync minlines=200

" ---------------------------------------------------------------- keywords
" Only reserved words are `syn keyword`s (a keyword beats every match): the other keywords are
" contextual (`start`, `order`, `file`, `partition` are also column names), so each is a match
" in its context, or a keyword contained in the pipeline block.
syn match   pipeDeclaration "^\s*\zs\%(import\|pipeline\|source\|transform\|sink\|check\|test\|define\)\>"
syn match   pipeDeclaration "\%(^\s*define\s\+\)\@<=check\>"
syn match   pipeDeclaration "\<as\>"
" A step starts after `|`, or at the start of a line (after a trailing `|`).
syn match   pipeStep        "\%(|\s*\)\@<=\<\%(filter\|derive\|select\|join\|group\|aggregate\|sort\|take\|distinct\|union\|window\)\>"
syn match   pipeStep        "^\s*\zs\%(filter\|derive\|select\|join\|group\|aggregate\|sort\|take\|distinct\|union\|window\)\>\ze\s"
syn match   pipeStep        "\%(\<select\s\+\)\@<=except\>"
syn match   pipeStep        "\%(\<join\s\+\)\@<=\%(inner\|left\|right\|full\)\>"
syn match   pipeStep        "\<\%(on\|using\|asc\|desc\)\>"
syn match   pipeStep        "\<sql\>\ze\s*\%(\"\"\"\|$\)"
" Window words only between `window` and its `{`.
syn match   pipeStep        "\%(\<window\>[^{]*\)\@<=\<\%(partition\|order\|rows\|between\|unbounded\|preceding\|following\|current\|row\)\>"
syn match   pipeSink        "\<mode\>\ze\s\+\h"
syn match   pipeSink        "\%(\<mode\s\+\)\@<=\%(append\|replace\|merge\|incremental\)\>"
syn match   pipeSink        "\%(\<merge\s\+\)\@<=on\>"
syn match   pipeSink        "\%(\<\%(incremental\|partition\)\s\+\)\@<=by\>"
syn match   pipeSink        "\<partition\ze\s\+by\>"
syn match   pipeRetention   "\<\%(archive\|expire\)\ze\s\+after\>"
syn match   pipeRetention   "\%(\<\%(archive\|expire\)\s\+\)\@<=after\>"
syn match   pipeRetention   "\%(\<archive\s\+after\s\+\w\+\s\+\)\@<=to\>"
syn match   pipeStorageClass "\%(\<to\s\+\)\@<=\%(glacier_ir\|glacier\|deep_archive\)\>"
syn match   pipeTest        "\%(^\s*test\s\+\S\+\s\+\)\@<=for\>"
syn match   pipeTest        "^\s*\zsds\ze\s\+\d\{4}-"
syn match   pipeTest        "\<given\ze\s"
syn match   pipeTest        "\<expect\ze\s*("
syn match   pipeTest        "\%(}\s*\)\@<=defaults\ze\s*{"
" `end` closes a `case`; in the pipeline block it is the `end` setting.
syn match   pipeConditional "\<end\>"
syn keyword pipeConditional case when then else
syn keyword pipeWordOp      and or not is in
syn keyword pipeBoolean     true false
syn keyword pipeNull        null

" The pipeline block: settings and schedule words are keywords only here.
syn region  pipePipeline    matchgroup=pipeDeclaration start="^\s*\zspipeline\>\ze.*{" end="}" contains=pipeSetting,pipeSchedule,pipeComment,pipeString,pipeTripleString,pipeNumber,pipeDuration,pipeDate,pipeTimestamp,pipeTime,pipeConnector,pipeFunction,pipeBoolean,pipeNull,pipeOperator,pipeQuotedName
syn keyword pipeSetting     contained schedule start end catchup retries backoff timeout alert owner tags description
syn keyword pipeSchedule    contained daily hourly cron every after continuous at
syn match   pipeSchedule    contained "\<on\s\+file\>"

" ---------------------------------------------------------------- numbers, dates, durations
" Later definitions win when two items start at the same column.
syn match   pipeNumber      "\<\d\+\%(\.\d\+\)\=\%([eE][+-]\=\d\+\)\=\>"
syn match   pipeDuration    "\<\d\+\%(ms\|s\|m\|h\|d\|w\)\>"
syn match   pipeDate        "\<\d\{4}-\d\{2}-\d\{2}\>"
syn match   pipeTimestamp   "\<\d\{4}-\d\{2}-\d\{2}[T ]\d\{2}:\d\{2}\%(:\d\{2}\)\=\>"
syn match   pipeTime        "\<\d\{1,2}:\d\{2}\>"
syn match   pipeTime        "\%(\<at\s\+\)\@<=:\d\{2}\>"

" ---------------------------------------------------------------- names, parameters, types
syn match   pipeQuotedName  "`[^`]*`"
syn match   pipeParam       "@\%(ds\|start\|end\)\>"
syn match   pipeFunction    "\<\%(\%(on\|using\|expect\|in\|and\|or\|not\|when\|then\|else\|filter\|take\|sort\|group\|derive\|select\)\>\)\@!\h\w*\%(\.\h\w*\)*\ze\s*("
syn match   pipeBuiltin     "\<\%(lower\|upper\|trim\|length\|substr\|replace\|contains\|starts_with\|ends_with\|regexp_matches\|split_part\|concat\|lpad\|rpad\|abs\|round\|floor\|ceil\|sqrt\|ln\|exp\|power\|greatest\|least\|coalesce\|nullif\|if\|date_trunc\|year\|month\|day\|hour\|day_of_week\|days_between\|hours_between\|minutes_between\|seconds_between\|make_date\|make_timestamp\|add_months\|format_time\|parse_time\|to_timezone\|from_timezone\|json_get\|md5\)\ze\s*("
syn match   pipeBuiltin     "\<\%(count\|count_distinct\|count_if\|sum\|avg\|min\|max\|any_value\|stddev\|median\|percentile\|row_number\|rank\|dense_rank\|ntile\|lag\|lead\|first_value\|last_value\)\ze\s*("
syn match   pipeCheckFn     "\<\%(not_null\|unique\|accepted_values\|in_range\|row_count\)\ze\s*("
syn match   pipeRelation    "\%(\<given\s\+\)\@<=\h\w*"
" A type after `:` (schemas, parameters) or `::` (casts); defined last so it wins over calls.
syn match   pipeType        "\%(::\=\s*\)\@<=\%(int\|bigint\|float\|decimal\|bool\|string\|date\|timestamp\|interval\|json\|integer\|int32\|long\|int64\|double\|float64\|numeric\|boolean\|text\|varchar\|datetime\|duration\|relation\|columns\|column\)\>\%(\s*([0-9, ]*)\)\=?\="
syn match   pipeConnector   "\<\%(csv\|ndjson\|json\|parquet\|http\|postgres\|table\|calendar\|kafka\|kinesis\|slack\|email\|secret\)\ze\s*("

" ---------------------------------------------------------------- operators
syn match   pipeOperator    "->\|==\|!=\|<=\|>=\|++\|??\|::\|[-+*/%<>=|?]"

" ---------------------------------------------------------------- comments
" After the operators: of two matches at one column the later wins, so `//` is a comment.
syn keyword pipeTodo        contained TODO FIXME XXX NOTE
syn match   pipeComment     "#.*$"  contains=pipeTodo,@Spell
syn match   pipeComment     "//.*$" contains=pipeTodo,@Spell

" ---------------------------------------------------------------- strings
syn match   pipeBadEscape   contained "\\."
syn match   pipeEscape      contained +\\\%([ntr0\\"']\|u{\x\{1,6}}\)+
syn match   pipePlaceholder contained "{\%(ds\|ds_nodash\|yyyy\|mm\|dd\|hh\|start\|end\)}"
syn match   pipeSqlRef      contained "{\s*\h\w*\%(\.\h\w*\)*\s*}"
syn match   pipeBraceEscape contained "{{\|}}"
syn region  pipeString       start=+"+ skip=+\\\\\|\\"+ end=+"+ end=+$+ contains=pipeBadEscape,pipeEscape,pipePlaceholder
syn region  pipeTripleString start=+"""+ end=+"""+ keepend contains=pipeSqlRef,pipePlaceholder,pipeBraceEscape

" ---------------------------------------------------------------- links
hi def link pipeDeclaration  Structure
hi def link pipeStep         Statement
hi def link pipeSetting      Keyword
hi def link pipeSchedule     Keyword
hi def link pipeSink         Keyword
hi def link pipeRetention    Keyword
hi def link pipeStorageClass Constant
hi def link pipeTest         Keyword
hi def link pipeConditional  Conditional
hi def link pipeWordOp       Operator
hi def link pipeOperator     Operator
hi def link pipeBoolean      Boolean
hi def link pipeNull         Constant
hi def link pipeTodo         Todo
hi def link pipeComment      Comment
hi def link pipeNumber       Number
hi def link pipeDuration     Number
hi def link pipeDate         Constant
hi def link pipeTimestamp    Constant
hi def link pipeTime         Constant
hi def link pipeQuotedName   Identifier
hi def link pipeParam        PreProc
hi def link pipeType         Type
hi def link pipeFunction     Function
hi def link pipeRelation     Identifier
hi def link pipeBuiltin      Function
hi def link pipeCheckFn      Function
hi def link pipeConnector    Special
hi def link pipeString       String
hi def link pipeTripleString String
hi def link pipeEscape       SpecialChar
hi def link pipeBadEscape    Error
hi def link pipePlaceholder  Special
hi def link pipeSqlRef       Special
hi def link pipeBraceEscape  SpecialChar

let b:current_syntax = "pipe"

let &cpo = s:cpo_save
unlet s:cpo_save
