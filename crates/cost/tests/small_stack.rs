//! `pipec cost` on one small stack (tests/fixtures: two pipelines, a hand-written template in the
//! shape `pipec emit --target sam` writes, a volume file), every figure computed by hand below.

use pipec_check::NoFiles;
use pipec_cost::{estimate, parse_volume, Estimate, Inputs, Line, Prices, Variant};
use pipec_diag::SourceMap;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn project() -> pipec_check::ir::Project {
    let mut sources = SourceMap::new();
    let roots = vec![
        sources.add("small.pipe", fixture("small.pipe")),
        sources.add("clicks.pipe", fixture("clicks.pipe")),
    ];
    let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
    assert!(
        !checked.has_errors(),
        "fixtures check clean: {:?}",
        checked.diagnostics
    );
    checked.project
}

fn run(compare: &[Variant]) -> Estimate {
    let project = project();
    let template: serde_json::Value = serde_json::from_str(&fixture("template.json")).unwrap();
    let volumes = parse_volume("volumes.toml", &fixture("volumes.toml")).unwrap();
    let prices = Prices::seoul();
    estimate(&Inputs {
        project: &project,
        template: &template,
        volumes: &volumes,
        measured: None,
        prices: &prices,
        compare,
    })
    .unwrap()
}

fn find<'a>(lines: &'a [Line], service: &str, item: &str) -> &'a Line {
    lines
        .iter()
        .find(|l| l.service == service && l.item.contains(item))
        .unwrap_or_else(|| panic!("no {service} line with `{item}` in {lines:#?}"))
}

fn close(actual: f64, expected: f64) {
    let tol = 1e-9 * expected.abs().max(1e-6);
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} != {expected} (hand-computed)"
    );
}

/// `visits_daily`: `daily at 02:00 "Asia/Seoul"` → 365 intervals in 2025 → R = 365/12 =
/// 30.416 666… executions a month. The state machine enters 8 states on success (Interval,
/// StageVisits, CheckNotNull, CheckResult, CheckChoice, Publish, Cleanup, Done); 3 Athena
/// queries scan data (the CTAS, the check, the INSERT; the DROP is DDL, free), 2 of them
/// write data. Input: 50 MiB per interval (declared).
#[test]
fn batch_pipeline_figures_match_the_hand_computation() {
    let e = run(&[]);
    let p = &e.pipelines[0];
    assert_eq!(p.name, "visits_daily");
    let r = 365.0 / 12.0;
    close(p.runs_per_month, r);
    assert_eq!((p.states_per_run, p.queries_per_run), (8, 3));
    let l = &p.lines;

    // Step Functions: 8 R = 243.333… transitions × $0.0271 / 1,000 = $0.006 594 33…
    let sfn = find(l, "Step Functions", "executions");
    close(sfn.quantity, 8.0 * r);
    close(sfn.cost, 8.0 * r * 0.0271 / 1000.0);

    // Athena: 3 R = 91.25 queries × 50 MiB = 4,562.5 MiB = 4,562.5 / 2^20 TB
    // = 0.004 351 139 TB × $5 = $0.021 755 695.
    let athena = find(l, "Athena", "queries");
    close(athena.quantity, 91.25 * 50.0 / 1_048_576.0);
    close(athena.cost, 0.021_755_695_343_017_578);

    // S3 PUT/LIST: R × (3 queries × 3 + 2 writing queries + 0 ingested objects) = 11 R
    // = 334.583… × $0.0045 / 1,000 = $0.001 505 625
    let put = find(l, "S3", "PUT/LIST");
    close(put.quantity, 11.0 * r);
    close(put.cost, 11.0 * r * 0.0045 / 1000.0);
    // GET: 3 queries × 1 source object × R = 91.25 × $0.00035 / 1,000.
    close(find(l, "S3", "GET requests").cost, 91.25 * 0.00035 / 1000.0);

    // Lambda (interval function, 256 MB): R invocations × 0.2 s × 0.25 GB = 1.520 833 GB-s
    // × $0.000 016 666 7 = $0.000 025 347 2…; requests R × $0.20 / 10^6.
    let gbs = find(l, "Lambda", "VisitsDailyIntervalFunction:");
    close(gbs.quantity, r * 0.2 * 0.25);
    close(gbs.cost, r * 0.2 * 0.25 * 0.000_016_666_7);
    close(
        find(l, "Lambda", "VisitsDailyIntervalFunction (interval)").cost,
        r * 0.2 / 1e6,
    );

    // Scheduler: R invocations × $1 / 10^6.
    close(find(l, "EventBridge", "Scheduler").cost, r / 1e6);

    // Alerts, 2 failed runs declared: slack function 2 × 0.5 s × 0.125 GB (Globals 128 MB)
    // = 0.125 GB-s; 2 SNS publishes; 2 GetSecretValue calls.
    close(
        find(l, "Lambda", "VisitsDailySlackFunction:").quantity,
        0.125,
    );
    close(find(l, "SNS", "publishes").cost, 2.0 * 0.5 / 1e6);
    close(
        find(l, "Secrets Manager", "per alert").cost,
        2.0 * 0.05 / 10_000.0,
    );

    // Raw storage of `visits`: 50 MiB a day (one interval a day). Month 12 average: ages
    // 0 .. 11.5 × 365/12 = 349.791 666… days. Lifecycle: Standard < 90 days, then GLACIER,
    // expired at 365. Standard: 90 × 50 MiB = 4,500 MiB = 4.394 531 25 GiB × $0.025
    // = $0.109 863 28; Glacier: 259.791 666… × 50 MiB = 12.685 139 974 GiB × $0.0045
    // = $0.057 083 130; transitions: R objects × $0.03 / 1,000.
    let std = find(l, "S3", "raw visits: Standard storage");
    close(std.quantity, 4.394_531_25);
    close(std.cost, 4.394_531_25 * 0.025);
    let glacier = find(l, "S3", "raw visits: GLACIER storage");
    let age = 11.5 * 365.0 / 12.0;
    close(glacier.quantity, (age - 90.0) * 50.0 / 1024.0);
    close(glacier.cost, (age - 90.0) * 50.0 / 1024.0 * 0.0045);
    close(
        find(l, "S3", "transitions to GLACIER").cost,
        r * 0.03 / 1000.0,
    );

    // Curated `mart.visits` (append, accumulates; no lifecycle on CuratedBucket):
    // 100,000 rows × (string 32 + bigint 8 + timestamp 8 = 48 bytes) = 4.8 MB a day;
    // 349.791 666… days → 1,679,000,000 bytes = 1.563 690 603 GiB × $0.025.
    let curated = find(l, "S3", "mart.visits: Standard storage");
    close(curated.quantity, 1_679_000_000.0 / 1_073_741_824.0);

    // Subtotal is the sum of its lines.
    close(p.subtotal, l.iter().map(|x| x.cost).sum());
}

