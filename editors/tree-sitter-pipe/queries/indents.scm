; Indent inside blocks and brackets, and the steps of a relation (`| step` lines).
[
  (pipeline_body)
  (schema)
  (sink_block)
  (rule_block)
  (aggregate_block)
  (fixture)
  (fixture_defaults)
  (parameters)
  (arguments)
  (list)
  (row)
  (test)
  (case_expression)
] @indent.begin

; Steps on the lines after `transform x = y` / `define f(...) = y`, retention lines after a source.
[
  (transform)
  (define)
  (source)
] @indent.begin

[
  "}"
  ")"
  "]"
] @indent.branch @indent.end

(case_expression
  "end" @indent.branch)

(comment) @indent.auto

(string_body) @indent.ignore
