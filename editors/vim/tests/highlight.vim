" Highlighting test of syntax/pipe.vim on the grammar samples (editors/vscode/tests/*.pipe).
" Run by scripts/vim_syntax_test.sh from the repository root; writes its report to $PIPEC_VIM_REPORT.
" Each case: [sample, text to find (literal), word in it, expected syntax group ('' = none)].
set runtimepath^=editors/vim
syntax on
filetype plugin on
let s:cases = [
  \ ['tokens.pipe', '# A comment', '#', 'pipeComment'],
  \ ['tokens.pipe', '// a double-slash', '//', 'pipeComment'],
  \ ['tokens.pipe', '// a double-slash', 'double', 'pipeComment'],
  \ ['tokens.pipe', '"Asia/Seoul"  // zone', 'zone', 'pipeComment'],
  \ ['tokens.pipe', 'import std', 'import', 'pipeDeclaration'],
  \ ['tokens.pipe', 'schedule    daily', 'schedule', 'pipeSetting'],
  \ ['tokens.pipe', 'schedule    daily', 'daily', 'pipeSchedule'],
  \ ['tokens.pipe', '02:00', '02', 'pipeTime'],
  \ ['tokens.pipe', 'end         2024', 'end', 'pipeSetting'],
  \ ['tokens.pipe', 'retries     3 backoff', 'backoff', 'pipeSetting'],
  \ ['tokens.pipe', 'alert       slack', 'slack', 'pipeConnector'],
  \ ['tokens.pipe', 'description """', '"""', 'pipeTripleString'],
  \ ['tokens.pipe', '{yyyy}', 'yyyy', 'pipePlaceholder'],
  \ ['tokens.pipe', 'start: timestamp', 'start', ''],
  \ ['tokens.pipe', 'start: timestamp', 'timestamp', 'pipeType'],
  \ ['tokens.pipe', 'order: int', 'order', ''],
  \ ['tokens.pipe', 'file: string', 'file', ''],
  \ ['tokens.pipe', 'decimal(10, 2)?', 'decimal', 'pipeType'],
  \ ['tokens.pipe', '`visitor id`', 'visitor', 'pipeQuotedName'],
  \ ['tokens.pipe', 'archive after 30d', 'archive', 'pipeRetention'],
  \ ['tokens.pipe', 'to glacier_ir', 'glacier_ir', 'pipeStorageClass'],
  \ ['tokens.pipe', 'expire after 1y', 'after', 'pipeRetention'],
  \ ['tokens.pipe', '| filter (amount', 'filter', 'pipeStep'],
  \ ['tokens.pipe', '?? 0.0', '??', 'pipeOperator'],
  \ ['tokens.pipe', '\n\t', '\n', 'pipeEscape'],
  \ ['tokens.pipe', 'order::string', 'order', ''],
  \ ['tokens.pipe', 'order::string', 'string', 'pipeType'],
  \ ['tokens.pipe', 'visit_id ++', '++', 'pipeOperator'],
  \ ['tokens.pipe', '"lo" end', 'end', 'pipeConditional'],
  \ ['tokens.pipe', '@start - 30m', '@start', 'pipeParam'],
  \ ['tokens.pipe', '@start - 30m', '30m', 'pipeDuration'],
  \ ['tokens.pipe', '2024-01-01T12:00:30', '2024', 'pipeTimestamp'],
  \ ['tokens.pipe', '* 2 / 4', '/', 'pipeOperator'],
  \ ['tokens.pipe', 'sort order desc', 'order', ''],
  \ ['tokens.pipe', 'sort order desc', 'desc', 'pipeStep'],
  \ ['tokens.pipe', 'window partition visit_id order start', 'order', 'pipeStep'],
  \ ['tokens.pipe', 'window partition visit_id order start', 'start', ''],
  \ ['tokens.pipe', 'running = sum(order)', 'order', ''],
  \ ['tokens.pipe', 'join left', 'left', 'pipeStep'],
  \ ['tokens.pipe', 'select except', 'except', 'pipeStep'],
  \ ['tokens.pipe', 'from {visits}', 'visits', 'pipeSqlRef'],
  \ ['tokens.pipe', 'mode merge on', 'on', 'pipeSink'],
  \ ['tokens.pipe', 'partition by day', 'partition', 'pipeSink'],
  \ ['tokens.pipe', 'mode incremental by start', 'start', ''],
  \ ['tokens.pipe', 'test daily_counts for', 'for', 'pipeTest'],
  \ ['tokens.pipe', 'given visits', 'given', 'pipeTest'],
  \ ['tokens.pipe', '} defaults', 'defaults', 'pipeTest'],
  \ ['tokens.pipe', 'unique(day', 'unique', 'pipeCheckFn'],
  \ ['one_line.pipe', 'pipeline demo { schedule hourly', 'schedule', 'pipeSetting'],
  \ ['one_line.pipe', 'pipeline demo { schedule hourly', 'hourly', 'pipeSchedule'],
  \ ['one_line.pipe', 'retries 2 timeout', 'timeout', 'pipeSetting'],
  \ ['one_line.pipe', 'filter order > 0 |', 'filter', 'pipeStep'],
  \ ['one_line.pipe', 'filter order > 0 |', 'order', ''],
  \ ['one_line.pipe', 'window partition file order start', 'file', ''],
  \ ['one_line.pipe', 'window partition file order start', 'start', ''],
  \ ['one_line.pipe', 'select start, order, file, partition', 'partition', ''],
  \ ['on_file.pipe', 'on file "landing', 'file', 'pipeSchedule'],
  \ ['on_file.pipe', '{ file: string }', 'file', ''],
  \ ]
let s:failures = []
let s:current = ''
for [s:sample, s:text, s:word, s:group] in s:cases
  if s:sample !=# s:current
    execute 'silent edit editors/vscode/tests/' . s:sample
    let s:current = s:sample
  endif
  call cursor(1, 1)
  let s:line = search('\V' . escape(s:text, '\'), 'cW')
  if s:line == 0
    call add(s:failures, s:sample . ': text not found: ' . s:text)
    continue
  endif
  let s:col = col('.') + stridx(s:text, s:word)
  let s:got = synIDattr(synID(s:line, s:col, 1), 'name')
  if s:got !=# s:group
    call add(s:failures, printf('%s:%d: `%s` in `%s`: expected %s, got %s', s:sample, s:line,
          \ s:word, s:text, s:group == '' ? 'no group' : s:group, s:got == '' ? 'no group' : s:got))
  endif
endfor
call writefile(s:failures + [printf('%d cases, %d failures', len(s:cases), len(s:failures))], $PIPEC_VIM_REPORT)
if empty(s:failures)
  qall!
else
  cquit!
endif
