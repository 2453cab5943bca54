//! # mlm-py
//!
//! The native module `mlm._mlm` of the `mlm` Python package: PyO3 classes over the
//! [`mlm_core::Provider`] traits. The pure-Python layer (`python/mlm`) builds the public API —
//! typed result objects, the exception tree, progress displays — on top of three things:
//!
//! - `NativeClient`: one per backend (local, HTTP, AWS). Every method validates its arguments
//!   and returns an `Operation` without doing any I/O.
//! - `Operation`: a not-yet-started call. `wait()` runs it on the shared tokio runtime with the
//!   GIL released, checking for Ctrl-C every 100 ms; `awaitable()` turns it into
//!   an asyncio awaitable (pyo3-async-runtimes). One code path, a sync and an async face,
//!   as in obstore.
//! - Errors: every [`mlm_core::Error`] becomes the `mlm.errors` class its
//!   [`ErrorKind`](mlm_core::ErrorKind) names, in one place (`src/errors.rs`).
//!
//! Values cross the boundary as the core types' serde representation (JSON-like dicts), so
//! Python sees exactly the fields the REST API and the Rust types have.

mod client;
mod convert;
mod errors;
mod operation;
mod runtime;

use pyo3::prelude::*;

/// The native module `mlm._mlm`.
#[pymodule]
fn _mlm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    runtime::install()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "ERROR_KINDS",
        mlm_core::ErrorKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
    )?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<operation::Operation>()?;
    m.add_function(wrap_pyfunction!(errors::raise_error_kind, m)?)?;
    m.add_function(wrap_pyfunction!(convert::read_samples_jsonl, m)?)?;
    Ok(())
}
