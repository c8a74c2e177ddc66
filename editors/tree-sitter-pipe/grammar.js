/**
 * @file Tree-sitter grammar for pipec's `.pipe` language.
 * @license Apache-2.0
 *
 * Mirrors grammar/pipe.pest rule by rule (the rule names in comments are the pest ones).
 * Keywords other than the reserved words are contextual, as in the pest grammar: `start`,
 * `order`, `file`, `partition`, `rows` ... are keywords only where the language expects them
 * (tree-sitter's keyword extraction) and names everywhere else.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

// Binary operator precedence of `parser::binary_op` (higher binds tighter), and the postfix
// and prefix operators around them (`parser.rs`, `expr`).
const PREC = {
  or: 1,
  and: 2,
  not: 3,
  is: 4,
  compare: 5,
  in: 6,
  coalesce: 7,
  add: 8,
  mul: 9,
  neg: 10,
  cast: 11,
  call: 12,
};

// `reserved` of the pest grammar: never names.
const RESERVED = [
  'and', 'or', 'not', 'null', 'true', 'false', 'case', 'when', 'then', 'else', 'is', 'in',
];

// Words that start a setting; a setting pest cannot read as such is an unknown setting.
const SETTING_WORDS = [
  'schedule', 'start', 'end', 'catchup', 'retries', 'timeout', 'alert', 'owner', 'tags',
  'description',
];

// Retention words that start a sink option (pest reads `expire 30d` as an unknown option).
const SINK_OPTION_WORDS = ['expire', 'archive'];

const BINARY = [
  ['or', PREC.or],
  ['and', PREC.and],
  ['==', PREC.compare],
  ['!=', PREC.compare],
  ['<=', PREC.compare],
  ['>=', PREC.compare],
  ['<', PREC.compare],
  ['>', PREC.compare],
  ['??', PREC.coalesce],
  ['+', PREC.add],
  ['-', PREC.add],
  ['++', PREC.add],
  ['*', PREC.mul],
  ['/', PREC.mul],
  ['%', PREC.mul],
];

// `ident_char` of the pest grammar: ASCII_ALPHANUMERIC | "_" | LETTER | MARK | NUMBER.
const IDENT = /[\p{L}_][\p{L}\p{M}\p{N}_]*/;

/**
 * One or more `rule`, separated by commas.
 * @param {RuleOrLiteral} rule
 */
const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)));

