//! Printing results: aligned tables for people, or the REST API's JSON/YAML shapes (the core
//! types' serde form) for scripts.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{Cell, Color, Table};
use mlm_core::drift::{Baseline, DriftCheck, DriftReport};
use mlm_core::{
    Alarm, CapturePayload, CapturedRecord, Dashboard, Deployment, Endpoint, EndpointEvent,
    EndpointOverview, EventSource, Instance, Measurement, MetricSeries, Model, ModelVersion, Page,
};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::failure::Failure;

/// How this run prints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    format: OutputFormat,
    color: bool,
}

impl Output {
    /// Prints in `format`; colours only on a terminal, and never when `NO_COLOR` is set.
    pub(crate) fn new(format: OutputFormat) -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        Self {
            format,
            color: terminal && colors_allowed(std::env::var_os("NO_COLOR")),
        }
    }

    /// Whether results are tables (not JSON or YAML).
    pub(crate) fn is_table(&self) -> bool {
        self.format == OutputFormat::Table
    }

    /// Prints `value`: its table, or its serde form.
    pub(crate) fn print<T: Serialize + Tabular>(&self, value: &T) -> Result<(), Failure> {
        self.print_with(value, |color| value.table(color))
    }

    /// Prints `value` as JSON/YAML, or the table `table` draws.
    pub(crate) fn print_with<T: Serialize>(
        &self,
        value: &T,
        table: impl FnOnce(bool) -> Table,
    ) -> Result<(), Failure> {
        self.print_tables(value, |color| vec![table(color)], None)
    }

    /// Prints `value` as JSON/YAML, or the tables `tables` draws a blank line apart, then
    /// `footer` (a few lines under the tables).
    pub(crate) fn print_tables<T: Serialize>(
        &self,
        value: &T,
        tables: impl FnOnce(bool) -> Vec<Table>,
        footer: Option<&str>,
    ) -> Result<(), Failure> {
        let text = match self.format {
            OutputFormat::Table => {
                let rendered: Vec<String> = tables(self.color)
                    .into_iter()
                    .map(|t| render(t, self.color))
                    .collect();
                let mut text = rendered.join("\n");
                if let Some(footer) = footer {
                    text.push_str(footer.trim_end());
                    text.push('\n');
                }
                text
            }
            OutputFormat::Json => serde_json::to_string_pretty(value)
                .map(|t| t + "\n")
                .map_err(|e| Failure::runtime(format!("cannot write JSON: {e}")))?,
            OutputFormat::Yaml => serde_norway::to_string(value)
                .map_err(|e| Failure::runtime(format!("cannot write YAML: {e}")))?,
        };
        write_stdout(text.as_bytes())
    }

    /// A line for people (`deleted model 'x'`); JSON and YAML print nothing, as the REST API
    /// answers such calls with no body.
    pub(crate) fn note(&self, line: &str) -> Result<(), Failure> {
        if self.is_table() {
            write_stdout(format!("{line}\n").as_bytes())?;
        }
        Ok(())
    }
}

