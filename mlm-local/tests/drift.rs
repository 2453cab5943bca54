//! Drift reports on the example classifier's real answers (issue 12): a baseline of mixed news
//! sentences, then a window of sports-only sentences flags the predicted-label shift and the
//! token drift, while a window drawn from the same mix of topics is not flagged.
//!
//! The report's `drift_score`, recorded as the endpoint's metric, drives an alarm to `ALARM`.
//!
//! The sentences are made from per-topic phrase lists with a fixed-seed generator, so the
//! corpus is large enough for token statistics (the Jensen–Shannon noise floor falls as the
//! window grows: about 0.07 here against the 0.1 threshold) and the same on every run. Print
//! the figures with `cargo test -p mlm-local --test drift -- --nocapture`.

mod common;

use chrono::Utc;
use common::{deploy, register};
use mlm_core::drift::{
    Baseline, DriftBaselines, DriftReport, DriftStatistic, DriftThresholds, DriftWindow, FieldKind,
    Sample,
};
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, AlarmState, Alarms, BaselineName, Comparison,
    EndpointManager, EndpointManagerExt, EndpointName, ErrorKind, InvokeRequest, MetricKind,
    PageRequest, Statistic,
};
use mlm_local::LocalProvider;
use serde_json::json;

/// Subjects, verbs, objects and endings of each topic's sentences, in the model's class order
/// (World, Sports, Business, Sci/Tech).
const TOPICS: [[&[&str]; 4]; 4] = [
    [
        &[
            "The prime minister",
            "The foreign minister",
            "United Nations envoys",
            "The president",
            "Rebel leaders",
            "European diplomats",
            "The opposition party",
            "Election officials",
        ],
        &[
            "called for",
            "rejected",
            "agreed on",
            "condemned",
            "proposed",
            "demanded",
        ],
        &[
            "a ceasefire",
            "new sanctions",
            "peace talks",
            "a border treaty",
            "an emergency summit",
            "a recount of the ballots",
        ],
        &[
            "in the capital on Monday.",
            "after weeks of fighting.",
            "amid growing protests.",
            "at the regional summit.",
            "despite international pressure.",
        ],
    ],
    [
        &[
            "The striker",
            "The home team",
            "The pitcher",
            "The quarterback",
            "The tennis champion",
            "The head coach",
            "The goalkeeper",
            "The rookie",
        ],
        &[
            "won",
            "lost",
            "clinched",
            "celebrated",
            "secured",
            "dominated",
        ],
        &[
            "the championship game",
            "the league title",
            "a gold medal",
            "the playoff series",
            "the final match",
            "the season opener",
        ],
        &[
            "in overtime on Sunday.",
            "in front of a packed stadium.",
            "after a late goal.",
            "at the Olympic Games.",
            "despite an injury.",
        ],
    ],
    [
        &[
            "Shares of the bank",
            "The company",
            "Oil prices",
            "The central bank",
            "Investors",
            "The retailer",
            "The airline",
            "Analysts",
        ],
        &[
            "reported",
            "raised",
            "cut",
            "expected",
            "announced",
            "forecast",
        ],
        &[
            "quarterly profits",
            "interest rates",
            "its earnings outlook",
            "a merger deal",
            "higher revenue",
            "thousands of jobs",
        ],
        &[
            "as markets rallied.",
            "on Wall Street on Tuesday.",
            "after a weak quarter.",
            "amid inflation worries.",
            "ahead of the stock offering.",
        ],
    ],
    [
        &[
            "Researchers",
            "The space agency",
            "Software engineers",
            "Scientists",
            "The chip maker",
            "Astronomers",
            "The startup",
            "Biologists",
        ],
        &[
            "discovered",
            "launched",
            "released",
            "developed",
            "tested",
            "unveiled",
        ],
        &[
            "a new vaccine",
            "a Mars rover",
            "an open source browser",
            "a faster processor",
            "a distant planet",
            "a gene editing technique",
        ],
        &[
            "in a study published Thursday.",
            "using a powerful telescope.",
            "with a new operating system.",
            "in a laboratory experiment.",
            "for wireless networks.",
        ],
    ],
];
const SPORTS: usize = 1;
/// Sentences per request (`{"instances": […]}`), so a few hundred requests carry the corpus.
const BATCH: usize = 10;

