//! `mlm top`: a live view of every endpoint from the overview, refreshed every few seconds,
//! with a drill-down to one endpoint's instances.
//!
//! Next to the overview's figures it shows each endpoint's traffic over the last five
//! minutes (invocations a minute, error share, mean model latency) from the metric history,
//! read less often ([`TRAFFIC_INTERVAL`]): on AWS every read is a CloudWatch call.
//!
//! Keys: ↑/↓ (or k/j) choose, Enter shows the instances, Esc goes back, q quits.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mlm_core::{
    EndpointName, EndpointOverview, MetricKind, MetricQuery, MetricSeries, Observability,
    PageRequest,
};
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};

use crate::cli::TopArgs;
use crate::failure::Failure;
use crate::output::{
    INSTANCE_HEADERS, OVERVIEW_HEADERS, figure, instance_counts, instance_texts, overview_texts,
    status_color,
};

/// How often the traffic figures are read.
const TRAFFIC_INTERVAL: Duration = Duration::from_secs(15);

/// The window the traffic figures cover.
const TRAFFIC_WINDOW: Duration = Duration::from_secs(300);

/// An endpoint's traffic over [`TRAFFIC_WINDOW`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Traffic {
    per_minute: Option<f64>,
    error_percent: Option<f64>,
    latency_ms: Option<f64>,
}

impl Traffic {
    /// From the series of invocations, 4xx, 5xx and model latency (microseconds).
    fn of(series: &[MetricSeries]) -> Self {
        let total = |kind: MetricKind| -> Option<f64> {
            let points: Vec<f64> = series
                .iter()
                .filter(|s| s.kind == kind)
                .flat_map(|s| s.points.iter().map(|p| p.value))
                .collect();
            (!points.is_empty()).then(|| points.iter().sum())
        };
        let invocations = total(MetricKind::Invocations).unwrap_or(0.0);
        let errors = total(MetricKind::InvocationErrors4xx).unwrap_or(0.0)
            + total(MetricKind::InvocationErrors5xx).unwrap_or(0.0);
        let latency: Vec<f64> = series
            .iter()
            .filter(|s| s.kind == MetricKind::ModelLatency)
            .flat_map(|s| s.points.iter().map(|p| p.value))
            .collect();
        Self {
            per_minute: Some(invocations / (TRAFFIC_WINDOW.as_secs_f64() / 60.0)),
            error_percent: (invocations > 0.0).then(|| 100.0 * errors / invocations),
            latency_ms: (!latency.is_empty())
                .then(|| latency.iter().sum::<f64>() / latency.len() as f64 / 1000.0),
        }
    }

    fn texts(traffic: Option<&Self>) -> [String; 3] {
        let t = traffic.copied().unwrap_or_default();
        [
            figure(t.per_minute),
            figure(t.error_percent),
            figure(t.latency_ms),
        ]
    }
}

/// The traffic columns after the overview's.
const TRAFFIC_HEADERS: [&str; 3] = ["INV/MIN", "ERR %", "LAT MS"];

/// What the view shows.
#[derive(Debug, Default)]
pub(crate) struct TopState {
    overviews: Vec<EndpointOverview>,
    traffic: HashMap<EndpointName, Traffic>,
    selected: usize,
    /// Showing the selected endpoint's instances.
    drilled: bool,
    /// The last refresh's error, shown until one succeeds.
    error: Option<String>,
    as_of: Option<DateTime<Utc>>,
}