/// `NO_COLOR` set to anything but the empty string turns colours off (no-color.org).
fn colors_allowed(no_color: Option<std::ffi::OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// Writes to stdout; a closed pipe (`mlm ... | head`) is not an error worth a message.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// The table's text, each line without trailing blanks.
fn render(mut table: Table, color: bool) -> String {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let mut text = String::new();
    for line in table.to_string().lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// A borderless table with these column headers (none: no header line).
pub(crate) fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    if !headers.is_empty() {
        table.set_header(headers.iter().copied());
    }
    table
}

/// A status cell: green when settled and well, red when failed, yellow on the way.
pub(crate) fn status_cell(status: &str, color: bool) -> Cell {
    let cell = Cell::new(status);
    match (color, status_color(status)) {
        (true, Some(c)) => cell.fg(c),
        _ => cell,
    }
}

/// The colour of a status, approval, alarm state or deployment phase.
pub(crate) fn status_color(status: &str) -> Option<Color> {
    Some(match status {
        "InService" | "approved" | "OK" | "completed" => Color::Green,
        "Failed"
        | "DRIFTED"
        | "UpdateRollbackFailed"
        | "OutOfService"
        | "rejected"
        | "ALARM"
        | "rolled_back"
        | "failed" => Color::Red,
        "Creating" | "Updating" | "SystemUpdating" | "RollingBack" | "Deleting" | "Pending"
        | "Draining" | "pending" | "INSUFFICIENT_DATA" | "provisioning" | "shifting" | "baking"
        | "rolling_back" => Color::Yellow,
        _ => return None,
    })
}

/// How long ago: `42s`, `5m`, `3h`, `2d`.
pub(crate) fn age(at: DateTime<Utc>) -> String {
    let seconds = (Utc::now() - at).num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A figure with one decimal, or `-` when the backend does not have it.
pub(crate) fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn measured(m: Option<&Measurement>) -> String {
    figure(m.map(|m| m.value))
}

/// Something with a table: its columns and one row per item.
pub(crate) trait Tabular {
    /// The table of `self`.
    fn table(&self, color: bool) -> Table;
}

/// One kind of row.
pub(crate) trait Row {
    /// Column headers.
    const HEADERS: &'static [&'static str];
    /// The cells of this item.
    fn cells(&self, color: bool) -> Vec<Cell>;
}

fn rows<'a, T: Row + 'a>(items: impl IntoIterator<Item = &'a T>, color: bool) -> Table {
    let mut table = table(T::HEADERS);
    for item in items {
        table.add_row(item.cells(color));
    }
    table
}

impl<T: Row> Tabular for Page<T> {
    fn table(&self, color: bool) -> Table {
        rows(&self.items, color)
    }
}

impl<T: Row> Tabular for Vec<T> {
    fn table(&self, color: bool) -> Table {
        rows(self, color)
    }
}

/// Single resources print as a one-row table.
macro_rules! single_row {
    ($($ty:ty),+) => {$(
        impl Tabular for $ty {
            fn table(&self, color: bool) -> Table {
                rows(std::iter::once(self), color)
            }
        }
    )+};
}

single_row!(
    Model,
    ModelVersion,
    Endpoint,
    EndpointOverview,
    Alarm,
    Deployment,
    Dashboard
);

impl Row for Dashboard {
    const HEADERS: &'static [&'static str] = &["NAME", "ENDPOINT", "ACTION", "URL"];
    fn cells(&self, _: bool) -> Vec<Cell> {
        vec![
            Cell::new(&self.name),
            Cell::new(&self.endpoint),
            Cell::new(self.action.as_deref().unwrap_or("-")),
            Cell::new(&self.url),
        ]
    }
}

impl Row for Model {
    const HEADERS: &'static [&'static str] = &["NAME", "LATEST", "DESCRIPTION", "AGE"];
    fn cells(&self, _: bool) -> Vec<Cell> {
        vec![
            Cell::new(&self.name),
            Cell::new(self.latest_version.map_or("-".into(), |v| v.to_string())),
            Cell::new(self.description.as_deref().unwrap_or("")),
            Cell::new(age(self.created_at)),
        ]
    }
}

impl Row for ModelVersion {
    const HEADERS: &'static [&'static str] =
        &["MODEL", "VERSION", "APPROVAL", "IMAGE", "ARTIFACT", "AGE"];
    fn cells(&self, color: bool) -> Vec<Cell> {
        vec![
            Cell::new(&self.model),
            Cell::new(self.version),
            status_cell(self.approval.as_str(), color),
            Cell::new(&self.image),
            Cell::new(&self.artifact_uri),
            Cell::new(age(self.created_at)),
        ]
    }
}

impl Row for Endpoint {
    const HEADERS: &'static [&'static str] = &[
        "NAME",
        "STATUS",
        "VARIANTS",
        "INSTANCES",
        "DEPLOYMENT",
        "AGE",
    ];
    fn cells(&self, color: bool) -> Vec<Cell> {
        let variants: Vec<String> = self
            .variants
            .iter()
            .map(|v| match &v.model_version {
                Some(version) => format!("{}={version}", v.name),
                None => v.name.to_string(),
            })
            .collect();
        let deployment = self
            .last_deployment
            .as_ref()
            .map_or("-", |d| d.phase.as_str());
        vec![
            Cell::new(&self.name),
            status_cell(self.status.as_str(), color),
            Cell::new(variants.join(",")),
            Cell::new(endpoint_counts(self)),
            status_cell(deployment, color),
            Cell::new(age(self.created_at)),
        ]
    }
}

/// An overview's figures over its instances: averages of what was measured, the sum of
/// requests in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Figures {
    pub(crate) cpu: Option<f64>,
    pub(crate) memory: Option<f64>,
    pub(crate) gpu: Option<f64>,
    pub(crate) in_flight: Option<f64>,
}

