//! The text form of an [`Estimate`](crate::Estimate): every line as quantity × unit price =
//! cost, per pipeline, per service, the total, the assumptions and the prices with sources.

use std::fmt::Write;

use crate::{Estimate, Line};

/// A quantity: thousands separated, at most 4 decimals, trailing zeros dropped.
pub fn qty(x: f64) -> String {
    let s = format!("{:.4}", x.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let frac = frac.trim_end_matches('0');
    let sign = if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// Dollars with 4 decimals (`$0.0123`).
pub fn usd(x: f64) -> String {
    format!("${:.4}", x)
}

/// A unit price: `$0.0271 per 1,000 state transitions`.
fn unit_price(l: &Line) -> String {
    if l.per == 1.0 {
        format!("${} per {}", qty_price(l.usd), singular(&l.unit))
    } else {
        format!("${} per {} {}", qty_price(l.usd), qty(l.per), l.unit)
    }
}

fn qty_price(x: f64) -> String {
    // Prices keep every significant digit of the table (0.0000166667).
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn singular(unit: &str) -> &str {
    unit.strip_suffix('s')
        .filter(|_| !unit.ends_with("ss"))
        .unwrap_or(unit)
}

fn write_line(out: &mut String, l: &Line) {
    let _ = writeln!(
        out,
        "  {:<16} {}\n  {:<16}   {} {} × {} = {}",
        l.service,
        l.item,
        "",
        qty(l.quantity),
        l.unit,
        unit_price(l),
        usd(l.cost)
    );
}

/// Renders the estimate as text.
pub fn text(e: &Estimate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pipec cost: monthly estimate of the SAM stack in {} (prices of {}, USD)\n",
        e.region, e.price_date
    );
    for p in &e.pipelines {
        let _ = writeln!(out, "pipeline {}", p.name);
        let _ = writeln!(
            out,
            "  executions: {} a month ({})",
            qty(p.runs_per_month),
            p.runs_basis
        );
        match &p.state_machine {
            Some(m) => {
                let _ = writeln!(
                    out,
                    "  state machine {m}: {} states, {} Athena queries scanning data per execution",
                    p.states_per_run, p.queries_per_run
                );
            }
            None => {
                let _ = writeln!(out, "  no state machine in the stack");
            }
        }
        for v in &p.volumes {
            let _ = writeln!(out, "  {v}");
        }
        for l in &p.lines {
            write_line(&mut out, l);
        }
        let _ = writeln!(out, "  subtotal {}\n", usd(p.subtotal));
    }
    let _ = writeln!(out, "shared");
    for l in &e.shared {
        write_line(&mut out, l);
    }
    let shared: f64 = e.shared.iter().map(|l| l.cost).sum();
    let _ = writeln!(out, "  subtotal {}\n", usd(shared));
    let _ = writeln!(out, "by service");
    for (s, c) in &e.by_service {
        let _ = writeln!(out, "  {s:<16} {}", usd(*c));
    }
    let _ = writeln!(out, "  {:<16} {}\n", "total", usd(e.total));
    for c in &e.comparisons {
        let _ = writeln!(
            out,
            "ingestion variants of pipeline {} (stream sources only)",
            c.pipeline
        );
        for (v, lines, total) in &c.variants {
            let _ = writeln!(out, " {}", v.name());
            for l in lines {
                write_line(&mut out, l);
            }
            let _ = writeln!(out, "  total {}", usd(*total));
        }
        if let (Some(a), Some(b)) = (c.variants.first(), c.variants.get(1)) {
            let _ = writeln!(
                out,
                " {} − {} = {} a month",
                a.0.name(),
                b.0.name(),
                usd(a.2 - b.2)
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "stack resources");
    for (t, n) in &e.resources {
        let _ = writeln!(out, "  {n:>3} {t}");
    }
    let _ = writeln!(out, "\nassumptions");
    for a in &e.assumptions {
        let _ = writeln!(out, "  - {a}");
    }
    let _ = writeln!(
        out,
        "\nprices used ({}, compiled {})",
        e.price_table, e.price_date
    );
    for (k, p) in &e.prices {
        let _ = writeln!(
            out,
            "  {k}: ${} per {} {} [{}]\n    {}\n    {}",
            qty_price(p.usd),
            qty(p.per),
            p.unit,
            p.basis,
            p.note,
            p.source
        );
    }
    out
}
