//! Drift reports on the example classifier's real answers (issue 12), read from the endpoint's
//! captured traffic: a baseline of mixed news sentences, then a window of sports-only
//! sentences flags the predicted-label shift and the token drift, while a window drawn from
//! the same mix of topics is not flagged.
//!
//! The report's `drift_score`, recorded as the endpoint's metric, drives an alarm to `ALARM`.
//!
//! The sentences are made from per-topic phrase lists with a fixed-seed generator, so the
//! corpus is large enough for token statistics (the Jensen–Shannon noise floor falls as the
//! window grows: about 0.07 here against the 0.1 threshold) and the same on every run. Print
//! the figures with `cargo test -p mlm-local --test drift -- --nocapture`.

mod common;

use chrono::{TimeDelta, Utc};
use common::{deploy, endpoint_request, register};
use mlm_core::drift::{
    Baseline, CreateBaselineRequest, Drift, DriftReport, DriftReportRequest, DriftStatistic,
    FieldKind, Sample, SampleSource, TrafficWindow,
};
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, AlarmState, Alarms, BaselineName, Comparison,
    DataCaptureConfig, EndpointManager, EndpointManagerExt, EndpointName, ErrorKind, InvokeRequest,
    MetricKind, PageRequest, Statistic,
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

/// Sends `sentences` and returns the window of traffic they made.
async fn traffic(
    p: &LocalProvider,
    endpoint: &EndpointName,
    sentences: &[String],
) -> TrafficWindow {
    let start = Utc::now();
    classify(p, endpoint, sentences).await;
    TrafficWindow::new(start, Utc::now() + TimeDelta::milliseconds(1))
}

fn launch() -> BaselineName {
    BaselineName::new("launch").unwrap()
}

/// The backend's report on `window` of captured traffic against the `launch` baseline.
async fn report(p: &LocalProvider, endpoint: &EndpointName, window: TrafficWindow) -> DriftReport {
    let request = DriftReportRequest::new(endpoint.clone(), launch(), SampleSource::Window(window));
    let report = p.drift_report(request).await.unwrap();
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
    let request = endpoint_request("news", version, 1)
        .with_data_capture(DataCaptureConfig::new("file:news-captures", 100));
    let endpoint = request.name.clone();
    p.create_endpoint(request).await.unwrap();
    p.wait_until_ready(&endpoint, common::wait()).await.unwrap();
    let mut sentences = Sentences(0x9E37_79B9_7F4A_7C15);
    let all = [0, 1, 2, 3];

    // Three windows of traffic, all captured: the baseline's, the same mix, sports only.
    let launch_window = traffic(&p, &endpoint, &sentences.mix(&all, 500)).await;
    let same_window = traffic(&p, &endpoint, &sentences.mix(&all, 250)).await;
    let sports_window = traffic(&p, &endpoint, &sentences.mix(&[SPORTS], 1000)).await;

    let request = CreateBaselineRequest::new(
        endpoint.clone(),
        launch(),
        SampleSource::Window(launch_window.clone()),
    );
    let baseline = p.create_baseline(request).await.unwrap();
    assert_eq!(baseline.sample_count, (2000 / BATCH) as u64);
    assert_eq!(baseline.window_start, Some(launch_window.start));
    assert_eq!(baseline.fields["instances"].kind, FieldKind::Text);
    let labels = &baseline.labels.as_ref().unwrap().counts;
    // The model classifies the generated sentences into their topics: 500 of each.
    assert_eq!(
        labels.values().copied().collect::<Vec<_>>(),
        [500; 4],
        "{labels:?}"
    );

    // The score drives an alarm: OK on the same-mix report, ALARM on the sports one (each
    // report records its score as made now, in the period the alarm evaluates next).
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

    let same = report(&p, &endpoint, same_window).await;
    assert_eq!(same.sample_count, (1000 / BATCH) as u64);
    assert!(!same.drifted, "{same:#?}");
    assert!(same.drift_score < 1.0);
    alarm_reaches(&p, &endpoint, &drift, AlarmState::Ok).await;

    let sports = report(&p, &endpoint, sports_window.clone()).await;
    assert_eq!(sports.window_start, Some(sports_window.start));
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
    let fired = alarm_reaches(&p, &endpoint, &drift, AlarmState::Alarm).await;
    println!("drift alarm: {}", fired.state_reason);
}

/// Without data capture there is no traffic to read: the error says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_captured_traffic_says_why() {
    let (_dir, p) = common::provider().await;
    let version = register(&p, "news", common::RUNTIME, &[]).await;
    let endpoint = deploy(&p, "news", version, 1).await;
    let window = traffic(&p, &endpoint, &Sentences(3).mix(&[0, 1], 5)).await;
    let request =
        CreateBaselineRequest::new(endpoint.clone(), launch(), SampleSource::Window(window));
    let err = p.create_baseline(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("captured no traffic"), "{err}");
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
    let baseline = |endpoint: &EndpointName, name: &str| {
        let name = BaselineName::new(name).unwrap();
        CreateBaselineRequest::new(
            endpoint.clone(),
            name,
            SampleSource::Samples(samples.clone()),
        )
    };
    for name in ["c", "a", "b"] {
        p.create_baseline(baseline(&endpoint, name)).await.unwrap();
    }
    let again = p
        .create_baseline(baseline(&endpoint, "a"))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyExists, "{again}");
    let stored = p
        .get_baseline(&endpoint, &BaselineName::new("a").unwrap())
        .await
        .unwrap();
    let built = Baseline::build(endpoint.clone(), launch(), &samples, Utc::now()).unwrap();
    assert_eq!(stored.fields, built.fields);

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
    let err = p.create_baseline(baseline(&other, "b")).await.unwrap_err();
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
