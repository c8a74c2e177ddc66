; Blocks fold, and so does a relation's chain of steps.
[
  (pipeline_body)
  (schema)
  (sink_block)
  (rule_block)
  (aggregate_block)
  (fixture)
  (fixture_defaults)
  (arguments)
  (list)
  (case_expression)
  (relation)
  (test)
  (string_body)
] @fold
