//! `mlm drift`: baselines, and reports comparing a window of traffic with one.

use chrono::Utc;
use mlm_core::drift::{
    CreateBaselineRequest, Drift, DriftReportRequest, DriftThresholds, SampleSource, TrafficWindow,
    parse_samples_jsonl,
};

use super::{list, read_input};
use crate::cli::{BaselinesCommand, DriftCommand, DriftReportArgs, SampleArgs};
use crate::failure::{FAILED, Failure};
use crate::output::{Output, baseline_tables, drift_report_table, drift_summary};

pub(super) async fn run(
    command: DriftCommand,
    mlm: &dyn Drift,
    out: Output,
) -> Result<(), Failure> {
    match command {
        DriftCommand::Baselines(c) => baselines(c, mlm, out).await,
        DriftCommand::Report(a) => report(a, mlm, out).await,
    }
}

async fn baselines(command: BaselinesCommand, mlm: &dyn Drift, out: Output) -> Result<(), Failure> {
    match command {
        BaselinesCommand::List(a) => {
            out.print(&list(&a.page, |p| mlm.list_baselines(&a.endpoint, p)).await?)
        }
        BaselinesCommand::Get(a) => {
            let baseline = mlm.get_baseline(&a.endpoint, &a.baseline).await?;
            out.print_tables(&baseline, |_| baseline_tables(&baseline), None)
        }
        BaselinesCommand::Create(a) => {
            let source = sample_source(&a.source)?;
            let request = CreateBaselineRequest::new(a.endpoint, a.baseline, source);
            let baseline = mlm.create_baseline(request).await?;
            out.print_tables(&baseline, |_| baseline_tables(&baseline), None)
        }
        BaselinesCommand::Delete(a) => {
            mlm.delete_baseline(&a.endpoint, &a.baseline).await?;
            out.note(&format!(
                "deleted baseline '{}' of endpoint '{}'",
                a.baseline, a.endpoint
            ))
        }
    }
}

/// Prints the report; drift is a failure only when `--fail-on-drift` asks (CI pipelines).
async fn report(a: DriftReportArgs, mlm: &dyn Drift, out: Output) -> Result<(), Failure> {
    let thresholds = thresholds(&a)?;
    let source = sample_source(&a.source)?;
    let request =
        DriftReportRequest::new(a.endpoint, a.baseline, source).with_thresholds(thresholds);
    let report = mlm.drift_report(request).await?;
    let summary = drift_summary(&report);
    out.print_tables(
        &report,
        |color| vec![drift_report_table(&report, color)],
        Some(&summary),
    )?;
    if a.fail_on_drift && report.drifted {
        return Err(Failure::new(
            FAILED,
            format!(
                "endpoint '{}' drifted from baseline '{}' (drift score {:.2})",
                report.endpoint, report.baseline, report.drift_score
            ),
        ));
    }
    Ok(())
}

/// The default thresholds with the flags' overrides, checked before anything is sent.
fn thresholds(a: &DriftReportArgs) -> Result<DriftThresholds, Failure> {
    let mut t = DriftThresholds::default();
    t.psi = a.psi.unwrap_or(t.psi);
    t.ks = a.ks.unwrap_or(t.ks);
    t.js_distance = a.js_distance.unwrap_or(t.js_distance);
    t.label_p_value = a.label_p_value.unwrap_or(t.label_p_value);
    t.validate()?;
    Ok(t)
}

/// The samples of a `--samples` file, or the window `--since` or `--start`/`--end` give.
fn sample_source(a: &SampleArgs) -> Result<SampleSource, Failure> {
    if let Some(path) = &a.samples {
        let bytes = read_input(path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Failure::usage(format!("{}: not UTF-8 text", path.display())))?;
        return parse_samples_jsonl(&text)
            .map(SampleSource::Samples)
            .map_err(|e| {
                let mut failure = Failure::from(e);
                failure.prefix(&path.display().to_string());
                failure
            });
    }
    let end = a.end.unwrap_or_else(Utc::now);
    let start = match (a.since, a.start) {
        (Some(since), _) => {
            let since = chrono::TimeDelta::from_std(since)
                .map_err(|_| Failure::usage("--since is too long"))?;
            end - since
        }
        (None, Some(start)) => start,
        // clap requires one of --samples, --since and --start.
        (None, None) => return Err(Failure::usage("give --samples, --since or --start")),
    };
    let mut window = TrafficWindow::new(start, end);
    window.variant = a.variant.clone();
    Ok(SampleSource::Window(window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn report_args(args: &[&str]) -> Result<DriftReportArgs, clap::Error> {
        let base = ["mlm", "drift", "report", "news", "--baseline", "launch"];
        let cli = Cli::try_parse_from(base.iter().chain(args))?;
        match cli.command {
            Command::Drift(DriftCommand::Report(a)) => Ok(a),
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn exactly_one_source_is_given() {
        let kind = |args: &[&str]| report_args(args).unwrap_err().kind();
        use clap::error::ErrorKind;
        assert_eq!(kind(&[]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            kind(&["--samples", "s.jsonl", "--since", "1h"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["--since", "1h", "--start", "2026-11-30T00:00:00Z"]),
            ErrorKind::ArgumentConflict
        );
        assert!(report_args(&["--end", "2026-11-30T00:00:00Z", "--since", "1h"]).is_err());
        assert!(report_args(&["--samples", "s.jsonl", "--variant", "primary"]).is_err());
    }

    #[test]
    fn windows_end_now_or_at_end() {
        let a = report_args(&["--since", "10m", "--variant", "primary"]).unwrap();
        let SampleSource::Window(w) = sample_source(&a.source).unwrap() else {
            panic!("a window")
        };
        assert_eq!((w.end - w.start).num_minutes(), 10);
        assert_eq!(w.variant.unwrap().as_str(), "primary");
        let a = report_args(&[
            "--start",
            "2026-11-30T00:00:00Z",
            "--end",
            "2026-11-30T01:00:00Z",
        ])
        .unwrap();
        let SampleSource::Window(w) = sample_source(&a.source).unwrap() else {
            panic!("a window")
        };
        assert_eq!((w.end - w.start).num_hours(), 1);
    }

    #[test]
    fn thresholds_override_the_defaults_and_are_checked() {
        let a = report_args(&["--since", "1h", "--psi", "0.5", "--label-p-value", "0.01"]).unwrap();
        let t = thresholds(&a).unwrap();
        assert_eq!((t.psi, t.label_p_value), (0.5, 0.01));
        assert_eq!(t.ks, DriftThresholds::default().ks);
        let a = report_args(&["--since", "1h", "--ks", "0"]).unwrap();
        assert_eq!(thresholds(&a).unwrap_err().code(), 2);
    }
}
