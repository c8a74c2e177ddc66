//! Checks of an Amazon States Language definition's graph, for tests and for anyone holding an
//! emitted `template.yaml`: every transition names a state, a terminal state is reachable from
//! every state, no state is unreachable, and every Athena query is plain text or a
//! `States.Format` with one argument per `{}` hole, each argument a plain path (`$.run.ds`), and
//! no `?` placeholder or `ExecutionParameters` (run values are spliced by `States.Format`).
//! `scripts/sam_check.py` applies the same rules in Python.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

/// The problems of definition `def` (an object with `StartAt` and `States`), each a sentence
/// naming the state; empty when the graph is sound. `Parallel` branches and `Map` item
/// processors are checked as definitions of their own.
pub fn graph_problems(def: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(def, "", &mut out);
    out
}

fn check(def: &Value, prefix: &str, out: &mut Vec<String>) {
    let Some(states) = def.get("States").and_then(Value::as_object) else {
        out.push(format!("{prefix}no `States` object"));
        return;
    };
    let start = def.get("StartAt").and_then(Value::as_str).unwrap_or("");
    if !states.contains_key(start) {
        out.push(format!("{prefix}`StartAt` names no state: {start:?}"));
    }
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut terminal: BTreeSet<&str> = BTreeSet::new();
    for (name, s) in states {
        let ty = s.get("Type").and_then(Value::as_str).unwrap_or("");
        let mut links: Vec<(&str, &Value)> = Vec::new();
        for (what, key) in [("`Next`", "Next"), ("`Default`", "Default")] {
            if let Some(v) = s.get(key) {
                links.push((what, v));
            }
        }
        for (what, key) in [
            ("a choice's `Next`", "Choices"),
            ("a `Catch`'s `Next`", "Catch"),
        ] {
            for c in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                if let Some(v) = c.get("Next") {
                    links.push((what, v));
                }
            }
        }
        let mut next: Vec<&str> = Vec::new();
        for (what, v) in links {
            match v.as_str() {
                Some(t) if states.contains_key(t) => next.push(t),
                _ => out.push(format!(
                    "{prefix}state {name:?}: {what} names no state: {v}"
                )),
            }
        }
        let end = s.get("End").and_then(Value::as_bool) == Some(true);
        match ty {
            "Succeed" | "Fail" => {
                terminal.insert(name);
            }
            "Choice" => {
                if s.get("Choices")
                    .and_then(Value::as_array)
                    .is_none_or(|c| c.is_empty())
                {
                    out.push(format!("{prefix}state {name:?}: a Choice without choices"));
                }
            }
            "Task" | "Pass" | "Wait" | "Parallel" | "Map" => {
                if end {
                    terminal.insert(name);
                }
                if end == s.get("Next").is_some() {
                    out.push(format!(
                        "{prefix}state {name:?}: needs exactly one of `Next` and `End: true`"
                    ));
                }
            }
            other => out.push(format!("{prefix}state {name:?}: unknown type {other:?}")),
        }
        for (i, b) in s
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check(b, &format!("{prefix}{name} branch {i}: "), out);
        }
        if let Some(proc) = s.get("ItemProcessor").or_else(|| s.get("Iterator")) {
            check(proc, &format!("{prefix}{name} items: "), out);
        }
        if let Some(f) = s
            .get("Parameters")
            .and_then(|p| p.get("QueryString.$"))
            .and_then(Value::as_str)
        {
            match format_call(f) {
                Some((_, Some(args))) if args.iter().all(|a| is_path(a)) => {}
                Some((_, Some(_))) => out.push(format!(
                    "{prefix}state {name:?}: a `QueryString.$` argument that is not a plain path"
                )),
                _ => out.push(format!(
                    "{prefix}state {name:?}: a `QueryString.$` that is not a `States.Format` with one argument per `{{}}`"
                )),
            }
        }
        if let Some(q) = athena_query(s) {
            let marks = placeholders(&q);
            if marks > 0 {
                out.push(format!(
                    "{prefix}state {name:?}: {marks} `?` in the query (run values go through `States.Format`)"
                ));
            }
            let params = s.get("Parameters");
            if params.is_some_and(|p| {
                p.get("ExecutionParameters").is_some() || p.get("ExecutionParameters.$").is_some()
            }) {
                out.push(format!(
                    "{prefix}state {name:?}: `ExecutionParameters` (Athena refuses them outside `WHERE`)"
                ));
            }
        }
        edges.insert(name, next);
    }
    // Reachable from the start.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    if states.contains_key(start) {
        queue.push_back(start);
        seen.insert(start);
    }
    while let Some(n) = queue.pop_front() {
        for &m in edges.get(n).into_iter().flatten() {
            if seen.insert(m) {
                queue.push_back(m);
            }
        }
    }
    for name in states.keys() {
        if !seen.contains(name.as_str()) {
            out.push(format!("{prefix}state {name:?} is unreachable"));
        }
    }
    // A terminal reachable from every state: walk the edges backwards from the terminals.
    let mut back: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&from, tos) in &edges {
        for &to in tos {
            back.entry(to).or_default().push(from);
        }
    }
    let mut ends: BTreeSet<&str> = terminal.clone();
    let mut queue: VecDeque<&str> = terminal.into_iter().collect();
    while let Some(n) = queue.pop_front() {
        for &m in back.get(n).into_iter().flatten() {
            if ends.insert(m) {
                queue.push_back(m);
            }
        }
    }
    for name in states.keys() {
        if !ends.contains(name.as_str()) {
            out.push(format!("{prefix}state {name:?} reaches no terminal state"));
        }
    }
}

