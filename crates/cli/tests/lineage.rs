//! `pipec lineage` and `pipec graph --columns / --select` as a user runs them.

use std::collections::HashSet;

mod common;
use common::{in_root as pipec, stderr, stdout};

#[test]
fn lineage_text_shows_both_directions_with_steps() {
    let out = pipec(&["lineage", "examples/", "station_daily.avg_minutes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = "\
bike_share.station_daily.avg_minutes: float?  <- group { avg_minutes = avg(minutes) }
upstream:
  [aggregate] bike_share.rentals.rented_at: timestamp  <- source csv(\"data/rentals/{ds}.csv\")
  [aggregate] bike_share.rentals.returned_at: timestamp  <- source csv(\"data/rentals/{ds}.csv\")
rows chosen by:
  bike_share.station_daily: filter returned_at > rented_at  (reads bike_share.rentals.returned_at, bike_share.rentals.rented_at)
  bike_share.station_daily: join left latest_stations using (station_id)  (reads bike_share.rentals.station_id, bike_share.latest_stations.station_id)
downstream:
  [copy] bike_share.mart.station_daily.avg_minutes: float?  <- sink station_daily -> mart.station_daily
";
    assert_eq!(text, expected);

    let up = pipec(&[
        "lineage",
        "examples/bike_share",
        "MART.station_daily.District",
        "--upstream",
    ]);
    assert_eq!(up.status.code(), Some(0), "{}", stderr(&up));
    let text = stdout(&up);
    assert!(text.contains("  [copy] bike_share.station_daily.district: string?  <- group district\n    [group key] bike_share.latest_stations.district: string\n      [copy] bike_share.stations.district: string  <- source http("), "{text}");
    assert!(!text.contains("downstream:"), "{text}");
}

#[test]
fn lineage_follows_tables_across_pipelines() {
    let out = pipec(&[
        "lineage",
        "examples/nps",
        "nps_ingest.answers.score",
        "--downstream",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[table] nps_daily.answers.score: int"),
        "{text}"
    );
    assert!(!text.contains("upstream:"), "{text}");
}

#[test]
fn lineage_json_lists_columns_and_edges() {
    let out = pipec(&[
        "lineage",
        "examples/",
        "bike_share.mart.station_daily.avg_minutes",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["column"]["id"],
        "bike_share.mart.station_daily.avg_minutes"
    );
    let up: HashSet<&str> = v["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        up,
        HashSet::from([
            "bike_share.station_daily.avg_minutes",
            "bike_share.rentals.rented_at",
            "bike_share.rentals.returned_at"
        ])
    );
    assert_eq!(v["downstream"].as_array().unwrap().len(), 0);
    let edge = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["from"] == "bike_share.rentals.rented_at")
        .expect("an edge from rented_at");
    assert_eq!(edge["to"], "bike_share.station_daily.avg_minutes");
    assert_eq!(edge["how"], "aggregate");
    assert_eq!(
        edge["steps"],
        serde_json::json!([
            "derive minutes = minutes_between(rented_at, returned_at)",
            "group { avg_minutes = avg(minutes) }"
        ])
    );
}

#[test]
fn unknown_names_fail_with_a_suggestion() {
    let out = pipec(&["lineage", "examples/", "station_daily.avg_minute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "`bike_share.station_daily` has no column `avg_minute`; did you mean `avg_minutes`?"
        ),
        "{}",
        stderr(&out)
    );
    let out = pipec(&["lineage", "examples/", "stations_daily.rides"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown relation `stations_daily`; did you mean `station_daily`?"),
        "{}",
        stderr(&out)
    );
    let out = pipec(&["lineage", "examples/", "answers.score"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`nps_daily.answers`, `nps_ingest.answers`"),
        "{}",
        stderr(&out)
    );
    let out = pipec(&["graph", "examples/", "--select", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown relation `nope`"),
        "{}",
        stderr(&out)
    );
}

/// Node ids declared and edge endpoints of a dot or Mermaid text.
fn nodes_and_edges(text: &str, arrow: &str) -> (HashSet<String>, Vec<(String, String)>) {
    let mut nodes = HashSet::new();
    let mut edges = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('c') && line.contains(arrow) {
            let mut parts = line.split(arrow);
            let a = parts.next().unwrap().trim().to_string();
            let rest = parts.next().unwrap().trim();
            let rest = rest
                .strip_prefix('|')
                .map_or(rest, |r| r.split_once('|').unwrap().1);
            let b: String = rest
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            edges.push((a, b));
        } else if line.starts_with('c') && line.chars().nth(1).is_some_and(|c| c.is_ascii_digit()) {
            let id: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            nodes.insert(id);
        }
    }
    (nodes, edges)
}

#[test]
fn column_graphs_render_as_dot_mermaid_and_json() {
    let dot = pipec(&["graph", "examples/", "--columns", "--format", "dot"]);
    assert_eq!(dot.status.code(), Some(0), "{}", stderr(&dot));
    let text = stdout(&dot);
    assert!(text.starts_with("digraph lineage {"), "{text}");
    assert_eq!(text.matches('{').count(), text.matches('}').count());
    let (nodes, edges) = nodes_and_edges(&text, "->");
    assert!(
        nodes.len() > 100 && edges.len() > 100,
        "{} {}",
        nodes.len(),
        edges.len()
    );
    for (a, b) in &edges {
        assert!(nodes.contains(a) && nodes.contains(b), "{a} -> {b}");
    }
    assert!(text.contains("[label=\"aggregate\"]"), "{text}");

    let mermaid = pipec(&["graph", "examples/", "--columns", "--format", "mermaid"]);
    assert_eq!(mermaid.status.code(), Some(0), "{}", stderr(&mermaid));
    let text = stdout(&mermaid);
    assert!(text.starts_with("flowchart LR\n"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("subgraph"))
            .count(),
        text.lines().filter(|l| l.trim() == "end").count()
    );
    let (nodes, edges) = nodes_and_edges(&text, "-->");
    assert!(!edges.is_empty());
    for (a, b) in &edges {
        assert!(nodes.contains(a) && nodes.contains(b), "{a} --> {b}");
    }
    assert!(
        text.contains("[\"bike_share.station_daily (transform)\"]\n"),
        "{text}"
    );
    assert!(text.contains("-->|aggregate|"), "{text}");
}

#[test]
fn select_keeps_ancestors_and_descendants_across_pipelines() {
    let out = pipec(&[
        "graph",
        "examples/",
        "--columns",
        "--select",
        "nps_ingest.raw.survey_answers",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rels: HashSet<&str> = v["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rels,
        HashSet::from([
            "nps_ingest.answers",
            "nps_ingest.raw.survey_answers",
            "nps_daily.answers",
            "nps_daily.day_answers",
            "nps_daily.daily_nps",
            "nps_daily.mart.nps_daily"
        ])
    );
    let edges = v["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "nps_ingest.raw.survey_answers.score"
                && e["to"] == "nps_daily.answers.score"
                && e["how"] == "table"),
        "{edges:?}"
    );

    let plan = pipec(&[
        "graph",
        "examples/",
        "--select",
        "station_daily",
        "--format",
        "mermaid",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let text = stdout(&plan);
    for want in [
        "rentals",
        "stations",
        "latest_stations",
        "check:station_daily",
        "mart.station_daily",
    ] {
        assert!(text.contains(&format!("\"{want}\"")), "{want}: {text}");
    }
    assert!(!text.contains("nps") && !text.contains("blog"), "{text}");
}
