; SQL inside `sql """..."""`: the text between the quotes, `{relation}` references included.
((sql_relation
  query: (string
    (string_body) @injection.content))
  (#set! injection.language "sql")
  (#set! injection.include-children))

((comment) @injection.content
  (#set! injection.language "comment"))