/// The query text of an Athena `StartQueryExecution` task state: its `QueryString`, or the
/// template of a `QueryString.$` that is `States.Format('...', ...)` with its escapes undone
/// (each `{}` left in place).
pub fn athena_query(state: &Value) -> Option<String> {
    let resource = state.get("Resource")?.as_str()?;
    if !resource.starts_with("arn:aws:states:::athena:startQueryExecution") {
        return None;
    }
    let params = state.get("Parameters")?;
    if let Some(q) = params.get("QueryString") {
        return q.as_str().map(String::from);
    }
    let (template, _) = format_call(params.get("QueryString.$")?.as_str()?)?;
    Some(template)
}

/// `States.Format('template', args...)`: the template with its escapes undone (each `{}`
/// left in place), and its arguments when there are as many as `{}` holes.
fn format_call(expr: &str) -> Option<(String, Option<Vec<String>>)> {
    let inner = expr
        .trim()
        .strip_prefix("States.Format(")?
        .strip_suffix(')')?
        .strip_prefix('\'')?;
    let mut template = String::new();
    let mut holes = 0;
    let mut chars = inner.char_indices();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, d)) = chars.next() {
                    template.push(d);
                }
            }
            '\'' => {
                end = Some(i);
                break;
            }
            '{' if inner[i + 1..].starts_with('}') => {
                holes += 1;
                template.push('{');
            }
            c => template.push(c),
        }
    }
    let rest = &inner[end? + 1..];
    let args = top_level_args(rest.trim_start().strip_prefix(',').unwrap_or(""));
    Some((template, (holes == args.len()).then_some(args)))
}

/// Whether an intrinsic's argument is a plain JSONPath (`$.run.ds`, `$$.Execution.Name`):
/// `$` then dotted names of letters, digits and `_`.
fn is_path(arg: &str) -> bool {
    let rest = arg.strip_prefix("$$").or_else(|| arg.strip_prefix('$'));
    rest.is_some_and(|r| {
        !r.is_empty()
            && r.split('.')
                .skip(1)
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            && r.starts_with('.')
    })
}

