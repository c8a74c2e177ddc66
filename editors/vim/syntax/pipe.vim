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
syn keyword pipeDeclaration import as pipeline source transform sink check test define
syn keyword pipeStep        filter derive select except join inner left right full on using
syn keyword pipeStep        group aggregate sort asc desc take distinct union window partition order by sql rows between unbounded preceding following current row
syn keyword pipeSetting     schedule start catchup retries backoff timeout alert owner tags description
syn keyword pipeSchedule    daily hourly cron every after file continuous at
syn keyword pipeSink        mode append replace merge incremental
syn keyword pipeTest        given expect for
syn match   pipeTest        "^\s*\zsds\ze\s\+\d\{4}-"
syn keyword pipeConditional case when then else
" `end` closes a `case`, but starts the `end` setting when a date follows it.
syn match   pipeConditional "\<end\>"
syn match   pipeSetting     "^\s*\zsend\ze\s\+\d\{4}-"
syn keyword pipeWordOp      and or not is in
syn keyword pipeBoolean     true false
syn keyword pipeNull        null

" ---------------------------------------------------------------- comments
syn keyword pipeTodo        contained TODO FIXME XXX NOTE
syn match   pipeComment     "#.*$"  contains=pipeTodo,@Spell
syn match   pipeComment     "//.*$" contains=pipeTodo,@Spell

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
syn match   pipeFunction    "\<\h\w*\%(\.\h\w*\)*\ze\s*("
syn match   pipeBuiltin     "\<\%(lower\|upper\|trim\|length\|substr\|replace\|contains\|starts_with\|ends_with\|regexp_matches\|split_part\|concat\|lpad\|rpad\|abs\|round\|floor\|ceil\|sqrt\|ln\|exp\|power\|greatest\|least\|coalesce\|nullif\|if\|date_trunc\|year\|month\|day\|hour\|day_of_week\|days_between\|hours_between\|minutes_between\|seconds_between\|make_date\|make_timestamp\|add_months\|format_time\|parse_time\|to_timezone\|from_timezone\|json_get\|md5\)\ze\s*("
syn match   pipeBuiltin     "\<\%(count\|count_distinct\|count_if\|sum\|avg\|min\|max\|any_value\|stddev\|median\|percentile\|row_number\|rank\|dense_rank\|ntile\|lag\|lead\|first_value\|last_value\)\ze\s*("
syn match   pipeCheckFn     "\<\%(not_null\|unique\|accepted_values\|in_range\|row_count\)\ze\s*("
syn match   pipeRelation    "\%(\<given\s\+\)\@<=\h\w*"
" A type after `:` (schemas, parameters) or `::` (casts); defined last so it wins over calls.
syn match   pipeType        "\%(::\=\s*\)\@<=\a\w*\%(\s*([0-9, ]*)\)\=?\="
syn match   pipeConnector   "\<\%(csv\|ndjson\|json\|parquet\|http\|postgres\|table\|calendar\|kafka\|kinesis\|slack\|email\|secret\)\ze\s*("

" ---------------------------------------------------------------- operators
syn match   pipeOperator    "->\|==\|!=\|<=\|>=\|++\|??\|::\|[-+*/%<>=|?]"

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