/// `clicks`: a kinesis source, 10 events/s × 1,000 bytes (declared): 10 × 2,628,000 s
/// = 26,280,000 events a month; 2 shards; Firehose with dynamic partitioning, 300 s buffer.
#[test]
fn stream_pipeline_and_variants_match_the_hand_computation() {
    let e = run(&[Variant::ApiGateway, Variant::Direct]);
    let p = &e.pipelines[1];
    assert_eq!(p.name, "clicks");
    assert_eq!(p.runs_per_month, 0.0);
    let l = &p.lines;
    // 2 shards × 730 h = 1,460 shard-hours × $0.015 = $21.90.
    close(find(l, "Kinesis", "shards").cost, 21.9);
    // 1,000 bytes ≤ 25 KB: 1 PUT payload unit per event: 26.28 M × $0.014 / 10^6 = $0.367 92.
    close(find(l, "Kinesis", "PUT payload").cost, 0.36792);
    // Firehose bills each event as 5 KB: 26.28 M × 5,120 B = 125.312 328 34 GiB × $0.029
    // = $3.634 057 52.
    close(
        find(l, "Firehose", "ingested").cost,
        26_280_000.0 * 5120.0 / 1_073_741_824.0 * 0.029,
    );
    // Dynamic partitioning: 24.475 066 GiB delivered × $0.02, and 8,760 objects × $0.005/1,000.
    close(
        find(l, "Firehose", "GB delivered").cost,
        26_280_000_000.0 / 1_073_741_824.0 * 0.02,
    );
    close(
        find(l, "Firehose", "one object per").cost,
        8760.0 * 0.005 / 1000.0,
    );
    // Raw storage: 864,000,000 bytes a day; 90 days Standard = 72.419 643 4 GiB × $0.025.
    close(
        find(l, "S3", "raw clicks: Standard storage").quantity,
        90.0 * 864_000_000.0 / 1_073_741_824.0,
    );

    // Variants: identical but for API Gateway: 26.28 M REST requests × $3.50 / 10^6 = $91.98.
    let c = &e.comparisons[0];
    assert_eq!(c.variants[0].0, Variant::ApiGateway);
    close(c.variants[0].2 - c.variants[1].2, 91.98);

    // Shared: Glue objects 2 databases + 2 tables + 1 partitioned table × 349.79… partitions;
    // one secret (SLACK_WEBHOOK) × $0.40.
    let glue = find(&e.shared, "Glue", "catalog objects");
    close(glue.quantity, 4.0 + 11.5 * 365.0 / 12.0);
    close(find(&e.shared, "Secrets Manager", "secrets").cost, 0.40);

    // Total = sum of every pipeline and shared line.
    let sum: f64 = e
        .pipelines
        .iter()
        .flat_map(|p| p.lines.iter())
        .chain(e.shared.iter())
        .map(|l| l.cost)
        .sum();
    close(e.total, sum);
}