impl TopState {
    /// Reads every endpoint's overview; keeps the selection on the same endpoint.
    async fn refresh(&mut self, mlm: &dyn Observability) {
        let fetched: mlm_core::Result<Vec<EndpointOverview>> =
            mlm_core::all_pages(|p: PageRequest| mlm.list_overviews(p))
                .try_collect()
                .await;
        match fetched {
            Ok(overviews) => self.replace(overviews, Utc::now()),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Reads every endpoint's traffic; an endpoint whose metrics cannot be read shows `-`.
    async fn refresh_traffic(&mut self, mlm: &dyn Observability) {
        let kinds = vec![
            MetricKind::Invocations,
            MetricKind::InvocationErrors4xx,
            MetricKind::InvocationErrors5xx,
            MetricKind::ModelLatency,
        ];
        let reads = self.overviews.iter().map(|o| {
            let query = MetricQuery::last(o.name.clone(), kinds.clone(), TRAFFIC_WINDOW, 60);
            async move { (o.name.clone(), mlm.query_metrics(query).await) }
        });
        self.traffic = futures::future::join_all(reads)
            .await
            .into_iter()
            .filter_map(|(name, series)| Some((name, Traffic::of(&series.ok()?))))
            .collect();
    }

    fn replace(&mut self, overviews: Vec<EndpointOverview>, as_of: DateTime<Utc>) {
        let selected = self.overviews.get(self.selected).map(|o| o.name.clone());
        self.overviews = overviews;
        self.selected = selected
            .and_then(|name| self.overviews.iter().position(|o| o.name == name))
            .unwrap_or(0)
            .min(self.overviews.len().saturating_sub(1));
        if self.overviews.is_empty() {
            self.drilled = false;
        }
        self.error = None;
        self.as_of = Some(as_of);
    }

    /// Handles a key; `false` to quit.
    fn key(&mut self, code: KeyCode) -> bool {
        match code {
            KeyCode::Char('q') => return false,
            KeyCode::Esc if !self.drilled => return false,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => self.drilled = false,
            KeyCode::Enter | KeyCode::Right => self.drilled = !self.overviews.is_empty(),
            KeyCode::Down | KeyCode::Char('j') if !self.drilled => {
                self.selected = (self.selected + 1).min(self.overviews.len().saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') if !self.drilled => {
                self.selected = self.selected.saturating_sub(1);
            }
            _ => {}
        }
        true
    }
}

/// Draws the view: a title line, the endpoints (or one endpoint's instances), a key line.
pub(crate) fn draw(frame: &mut Frame<'_>, state: &TopState) {
    let [title, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let when = state
        .as_of
        .map_or_else(|| "loading…".into(), |t| t.format("%H:%M:%S").to_string());
    let heading = match &state.error {
        Some(e) => Line::styled(
            format!("mlm top · {when} · {e}"),
            Style::new().fg(Color::Red),
        ),
        None => Line::from(format!(
            "mlm top · {} endpoints · {when}",
            state.overviews.len()
        )),
    };
    frame.render_widget(Paragraph::new(heading), title);
    match state.overviews.get(state.selected) {
        Some(overview) if state.drilled => draw_instances(frame, body, overview),
        _ => draw_endpoints(frame, body, state),
    }
    let help = if state.drilled {
        "Esc back · q quit"
    } else {
        "↑/↓ choose · Enter instances · q quit"
    };
    frame.render_widget(
        Paragraph::new(help).style(Style::new().add_modifier(Modifier::DIM)),
        keys,
    );
}

fn status_style(status: &str) -> Style {
    status_color(status).map_or_else(Style::new, |c| {
        Style::new().fg(match c {
            comfy_table::Color::Green => Color::Green,
            comfy_table::Color::Red => Color::Red,
            _ => Color::Yellow,
        })
    })
}

/// A table row of `texts`, the status column (`status`) coloured.
fn styled_row(texts: impl IntoIterator<Item = String>, status: usize) -> Row<'static> {
    Row::new(texts.into_iter().enumerate().map(|(n, t)| {
        if n == status {
            let style = status_style(&t);
            Line::styled(t, style)
        } else {
            Line::from(t)
        }
    }))
}

fn header(titles: &[&'static str]) -> Row<'static> {
    Row::new(titles.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD))
}

fn draw_endpoints(frame: &mut Frame<'_>, area: Rect, state: &TopState) {
    let rows = state.overviews.iter().map(|o| {
        let traffic = Traffic::texts(state.traffic.get(&o.name));
        styled_row(overview_texts(o).into_iter().chain(traffic), 1)
    });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(15),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    let headers: Vec<&'static str> = OVERVIEW_HEADERS
        .into_iter()
        .chain(TRAFFIC_HEADERS)
        .collect();
    let table = Table::new(rows, widths)
        .header(header(&headers))
        .block(Block::bordered().title(" endpoints "))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut selection = TableState::default().with_selected(Some(state.selected));
    frame.render_stateful_widget(table, area, &mut selection);
}

fn draw_instances(frame: &mut Frame<'_>, area: Rect, overview: &EndpointOverview) {
    let rows = overview
        .instances
        .iter()
        .map(|i| styled_row(instance_texts(i), 2));
    let widths = [
        Constraint::Min(14),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(6),
    ];
    let title = format!(
        " {} · {} · {} instances ",
        overview.name,
        overview.status,
        instance_counts(overview)
    );
    let table = Table::new(rows, widths)
        .header(header(&INSTANCE_HEADERS))
        .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

/// Runs the view until `q`.
pub(crate) async fn run(args: TopArgs, mlm: &dyn Observability) -> Result<(), Failure> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(Failure::usage("mlm top needs a terminal")
            .with_hint("in scripts, `mlm overview -o json` gives the same figures"));
    }
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, &args, mlm).await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    args: &TopArgs,
    mlm: &dyn Observability,
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::runtime(format!("terminal: {e}"));
    let interval = Duration::from_secs(args.interval);
    let mut state = TopState::default();
    let mut next_refresh = tokio::time::Instant::now();
    let mut next_traffic = next_refresh;
    loop {
        if tokio::time::Instant::now() >= next_refresh {
            state.refresh(mlm).await;
            next_refresh = tokio::time::Instant::now() + interval;
        }
        if tokio::time::Instant::now() >= next_traffic {
            state.refresh_traffic(mlm).await;
            next_traffic = tokio::time::Instant::now() + TRAFFIC_INTERVAL;
        }
        terminal.draw(|f| draw(f, &state)).map_err(io)?;
        let key = tokio::task::block_in_place(|| -> std::io::Result<Option<KeyCode>> {
            if !event::poll(Duration::from_millis(200))? {
                return Ok(None);
            }
            Ok(match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => Some(k.code),
                _ => None,
            })
        })
        .map_err(io)?;
        if let Some(code) = key
            && !state.key(code)
        {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::{
        CreateEndpointRequest, Endpoint, EndpointName, EndpointStatus, Instance, InstanceStatus,
        Measurement, VariantName, VersionRef,
    };
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn overview(name: &str, status: EndpointStatus, instances: usize) -> EndpointOverview {
        let now = Utc::now();
        let variant = VariantName::new("primary").unwrap();
        let request = CreateEndpointRequest::single(
            EndpointName::new(name).unwrap(),
            VersionRef::new(mlm_core::ModelName::new("news").unwrap(), 1),
            "ml.m5.large",
            2,
        );
        let mut endpoint = Endpoint::from_request(&request, status, now);
        endpoint.variants[0].current_instance_count = Some(instances as u32);
        let instances = (0..instances)
            .map(|n| {
                let mut i = Instance::new(
                    format!("primary-{n}"),
                    variant.clone(),
                    InstanceStatus::InService,
                );
                i.metrics.cpu_utilization = Some(Measurement::instance(10.0 + 20.0 * n as f64));
                i.metrics.in_flight_requests = Some(Measurement::instance(1.0));
                i
            })
            .collect();
        EndpointOverview::new(&endpoint, instances, now)
    }

    fn screen(state: &TopState) -> String {
        let mut terminal = Terminal::new(TestBackend::new(90, 12)).unwrap();
        terminal.draw(|f| draw(f, state)).unwrap();
        let buffer = terminal.backend().buffer();
        let area = buffer.area;
        (0..area.height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn renders_endpoints_then_instances() {
        let mut state = TopState::default();
        state.replace(
            vec![
                overview("news", EndpointStatus::InService, 2),
                overview("sports", EndpointStatus::Creating, 0),
            ],
            Utc::now(),
        );
        let news = EndpointName::new("news").unwrap();
        state.traffic.insert(
            news,
            Traffic {
                per_minute: Some(120.0),
                error_percent: Some(2.5),
                latency_ms: Some(7.25),
            },
        );
        let text = screen(&state);
        assert!(text.contains("mlm top · 2 endpoints"), "{text}");
        assert!(
            text.contains("INV/MIN") && text.contains("LAT MS"),
            "{text}"
        );
        let news = text.lines().find(|l| l.contains("news")).expect(&text);
        assert!(news.contains("InService") && news.contains("2/2"), "{text}");
        assert!(
            news.contains("120.0") && news.contains("2.5") && news.contains("7.2"),
            "traffic: {text}"
        );
        assert!(
            news.contains("20.0") && news.contains("2.0"),
            "avg CPU, sum in-flight: {text}"
        );
        let sports = text.lines().find(|l| l.contains("sports")).expect(&text);
        assert!(
            sports.contains("Creating") && sports.contains("0/2"),
            "{text}"
        );

        assert!(state.key(KeyCode::Enter));
        let text = screen(&state);
        assert!(
            text.contains("primary-0") && text.contains("primary-1"),
            "{text}"
        );
        assert!(text.contains("news · InService"), "{text}");

        assert!(state.key(KeyCode::Esc), "Esc goes back first");
        assert!(state.key(KeyCode::Down));
        assert_eq!(state.selected, 1);
        assert!(state.key(KeyCode::Enter));
        assert!(screen(&state).contains("sports · Creating"));
        assert!(!state.key(KeyCode::Char('q')));
    }

    #[test]
    fn traffic_sums_counts_and_averages_latency() {
        let point = |value: f64| mlm_core::DataPoint {
            timestamp: Utc::now(),
            value,
        };
        let series = |kind: MetricKind, values: &[f64]| {
            let mut s = MetricSeries::empty(
                kind,
                kind.default_statistic(),
                mlm_core::MetricScope::VariantAggregate,
            );
            s.points = values.iter().copied().map(point).collect();
            s
        };
        let t = Traffic::of(&[
            series(MetricKind::Invocations, &[100.0, 400.0]),
            series(MetricKind::InvocationErrors5xx, &[5.0]),
            series(MetricKind::InvocationErrors4xx, &[]),
            series(MetricKind::ModelLatency, &[2000.0, 4000.0]),
        ]);
        assert_eq!(t.per_minute, Some(100.0));
        assert_eq!(t.error_percent, Some(1.0));
        assert_eq!(t.latency_ms, Some(3.0));
        let idle = Traffic::of(&[series(MetricKind::Invocations, &[])]);
        assert_eq!((idle.per_minute, idle.error_percent), (Some(0.0), None));
    }

    #[test]
    fn keeps_the_selection_across_refreshes() {
        let mut state = TopState::default();
        let all = || {
            vec![
                overview("a", EndpointStatus::InService, 1),
                overview("b", EndpointStatus::InService, 1),
            ]
        };
        state.replace(all(), Utc::now());
        state.key(KeyCode::Down);
        let mut fewer = all();
        fewer.remove(0);
        state.replace(fewer, Utc::now());
        assert_eq!(state.overviews[state.selected].name.as_str(), "b");
        state.error = Some("cannot talk to the mlm server".into());
        assert!(screen(&state).contains("cannot talk to the mlm server"));
    }
}
