#!/usr/bin/env bash
# Tests editors/vim/syntax/pipe.vim: opens the grammar samples (editors/vscode/tests/*.pipe) in
# headless Vim and compares the syntax group of chosen words with editors/vim/tests/highlight.vim.
# Needs Vim 8 or later; installs Debian's vim-nox when missing and running as root with apt.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v vim >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq vim-nox >/dev/null) 1>&2 || true
fi
if ! command -v vim >/dev/null 2>&1; then
  echo "vim_syntax_test.sh: vim not found; install Vim (e.g. apt-get install vim) and rerun" >&2
  exit 2
fi
PIPEC_VIM_REPORT="$(mktemp)"
export PIPEC_VIM_REPORT
trap 'rm -f "$PIPEC_VIM_REPORT"' EXIT
status=0
vim -Nu NONE -i NONE -es -S editors/vim/tests/highlight.vim </dev/null || status=$?
cat "$PIPEC_VIM_REPORT"
# A script that stopped early wrote no summary: that is a failure too.
grep -q ' 0 failures$' "$PIPEC_VIM_REPORT" || status=1
exit "$status"