impl Figures {
    /// The figures of `instances`.
    pub(crate) fn of(instances: &[Instance]) -> Self {
        let values = |f: fn(&Instance) -> Option<&Measurement>| -> Vec<f64> {
            instances
                .iter()
                .filter_map(|i| f(i).map(|m| m.value))
                .collect()
        };
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let sum = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>());
        Self {
            cpu: mean(values(|i| i.metrics.cpu_utilization.as_ref())),
            memory: mean(values(|i| i.metrics.memory_utilization.as_ref())),
            gpu: mean(values(|i| i.metrics.gpu_utilization.as_ref())),
            in_flight: sum(values(|i| i.metrics.in_flight_requests.as_ref())),
        }
    }
}

/// `running/desired` instances of an endpoint.
pub(crate) fn endpoint_counts(endpoint: &Endpoint) -> String {
    let current: u32 = endpoint
        .variants
        .iter()
        .filter_map(|v| v.current_instance_count)
        .sum();
    format!("{current}/{}", endpoint.desired_instance_count())
}

/// `running/desired` instances of an overview.
pub(crate) fn instance_counts(overview: &EndpointOverview) -> String {
    let desired: u32 = overview
        .variants
        .iter()
        .map(|v| v.desired_instance_count)
        .sum();
    format!("{}/{desired}", overview.instance_count)
}

/// The columns of an overview; [`overview_texts`] fills them.
pub(crate) const OVERVIEW_HEADERS: [&str; 7] = [
    "NAME",
    "STATUS",
    "INSTANCES",
    "CPU %",
    "MEM %",
    "GPU %",
    "IN-FLIGHT",
];

/// An overview's row: name, status, counts, figures averaged over its instances.
pub(crate) fn overview_texts(o: &EndpointOverview) -> [String; 7] {
    let f = Figures::of(&o.instances);
    [
        o.name.to_string(),
        o.status.to_string(),
        instance_counts(o),
        figure(f.cpu),
        figure(f.memory),
        figure(f.gpu),
        figure(f.in_flight),
    ]
}

/// The columns of an instance; [`instance_texts`] fills them.
pub(crate) const INSTANCE_HEADERS: [&str; 9] = [
    "ID",
    "VARIANT",
    "STATUS",
    "CPU %",
    "MEM %",
    "GPU %",
    "GPU MEM %",
    "IN-FLIGHT",
    "AGE",
];

/// An instance's row: who it is, its status and latest figures.
pub(crate) fn instance_texts(i: &Instance) -> [String; 9] {
    let m = &i.metrics;
    [
        i.id.clone(),
        i.variant.to_string(),
        i.status.to_string(),
        measured(m.cpu_utilization.as_ref()),
        measured(m.memory_utilization.as_ref()),
        measured(m.gpu_utilization.as_ref()),
        measured(m.gpu_memory_utilization.as_ref()),
        measured(m.in_flight_requests.as_ref()),
        i.started_at.map_or("-".into(), age),
    ]
}

/// Cells of `texts`, the status (column 1 of overviews, 2 of instances) coloured.
fn with_status(texts: impl IntoIterator<Item = String>, status: usize, color: bool) -> Vec<Cell> {
    texts
        .into_iter()
        .enumerate()
        .map(|(n, t)| {
            if n == status {
                status_cell(&t, color)
            } else {
                Cell::new(t)
            }
        })
        .collect()
}

impl Row for EndpointOverview {
    const HEADERS: &'static [&'static str] = &OVERVIEW_HEADERS;
    fn cells(&self, color: bool) -> Vec<Cell> {
        with_status(overview_texts(self), 1, color)
    }
}

impl Row for Instance {
    const HEADERS: &'static [&'static str] = &INSTANCE_HEADERS;
    fn cells(&self, color: bool) -> Vec<Cell> {
        with_status(instance_texts(self), 2, color)
    }
}

impl Row for Alarm {
    const HEADERS: &'static [&'static str] =
        &["NAME", "STATE", "METRIC", "CONDITION", "SINCE", "REASON"];
    fn cells(&self, color: bool) -> Vec<Cell> {
        let d = &self.definition;
        let condition = format!(
            "{}{} {} {} for {}/{} x {}s",
            d.statistic.as_str(),
            d.variant
                .as_ref()
                .map(|v| format!("[{v}]"))
                .unwrap_or_default(),
            d.comparison.as_str(),
            d.threshold,
            d.datapoints_to_alarm,
            d.evaluation_periods,
            d.period_seconds
        );
        vec![
            Cell::new(&d.name),
            status_cell(self.state.as_str(), color),
            Cell::new(d.metric.as_str()),
            Cell::new(condition),
            Cell::new(age(self.state_since)),
            Cell::new(&self.state_reason),
        ]
    }
}