/// The arguments of the `States.Format` of an Athena task state's `QueryString.$` (trimmed),
/// when it has one argument per `{}` hole; empty for a plain `QueryString`.
pub fn query_arguments(state: &Value) -> Option<Vec<String>> {
    let params = state.get("Parameters")?;
    if params.get("QueryString").is_some() {
        return Some(Vec::new());
    }
    format_call(params.get("QueryString.$")?.as_str()?)?.1
}

/// The comma-separated arguments of an intrinsic function's argument list (trimmed), ignoring
/// commas inside nested calls and `'...'` strings (where `\` escapes).
fn top_level_args(s: &str) -> Vec<String> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    let mut out = vec![String::new()];
    for c in s.chars() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => quoted = false,
                _ => {}
            }
        } else {
            match c {
                '\'' => quoted = true,
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(String::new());
                    continue;
                }
                _ => {}
            }
        }
        out.last_mut().expect("an argument").push(c);
    }
    out.iter().map(|a| a.trim().to_string()).collect()
}

/// The `?` placeholders of SQL text: those outside string literals, quoted identifiers and
/// comments.
pub fn placeholders(sql: &str) -> usize {
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                // A doubled quote inside is the quote itself: the loop re-enters the literal.
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => n += 1,
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_placeholders_outside_literals() {
        assert_eq!(
            placeholders("SELECT ? , 'a?''?' , \"b?\" -- ?\n, ? /* ? */"),
            2
        );
        assert_eq!(
            top_level_args("$.a, States.Format('{}, \\'x\\'', $.b)"),
            ["$.a", "States.Format('{}, \\'x\\'', $.b)"]
        );
        let (t, ok) =
            format_call("States.Format('DROP t_{} WHERE a = \\'?\\' AND \\{b\\} = ?', $.s)")
                .unwrap();
        assert_eq!(t, "DROP t_{} WHERE a = '?' AND {b} = ?");
        assert_eq!(ok, Some(vec!["$.s".to_string()]));
        assert_eq!(placeholders(&t), 1);
        assert_eq!(format_call("States.Format('{}{}', $.s)").unwrap().1, None);
        assert!(is_path("$.run.ds") && is_path("$$.Execution.Name"));
        assert!(!is_path("$") && !is_path("$.a..b") && !is_path("States.Hash($.a, 'MD5')"));
    }

    #[test]
    fn finds_broken_graphs() {
        let good = json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
                  "Parameters": {"QueryString.$": "States.Format('SELECT \\'{}\\' WHERE x = \\'?\\' AND s = {}', $.run.ds, $.params.stage)"},
                  "Next": "B", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "f", "Next": "F"}],
                  "Default": "C"},
            "C": {"Type": "Succeed"},
            "F": {"Type": "Fail"}}});
        assert_eq!(graph_problems(&good), Vec::<String>::new());
        let bad = json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
                  "Parameters": {"QueryString": "SELECT ?", "ExecutionParameters": ["1"]}, "Next": "Nope"},
            "Q": {"Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
                  "Parameters": {"QueryString.$": "States.Format('SELECT {}, {}', $.run.ds)"}, "End": true},
            "R": {"Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
                  "Parameters": {"QueryString.$": "States.Format('SELECT {}', States.Hash($.a, 'MD5'))"}, "End": true},
            "L": {"Type": "Pass", "Next": "L"},
            "C": {"Type": "Succeed"}}});
        let p = graph_problems(&bad);
        assert!(p.iter().any(|m| m.contains("names no state")), "{p:?}");
        assert!(
            p.iter().any(|m| m.contains("\"L\" is unreachable")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.contains("\"L\" reaches no terminal")),
            "{p:?}"
        );
        for want in [
            "\"A\": 1 `?` in the query",
            "\"A\": `ExecutionParameters`",
            "\"Q\": a `QueryString.$` that is not a `States.Format` with one argument per `{}`",
            "\"R\": a `QueryString.$` argument that is not a plain path",
        ] {
            assert!(p.iter().any(|m| m.contains(want)), "{want}: {p:?}");
        }
    }
}