/// A fixed-seed xorshift generator: the same sentences on every run.
struct Sentences(u64);

impl Sentences {
    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        choices[(self.0 % choices.len() as u64) as usize]
    }

    fn of(&mut self, topic: usize) -> String {
        let parts: Vec<&str> = TOPICS[topic].iter().map(|c| self.pick(c)).collect();
        parts.join(" ")
    }

    /// `per_topic` sentences of each of `topics`, interleaved.
    fn mix(&mut self, topics: &[usize], per_topic: usize) -> Vec<String> {
        (0..per_topic)
            .flat_map(|_| topics.to_vec())
            .map(|t| self.of(t))
            .collect()
    }
}

/// Sends `sentences` to the model in batches: one sample per request, with its answer.
async fn classify(p: &LocalProvider, endpoint: &EndpointName, sentences: &[String]) -> Vec<Sample> {
    let mut samples = Vec::new();
    for batch in sentences.chunks(BATCH) {
        let input = json!({ "instances": batch });
        let answer = p
            .invoke(InvokeRequest::json(endpoint.clone(), &input))
            .await
            .expect("the model answers");
        samples.push(Sample::with_output(input, answer.json().unwrap()));
    }
    samples
}

fn compare(baseline: &Baseline, window: &[Sample]) -> DriftReport {
    let report = DriftReport::compare(
        baseline,
        window,
        DriftThresholds::default(),
        DriftWindow::default(),
        Utc::now(),
    )
    .unwrap();
    let tokens = &report.fields[0].checks[0];
    let labels = report.labels.as_ref().unwrap();
    println!(
        "{} samples: token JS distance {:.3}, labels {:?} chi-square {:.1} p {:.3e}, drift score {:.2}",
        report.sample_count,
        tokens.value,
        labels.window,
        labels.chi_square,
        labels.check.value,
        report.drift_score
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sports_only_traffic_drifts_from_a_news_baseline() {
    let (_dir, p) = common::provider().await;
    let version = register(&p, "news", common::RUNTIME, &[]).await;
    let endpoint = deploy(&p, "news", version, 1).await;
    let mut sentences = Sentences(0x9E37_79B9_7F4A_7C15);
    let all = [0, 1, 2, 3];

    let baseline_samples = classify(&p, &endpoint, &sentences.mix(&all, 500)).await;
    let baseline = Baseline::build(
        endpoint.clone(),
        BaselineName::new("launch").unwrap(),
        &baseline_samples,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(baseline.fields["instances"].kind, FieldKind::Text);
    let labels = &baseline.labels.as_ref().unwrap().counts;
    // The model classifies the generated sentences into their topics: 500 of each.
    assert_eq!(
        labels.values().copied().collect::<Vec<_>>(),
        [500; 4],
        "{labels:?}"
    );

    let same = compare(
        &baseline,
        &classify(&p, &endpoint, &sentences.mix(&all, 250)).await,
    );
    assert!(!same.drifted, "{same:#?}");
    assert!(same.drift_score < 1.0);

    let sports = compare(
        &baseline,
        &classify(&p, &endpoint, &sentences.mix(&[SPORTS], 1000)).await,
    );
    let tokens = &sports.fields[0];
    assert_eq!(tokens.checks[0].statistic, DriftStatistic::JsDistance);
    assert!(tokens.drifted, "{tokens:#?}");
    let labels = sports.labels.as_ref().unwrap();
    assert!(labels.check.drifted, "{labels:#?}");
    // Label 2 is Sports in the AG_NEWS numbering.
    assert_eq!(labels.window.keys().collect::<Vec<_>>(), ["2"]);
    assert!(sports.drifted);
    // The label shift is as large as a p-value tells: the severity cap.
    assert_eq!(sports.drift_score, mlm_core::drift::MAX_P_VALUE_SEVERITY);

    // The score drives an alarm: OK on the same-mix report, ALARM on the sports one.
    let drift = AlarmName::new("drift").unwrap();
    let alarm = AlarmDefinition::new(
        drift.clone(),
        endpoint.clone(),
        MetricKind::DriftScore,
        Statistic::Maximum,
        Comparison::GreaterThan,
        1.0,
        10,
    );
    p.put_alarm(alarm).await.unwrap();
    let same = DriftReport {
        created_at: Utc::now(),
        ..same
    };
    p.record_drift_score(&same).await.unwrap();
    alarm_reaches(&p, &endpoint, &drift, AlarmState::Ok).await;
    // Recorded as made now: a score lands in the period of its report's time.
    let now = DriftReport {
        created_at: Utc::now(),
        ..sports
    };
    p.record_drift_score(&now).await.unwrap();
    let fired = alarm_reaches(&p, &endpoint, &drift, AlarmState::Alarm).await;
    println!("drift alarm: {}", fired.state_reason);
}

/// The alarm once it is in `state`: evaluated every 10 s period, it gets there within three.
async fn alarm_reaches(
    p: &LocalProvider,
    endpoint: &EndpointName,
    name: &AlarmName,
    state: AlarmState,
) -> Alarm {
    let wait = async {
        loop {
            let alarm = p.get_alarm(endpoint, name).await.unwrap();
            if alarm.state == state {
                return alarm;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(35), wait)
        .await
        .unwrap_or_else(|_| panic!("alarm {name} did not reach {state}"))
}

/// Baselines are kept per endpoint in the local store: names are unique per endpoint, pages
/// go by name, and deleting the endpoint deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baselines_are_kept_with_their_endpoint() {
    let (_dir, p) = common::provider().await;
    let version = register(&p, "news", common::RUNTIME, &[]).await;
    let endpoint = deploy(&p, "news", version, 1).await;
    let samples = classify(&p, &endpoint, &Sentences(7).mix(&[0, 1, 2, 3], 5)).await;
    let baseline = |name: &str| {
        let name = BaselineName::new(name).unwrap();
        Baseline::build(endpoint.clone(), name, &samples, Utc::now()).unwrap()
    };
    for name in ["c", "a", "b"] {
        p.create_baseline(baseline(name)).await.unwrap();
    }
    let again = p.create_baseline(baseline("a")).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyExists, "{again}");
    let stored = p
        .get_baseline(&endpoint, &BaselineName::new("a").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.fields, baseline("a").fields);

    let first = p
        .list_baselines(&endpoint, PageRequest::first().with_page_size(2))
        .await
        .unwrap();
    let names: Vec<&str> = first.items.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let token = first.next_page_token.unwrap();
    let rest = p
        .list_baselines(
            &endpoint,
            PageRequest::first().with_page_size(2).with_token(token),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].name.as_str(), "c");

    let b = BaselineName::new("b").unwrap();
    p.delete_baseline(&endpoint, &b).await.unwrap();
    let gone = p.get_baseline(&endpoint, &b).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    let gone = p.delete_baseline(&endpoint, &b).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");

    let other = EndpointName::new("elsewhere").unwrap();
    let missing = Baseline::build(other.clone(), b.clone(), &samples, Utc::now()).unwrap();
    let err = p.create_baseline(missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    p.delete_endpoint(&endpoint).await.unwrap();
    p.wait_until_deleted(&endpoint, common::wait())
        .await
        .unwrap();
    let version = register(&p, "news", common::RUNTIME, &[]).await;
    let endpoint = deploy(&p, "news", version, 1).await;
    let page = p
        .list_baselines(&endpoint, PageRequest::first())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "{page:?}");
}