impl Row for Deployment {
    const HEADERS: &'static [&'static str] = &["ID", "KIND", "PHASE", "STARTED", "ENDED"];
    fn cells(&self, color: bool) -> Vec<Cell> {
        vec![
            Cell::new(&self.id),
            Cell::new(serde_name(&self.kind)),
            status_cell(self.phase.as_str(), color),
            Cell::new(age(self.started_at)),
            Cell::new(self.ended_at.map_or("-".into(), age)),
        ]
    }
}

impl Row for EndpointEvent {
    const HEADERS: &'static [&'static str] = &["AGE", "KIND", "SOURCE", "MESSAGE"];
    fn cells(&self, _color: bool) -> Vec<Cell> {
        let source = match self.source {
            EventSource::User => "user",
            _ => "system",
        };
        vec![
            Cell::new(age(self.at)),
            Cell::new(&self.kind),
            Cell::new(source),
            Cell::new(&self.message),
        ]
    }
}
impl Row for CapturedRecord {
    const HEADERS: &'static [&'static str] = &["TIME", "VARIANT", "EVENT", "INPUT", "OUTPUT"];
    fn cells(&self, _: bool) -> Vec<Cell> {
        let data = &self.record.capture_data;
        let payload = |p: Option<&CapturePayload>| {
            p.map_or("-".into(), |p| {
                let mut text: String = p.data.chars().take(60).collect();
                if p.data.chars().nth(60).is_some() {
                    text.push('…');
                }
                format!("{} {text}", p.observed_content_type)
            })
        };
        vec![
            Cell::new(self.record.event_metadata.inference_time.to_rfc3339()),
            Cell::new(&self.variant),
            Cell::new(&self.record.event_metadata.event_id),
            Cell::new(payload(data.endpoint_input.as_ref())),
            Cell::new(payload(data.endpoint_output.as_ref())),
        ]
    }
}

/// The name serde gives a unit enum variant (`rolling_update`, `js_distance`).
fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Row for Baseline {
    const HEADERS: &'static [&'static str] = &["NAME", "SAMPLES", "FIELDS", "LABELS", "AGE"];
    fn cells(&self, _: bool) -> Vec<Cell> {
        vec![
            Cell::new(&self.name),
            Cell::new(self.sample_count),
            Cell::new(self.fields.len()),
            Cell::new(if self.labels.is_some() { "yes" } else { "no" }),
            Cell::new(age(self.created_at)),
        ]
    }
}

/// A baseline: what it was built from, then its fields.
pub(crate) fn baseline_tables(b: &Baseline) -> Vec<Table> {
    let source = window_text(b.window_start, b.window_end);
    let labels = b.labels.as_ref().map_or("-".into(), |l| {
        let counts: Vec<String> = l.counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
        counts.join(", ")
    });
    let mut summary = table(&[]);
    summary.add_row(vec!["Baseline:".into(), b.name.to_string()]);
    summary.add_row(vec!["Endpoint:".into(), b.endpoint.to_string()]);
    summary.add_row(vec!["Created:".into(), timestamp(b.created_at)]);
    summary.add_row(vec![
        "Samples:".into(),
        format!("{} ({source})", b.sample_count),
    ]);
    summary.add_row(vec!["Labels:".into(), labels]);
    let mut fields = table(&["FIELD", "KIND", "COUNT"]);
    for (name, profile) in &b.fields {
        fields.add_row(vec![
            Cell::new(name),
            Cell::new(serde_name(&profile.kind)),
            Cell::new(profile.count),
        ]);
    }
    vec![summary, fields]
}

/// A report: one row per field statistic, and the labels' row.
pub(crate) fn drift_report_table(r: &DriftReport, color: bool) -> Table {
    let mut t = table(&["FIELD", "KIND", "STATISTIC", "VALUE", "THRESHOLD", "RESULT"]);
    let check_cells = |c: &DriftCheck| {
        let result = if c.drifted { "DRIFTED" } else { "OK" };
        vec![
            Cell::new(serde_name(&c.statistic)),
            Cell::new(statistic_value(c.value)),
            Cell::new(statistic_value(c.threshold)),
            status_cell(result, color),
        ]
    };
    for field in &r.fields {
        let head = [Cell::new(&field.field), Cell::new(serde_name(&field.kind))];
        if field.checks.is_empty() {
            // The window had no values for it: nothing to compare.
            t.add_row(
                head.iter()
                    .cloned()
                    .chain(["-", "-", "-", "no values"].map(Cell::new)),
            );
        }
        for check in &field.checks {
            t.add_row(head.iter().cloned().chain(check_cells(check)));
        }
    }
    if let Some(labels) = &r.labels {
        let head = [Cell::new("(labels)"), Cell::new("labels")];
        t.add_row(head.into_iter().chain(check_cells(&labels.check)));
    }
    t
}

