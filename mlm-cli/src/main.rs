//! `mlm`: the REST server over a backend (`mlm serve`), and the command line for people:
//! every operation by resource, a live `mlm top`, and an inference load tester.
//!
//! ```text
//! mlm serve [--config mlm.toml] [--bind 127.0.0.1:8080] [--provider local|aws] [--data-dir DIR]
//! mlm models create news --description "AG News topics"
//! mlm versions create news --artifact examples/agnews-classifier/model --image agnews-classifier
//! mlm endpoints create news --model news --instance-count 2 --wait
//! mlm invoke news --data '{"sentence": "Stocks rallied."}'
//! mlm load-test news --clients 8 --duration 10s --data '{"sentence": "Stocks rallied."}'
//! ```
//!
//! Commands reach a server with `--server URL` (or `MLM_SERVER`), or open the backend in this
//! process with the configuration `mlm serve` reads. Exit codes: see [`failure`] and
//! `mlm --help`.

mod cli;
mod commands;
mod connect;
mod failure;
mod loadtest;
mod output;
mod progress;
mod serve;
mod top;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, PipelinesCommand};
use crate::failure::Failure;
use crate::output::write_stdout;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Openapi => write_stdout(mlm_http::openapi::openapi_pretty().as_bytes()),
        Command::Pipelines(PipelinesCommand::Schema) => {
            write_stdout(mlm_http::pipeline_schema_pretty().as_bytes())
        }
        Command::Completions(a) => {
            let mut text = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "mlm", &mut text);
            write_stdout(&text)
        }
        Command::Man => man_page(),
        Command::Serve(args) => {
            init_tracing("info");
            block_on(serve::serve(args, &cli.global.connect))
        }
        command => {
            // People read the results: the backend's own logs only when RUST_LOG asks.
            init_tracing("warn");
            block_on(commands::run(command, &cli.global))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn block_on(work: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(work)
}

fn man_page() -> Result<(), Failure> {
    let mut text = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut text)
        .map_err(|e| Failure::runtime(format!("cannot write the manual page: {e}")))?;
    write_stdout(&text)
}

fn init_tracing(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
