//! The one tokio runtime every client of the process shares.
//!
//! Blocking calls `block_on` it with the GIL released; awaitables are spawned on it through
//! pyo3-async-runtimes; the local backend's health monitor and instance supervisors live on it
//! for as long as the process does.

use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Worker threads: the work is I/O and process supervision, not computation.
const WORKERS: usize = 2;

/// The shared runtime, built on first use.
pub(crate) fn get() -> PyResult<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("mlm-runtime")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start mlm's tokio runtime: {e}")))?;
    // Another thread may have won the race; its runtime is kept and ours dropped.
    let _ = RUNTIME.set(rt);
    Ok(RUNTIME.get().expect("the runtime was just set"))
}

/// Builds the runtime and hands it to pyo3-async-runtimes, so awaitables run on it too.
pub(crate) fn install() -> PyResult<()> {
    let rt = get()?;
    // Err means it was installed already (the module was initialised before): nothing to do.
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(rt);
    Ok(())
}