#[test]
fn text_output_snapshot() {
    insta::assert_snapshot!(pipec_cost::render::text(&run(&[
        Variant::ApiGateway,
        Variant::Direct
    ])));
}

#[test]
fn volume_file_errors_have_codes() {
    let err = parse_volume("v.toml", "[pipelines.x]\nrows = 3\n").unwrap_err();
    assert_eq!(err.code.id, "E0670");
    let err = parse_volume("v.json", "{\"default_rows\": -1}").unwrap_err();
    assert_eq!(err.code.id, "E0670");

    let project = project();
    let template = serde_json::json!({});
    let prices = Prices::seoul();
    for (text, needle) in [
        ("[pipelines.nope]\n", "pipeline `nope`"),
        ("[pipelines.clicks.sources.nope]\n", "source `nope`"),
        (
            "[pipelines.clicks.sources.clicks]\nrows = 5\n",
            "stream source",
        ),
        (
            "[pipelines.visits_daily.sources.visits]\nevents_per_second = 5\n",
            "batch source",
        ),
    ] {
        let volumes = parse_volume("v.toml", text).unwrap();
        let err = estimate(&Inputs {
            project: &project,
            template: &template,
            volumes: &volumes,
            measured: None,
            prices: &prices,
            compare: &[],
        })
        .unwrap_err();
        assert_eq!(err.code.id, "E0671");
        assert!(err.message.contains(needle), "{}", err.message);
    }
}

#[test]
fn every_price_has_a_source_and_basis() {
    let p = Prices::seoul();
    assert_eq!(p.region, "ap-northeast-2");
    for (k, v) in &p.prices {
        assert!(v.source.starts_with("http"), "{k}");
        assert!(
            ["seoul", "region-free", "us-east-1", "unverified"].contains(&v.basis.as_str()),
            "{k}"
        );
        assert!(v.per > 0.0 && v.usd >= 0.0, "{k}");
        if v.basis == "seoul" && !v.source.starts_with("https://aws.amazon.com/") {
            assert!(
                !v.quote.is_empty(),
                "{k}: a Seoul figure read second-hand keeps its quote"
            );
        }
    }
}

/// Schedules → executions a month come from pipec-check's interval code.
#[test]
fn executions_per_month_follow_the_interval_rule() {
    use pipec_check::ir::IntervalRule;
    use pipec_cost::intervals_per_month;
    let slots = |minutes, tz: &str| IntervalRule::Slots {
        minutes,
        tz: tz.into(),
    };
    close(
        intervals_per_month(&slots(1440, "Asia/Seoul")),
        365.0 / 12.0,
    );
    close(intervals_per_month(&slots(60, "UTC")), 730.0);
    // Berlin: 2025 has a 23-hour and a 25-hour day: still 8,760 hourly intervals.
    close(intervals_per_month(&slots(60, "Europe/Berlin")), 730.0);
    close(intervals_per_month(&slots(15, "UTC")), 2920.0);
    // Weekdays at 03:00: 261 fire times in 2025.
    let cron = IntervalRule::Cron {
        expr: "0 3 * * 1-5".into(),
        tz: "UTC".into(),
    };
    close(intervals_per_month(&cron), 261.0 / 12.0);
}

#[test]
fn volume_error_message_names_the_key() {
    let err = parse_volume("volumes.toml", "[pipelines.blog_visits]\nrows = 250000\n").unwrap_err();
    assert!(err
        .to_string()
        .starts_with("error[E0670]: volumes.toml is not a volume file: "));
    assert!(
        err.message.contains("unknown field `rows`"),
        "{}",
        err.message
    );
}

/// A lifecycle rule applies to a source when its prefix holds `<pipeline>/<source>/` (the raw
/// key pipec-sam writes), not to the same source name under another pipeline.
#[test]
fn lifecycle_rules_follow_their_prefix() {
    let project = project();
    let volumes = parse_volume("volumes.toml", &fixture("volumes.toml")).unwrap();
    let prices = Prices::seoul();
    let with_prefix = |prefix: &str| {
        let mut template: serde_json::Value =
            serde_json::from_str(&fixture("template.json")).unwrap();
        template["Resources"]["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
            ["Prefix"] = prefix.into();
        let e = estimate(&Inputs {
            project: &project,
            template: &template,
            volumes: &volumes,
            measured: None,
            prices: &prices,
            compare: &[],
        })
        .unwrap();
        e.pipelines[0]
            .lines
            .iter()
            .any(|l| l.item == "raw visits: GLACIER storage")
    };
    assert!(with_prefix("visits_daily/visits/"));
    assert!(!with_prefix("other_pipeline/visits/"));
    assert!(!with_prefix("visits_daily/visits_old/"));
}