/**
 * One or more `rule`, separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
const commaSepTrailing = (rule) => seq(commaSep1(rule), optional(','));

module.exports = grammar({
  name: 'pipe',

  word: ($) => $.identifier,

  // WHITESPACE and COMMENT.
  extras: ($) => [/[ \t\r\n\uFEFF]/, $.comment],

  reserved: {
    global: (_) => RESERVED,
  },

  supertypes: ($) => [$._step],

  conflicts: ($) => [
    [$.setting, $.unknown_setting],
    [$.retries_setting, $.unknown_setting],
  ],

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice(
      $.transform,
      $.source,
      $.sink,
      $.check,
      $.pipeline,
      $.import,
      $.test,
      $.define,
    ),

    comment: (_) => token(seq(choice('#', '//'), /[^\n]*/)),

    // ------------------------------------------------------------------ imports
    import: ($) => seq(
      'import',
      field('module', choice($.module_path, $.string)),
      optional(seq('as', field('alias', $._ident))),
    ),

    module_path: ($) => seq($._ident, repeat(seq('.', $._ident))),

    // ------------------------------------------------------------------ pipeline
    pipeline: ($) => seq(
      'pipeline',
      field('name', $._ident),
      field('body', $.pipeline_body),
    ),

    pipeline_body: ($) => seq('{', repeat($._setting), '}'),

    _setting: ($) => choice($.schedule, $.setting, $.retries_setting, $.unknown_setting),

    schedule: ($) => seq('schedule', field('spec', choice(
      $.daily_schedule,
      $.hourly_schedule,
      $.cron_schedule,
      $.every_schedule,
      $.after_schedule,
      $.file_schedule,
      $.continuous_schedule,
    ))),

    daily_schedule: ($) => seq(
      'daily',
      optional(seq('at', field('time', $.time_of_day))),
      optional(field('zone', $.string)),
    ),
    hourly_schedule: ($) => seq(
      'hourly',
      optional(seq('at', field('minute', $.minute_mark))),
      optional(field('zone', $.string)),
    ),
    cron_schedule: ($) => seq('cron', field('expression', $.string), optional(field('zone', $.string))),
    every_schedule: ($) => seq('every', field('interval', $.duration), optional(field('zone', $.string))),
    after_schedule: ($) => seq('after', commaSep1(field('pipeline', $._ident))),
    file_schedule: ($) => seq('on', 'file', field('path', $.string)),
    continuous_schedule: (_) => 'continuous',

    time_of_day: (_) => /\d{1,2}:\d{2}/,
    minute_mark: (_) => /:\d{2}/,

    setting: ($) => prec.dynamic(1, seq(
      field('key', choice('start', 'end', 'catchup', 'timeout', 'alert', 'owner', 'tags', 'description')),
      field('value', $._expression),
    )),

    retries_setting: ($) => prec.dynamic(1, seq(
      'retries',
      field('value', $._expression),
      optional(seq('backoff', field('backoff', $._expression))),
    )),

    // A setting the parser accepts and the checker reports (`!(keyword | kw_at) ~ ident ~ expr?`).
    // Greedy like pest: a name after the key is the value. pest also falls back to it when a
    // setting word is not followed by what the setting needs (`schedule weekly`): the parse
    // where the word is a keyword wins when both succeed.
    unknown_setting: ($) => prec.right(seq(
      field('key', choice($._ident, ...SETTING_WORDS)),
      optional(field('value', $._expression)),
    )),

    // ------------------------------------------------------------------ sources
    source: ($) => seq(
      'source',
      field('name', $._ident),
      '=',
      field('reader', $.call),
      optional(field('schema', $.schema)),
      repeat($._retention),
    ),

    schema: ($) => seq('{', optional(commaSepTrailing($.field)), '}'),

    field: ($) => seq(field('name', $._ident), ':', field('type', $.type)),

    // Greedy like pest: `(` or `?` after a type name belong to the type.
    type: ($) => prec.right(seq(
      field('name', $.type_identifier),
      optional(field('parameters', $.type_parameters)),
      optional(field('nullable', $.nullable)),
    )),

    // `type_name`: atomic, ASCII, not checked against the reserved words.
    type_identifier: (_) => /[A-Za-z][A-Za-z0-9_]*/,

    type_parameters: ($) => seq('(', commaSep1($.integer), ')'),

    // After a type, `?` is read before `??`, as in pest (`x::int ?? 0` is an error there).
    nullable: (_) => token(prec(1, '?')),

    // ------------------------------------------------------------------ transforms
    transform: ($) => seq(
      'transform',
      field('name', $._ident),
      '=',
      field('value', $.relation),
    ),

    define: ($) => seq(
      'define',
      optional(field('kind', 'check')),
      field('name', $._ident),
      field('parameters', $.parameters),
      choice(seq('=', field('value', $.relation)), field('rules', $.rule_block)),
    ),

    parameters: ($) => seq('(', optional(commaSepTrailing($.parameter)), ')'),

    parameter: ($) => seq(field('name', $._ident), ':', field('type', $.type)),

    // `relation_expr`: a head and its steps.
    relation: ($) => seq(
      // `sql` not followed by a string is a relation's name, as in pest.
      field('head', choice($.sql_relation, $.call, $._name, alias('sql', $.identifier))),
      repeat(seq('|', field('step', $._step))),
    ),

    sql_relation: ($) => seq('sql', field('query', $.string), field('schema', $.schema)),

    _step: ($) => choice(
      $.filter_step,
      $.derive_step,
      $.select_step,
      $.join_step,
      $.group_step,
      $.aggregate_step,
      $.sort_step,
      $.take_step,
      $.distinct_step,
      $.union_step,
      $.window_step,
      $.apply_step,
    ),

    filter_step: ($) => seq('filter', field('condition', $._expression)),

    derive_step: ($) => seq('derive', commaSep1($.assignment)),

    select_step: ($) => seq('select', choice(
      seq('except', commaSep1(field('column', $._ident))),
      commaSep1(choice($.assignment, $._expression)),
    )),

    join_step: ($) => seq(
      'join',
      optional(field('kind', choice('inner', 'left', 'right', 'full'))),
      field('relation', $._name),
      optional(seq('as', field('alias', $._ident))),
      choice(
        seq('on', field('condition', $._expression)),
        seq('using', '(', commaSep1(field('column', $._ident)), ')'),
      ),
    ),

    group_step: ($) => seq(
      'group',
      commaSep1(field('key', $._expression)),
      field('aggregates', $.aggregate_block),
    ),

    aggregate_step: ($) => seq('aggregate', field('aggregates', $.aggregate_block)),

    aggregate_block: ($) => seq('{', optional(commaSepTrailing($.assignment)), '}'),

    sort_step: ($) => seq('sort', commaSep1($.sort_key)),

    sort_key: ($) => seq(field('value', $._expression), optional(field('direction', choice('asc', 'desc')))),

    take_step: ($) => seq('take', field('count', $._expression)),

    distinct_step: (_) => 'distinct',

    union_step: ($) => seq('union', field('relation', $._name)),

    window_step: ($) => seq(
      'window',
      optional(seq('partition', commaSep1(field('partition', $._expression)))),
      optional(seq('order', commaSep1(field('order', $.sort_key)))),
      optional(field('frame', $.window_frame)),
      field('aggregates', $.aggregate_block),
    ),

    window_frame: ($) => seq('rows', 'between', $.frame_bound, 'and', $.frame_bound),

    frame_bound: ($) => choice(
      seq('unbounded', choice('preceding', 'following')),
      seq('current', 'row'),
      seq($.integer, choice('preceding', 'following')),
    ),

    // A define (or any relation function) applied as a step: `| dedupe.latest(key = id)`.
    apply_step: ($) => seq(field('function', $._name), field('arguments', $.arguments)),

    assignment: ($) => seq(field('name', $._ident), '=', field('value', $._expression)),

    // ------------------------------------------------------------------ sinks
    sink: ($) => seq(
      'sink',
      field('relation', $._name),
      '->',
      field('target', choice($.call, $._name)),
      optional(field('options', $.sink_block)),
    ),

    sink_block: ($) => seq('{', repeat($._sink_option), '}'),

    _sink_option: ($) => choice(
      $.mode_option,
      $.partition_option,
      $._retention,
      $.unknown_sink_option,
    ),

    mode_option: ($) => seq('mode', choice(
      seq('merge', 'on', field('key', $.key_list)),
      seq('incremental', 'by', field('column', $._ident)),
      // `mode merge` without `on` names a mode, as in pest (the checker reports it).
      field('name', choice($._ident, alias(choice('merge', 'incremental'), $.identifier))),
    )),

    key_list: ($) => choice(seq('(', commaSep1($._ident), ')'), $._ident),

    partition_option: ($) => seq('partition', 'by', field('column', $._ident)),

    // As `unknown_setting`, for sink blocks (`expire 30d` without `after`).
    unknown_sink_option: ($) => prec.right(seq(
      field('key', choice($._ident, ...SINK_OPTION_WORDS)),
      optional(field('value', $._expression)),
    )),

    // Storage lifecycle, in a sink block or after a file source.
    _retention: ($) => choice($.expire_option, $.archive_option),

    expire_option: ($) => seq('expire', 'after', field('age', $.retention_age)),

    archive_option: ($) => prec.right(seq(
      'archive',
      'after',
      field('age', $.retention_age),
      // pest reads a `to` without a class as an unknown option (E0666 from the checker).
      optional(seq('to', optional(field('class', $._ident)))),
    )),

    // The unit (d, w, y) is checked by the checker.
    retention_age: (_) => /\d+[\p{L}\p{M}\p{N}_]*/,

    // ------------------------------------------------------------------ checks
    check: ($) => seq('check', field('relation', $._name), field('rules', $.rule_block)),

    rule_block: ($) => seq('{', repeat(seq($._expression, optional(','))), '}'),

    // ------------------------------------------------------------------ tests
    test: ($) => seq(
      'test',
      field('name', $._ident),
      'for',
      field('relation', $._name),
      '{',
      repeat(choice($.test_ds, $.given, $.expect)),
      '}',
    ),

    test_ds: ($) => seq('ds', field('value', $._expression)),

    given: ($) => seq('given', field('relation', $._name), field('fixture', $.fixture)),

    expect: ($) => seq('expect', field('fixture', $.fixture)),

    fixture: ($) => seq(
      '(',
      commaSep1(field('column', $._ident)),
      ')',
      '{',
      repeat(seq($.row, optional(','))),
      '}',
      optional(field('defaults', $.fixture_defaults)),
    ),

    fixture_defaults: ($) => seq('defaults', '{', optional(commaSepTrailing($.assignment)), '}'),

    row: ($) => seq('(', optional(commaSep1($._expression)), ')'),

    // ------------------------------------------------------------------ expressions
    _expression: ($) => choice(
      $.binary_expression,
      $.unary_expression,
      $.not_expression,
      $.cast_expression,
      $.is_null_expression,
      $.in_expression,
      $._primary,
    ),

    _primary: ($) => choice(
      $._name,
      $.call,
      $.timestamp,
      $.date,
      $.duration,
      $.number,
      $.string,
      $.param_ref,
      $.parenthesized_expression,
      $.tuple,
      $.list,
      $.boolean,
      $.null,
      $.case_expression,
      $._glued_literal,
    ),

    binary_expression: ($) => choice(...BINARY.map(([operator, precedence]) => prec.left(precedence, seq(
      field('left', $._expression),
      // @ts-ignore
      field('operator', operator),
      field('right', $._expression),
    )))),

    unary_expression: ($) => prec(PREC.neg, seq(field('operator', '-'), field('operand', $._expression))),

    not_expression: ($) => prec(PREC.not, seq('not', field('operand', $._expression))),

    cast_expression: ($) => prec(PREC.cast, seq(field('value', $._expression), '::', field('type', $.type))),

    is_null_expression: ($) => prec(PREC.is, seq(field('value', $._expression), 'is', optional('not'), $.null)),

    in_expression: ($) => prec(PREC.in, seq(field('value', $._expression), 'in', field('list', $.list))),

    call: ($) => prec(PREC.call, seq(field('function', $._name), field('arguments', $.arguments))),

    arguments: ($) => seq('(', optional(commaSepTrailing(choice($.named_argument, $._expression, alias('*', $.star)))), ')'),

    named_argument: ($) => seq(field('name', $._ident), '=', field('value', $._expression)),

    parenthesized_expression: ($) => seq('(', $._expression, ')'),

    // `(a, b)`: several columns as one define argument.
    tuple: ($) => seq('(', $._expression, repeat1(seq(',', $._expression)), optional(','), ')'),

    list: ($) => seq('[', optional(commaSepTrailing($._expression)), ']'),

    case_expression: ($) => seq(
      'case',
      repeat1($.when_clause),
      optional(seq('else', field('else', $._expression))),
      'end',
    ),

    when_clause: ($) => seq('when', field('condition', $._expression), 'then', field('value', $._expression)),

    param_ref: (_) => token(seq('@', choice(IDENT, /`[^`]+`/))),

    _name: ($) => choice($._ident, $.qualified_name),

    // `qualified_name`: no blank before a dot.
    qualified_name: ($) => seq($._ident, repeat1(seq(token.immediate('.'), $._ident))),

    _ident: ($) => choice($.identifier, $.quoted_identifier),

    identifier: (_) => IDENT,

    quoted_identifier: (_) => /`[^`]+`/,

    // ------------------------------------------------------------------ literals
    boolean: (_) => choice('true', 'false'),

    null: (_) => 'null',

    timestamp: (_) => /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?/,

    date: (_) => /\d{4}-\d{2}-\d{2}/,

    duration: (_) => /\d+(ms|s|m|h|d|w)/,

    number: (_) => /\d+(\.\d+)?([eE][+-]?\d+)?/,

    integer: (_) => /\d+/,

    // pest requires a number, duration or date not to run into letters (`1.5h`, `10x`): such
    // text lexes as one token here, which must be followed by a NUL character, so it is an
    // error as it is for pest. Defined after the literals: of two tokens of the same length,
    // tree-sitter takes the one defined first (`5m` is a duration).
    _glued_literal: ($) => seq(
      choice(
        /\d+(\.\d+)?([eE][+-]?\d+)?[\p{L}\p{M}\p{N}_]+/,
        /\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?[\p{L}\p{M}\p{N}_]+/,
      ),
      /\x00/,
    ),

    // `plain_string` (one line, backslash escapes) and `triple_string` (any text up to the
    // first `"""`, no escapes). `{name}` placeholders (`{ds}` in paths, `{relation}` in SQL)
    // are nodes of their own.
    string: ($) => choice(
      seq(
        '"',
        repeat(choice($.string_content, $.escape_sequence, $.placeholder, alias($._brace, $.string_content))),
        token.immediate('"'),
      ),
      seq(
        '"""',
        optional(alias($._triple_body, $.string_body)),
        token.immediate(prec(3, '"""')),
      ),
    ),

    _triple_body: ($) => repeat1(choice(
      alias($._triple_text, $.string_content),
      alias($._triple_quotes, $.string_content),
      alias($._triple_brace, $.string_content),
      alias($._brace_escape, $.escape_sequence),
      $.placeholder,
    )),

    string_content: (_) => token.immediate(prec(1, /[^"\\\n{]+/)),
    _triple_text: (_) => token.immediate(prec(1, /[^"{}]+/)),
    // One or two quotes inside a triple-quoted string; three end it.
    _triple_quotes: (_) => token.immediate(prec(1, /""?/)),
    _brace: (_) => token.immediate(prec(1, /\{/)),
    // SQL blocks write a literal brace twice.
    _brace_escape: (_) => token.immediate(prec(2, /\{\{|\}\}/)),
    _triple_brace: (_) => token.immediate(prec(1, /[{}]/)),
    placeholder: (_) => token.immediate(prec(2, /\{[A-Za-z_][A-Za-z0-9_]*\}/)),
    // `\u{AC00}` is one escape; any other character after a backslash is one too.
    escape_sequence: (_) => token.immediate(prec(1, /\\(u\{[0-9A-Fa-f]{1,6}\}|.|\n)/)),
  },
});