/// The lines under a report's table: fields the baseline lacks, and the verdict.
pub(crate) fn drift_summary(r: &DriftReport) -> String {
    let window = window_text(r.window_start, r.window_end);
    let mut text = format!("{} samples compared ({window})", r.sample_count);
    if !r.unprofiled_fields.is_empty() {
        text.push_str(&format!(
            "; not in the baseline: {}",
            r.unprofiled_fields.join(", ")
        ));
    }
    let verdict = if r.drifted { "drifted" } else { "no drift" };
    text.push_str(&format!("\ndrift score {:.2} ({verdict})\n", r.drift_score));
    text
}

/// Where a baseline's or a report's samples came from.
fn window_text(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(start), Some(end)) => {
            format!(
                "captured traffic {} to {}",
                timestamp(start),
                timestamp(end)
            )
        }
        _ => "samples sent".into(),
    }
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A statistic or threshold: four decimals, or scientific notation for tiny p-values.
fn statistic_value(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// The points of metric series, one row each.
pub(crate) fn series_table(series: &[MetricSeries]) -> Table {
    let mut t = table(&["METRIC", "STATISTIC", "OF", "TIME", "VALUE", "UNIT"]);
    for s in series {
        let of = match (&s.variant, &s.instance) {
            (_, Some(instance)) => instance.clone(),
            (Some(variant), None) => variant.to_string(),
            (None, None) => "endpoint".into(),
        };
        for point in &s.points {
            t.add_row(vec![
                Cell::new(s.kind.as_str()),
                Cell::new(s.statistic.as_str()),
                Cell::new(&of),
                Cell::new(point.timestamp.format("%Y-%m-%d %H:%M:%S")),
                Cell::new(format!("{:.3}", point.value)),
                Cell::new(&s.unit),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::{InstanceStatus, ModelName, Tags, VariantName};

    #[test]
    fn no_color_turns_colours_off() {
        assert!(colors_allowed(None));
        assert!(colors_allowed(Some("".into())));
        assert!(!colors_allowed(Some("1".into())));
    }

    #[test]
    fn tables_are_aligned_without_trailing_blanks() {
        let models = vec![
            Model::new(
                ModelName::new("news").unwrap(),
                None,
                Tags::new(),
                Utc::now(),
            ),
            Model::new(
                ModelName::new("a-much-longer-name").unwrap(),
                Some("topics".into()),
                Tags::new(),
                Utc::now(),
            ),
        ];
        let text = render(models.table(false), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("NAME "), "{text}");
        let column = lines[0].find("LATEST").unwrap();
        assert_eq!(lines[1].find('-'), Some(column), "{text}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour codes: {text}");
    }

    #[test]
    fn status_is_coloured_only_when_asked() {
        let mut instance = Instance::new(
            "primary-1",
            VariantName::new("primary").unwrap(),
            InstanceStatus::InService,
        );
        instance.metrics.cpu_utilization = Some(Measurement::instance(12.25));
        let plain = render(vec![instance.clone()].table(false), false);
        assert!(
            plain.contains("InService") && plain.contains("12.2"),
            "{plain}"
        );
        assert!(!plain.contains('\u{1b}'));
        let coloured = render(vec![instance].table(true), true);
        assert!(coloured.contains('\u{1b}'), "{coloured}");
    }

    #[test]
    fn figures_average_what_was_measured() {
        let mut a = Instance::new(
            "a",
            VariantName::new("p").unwrap(),
            InstanceStatus::InService,
        );
        let mut b = a.clone();
        a.metrics.cpu_utilization = Some(Measurement::instance(10.0));
        b.metrics.cpu_utilization = Some(Measurement::instance(30.0));
        a.metrics.in_flight_requests = Some(Measurement::instance(2.0));
        b.metrics.in_flight_requests = Some(Measurement::instance(3.0));
        let f = Figures::of(&[a, b]);
        assert_eq!(f.cpu, Some(20.0));
        assert_eq!(f.in_flight, Some(5.0));
        assert_eq!(f.gpu, None);
        assert_eq!(figure(f.gpu), "-");
    }
}
