//! [`Operation`]: one not-yet-started call, with a blocking face (`wait`) and an asyncio face
//! (`awaitable`), so every client method exists once in Rust and twice in Python.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use mlm_core::InvokeResponse;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::client::NativeClient;
use crate::convert::to_py;
use crate::errors::to_py_err;
use crate::runtime;

/// How long a blocking call runs with the GIL released before it checks for Ctrl-C (and
/// delivers progress events).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// What an operation produces.
pub(crate) enum Output {
    /// Nothing (`None`).
    Unit,
    /// A core value in its serde representation.
    Json(Value),
    /// An inference answer (`{"body": bytes, "content_type": str, "variant": str | None}`).
    Invoke(InvokeResponse),
    /// A newly opened client.
    Client(NativeClient),
}

impl Output {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Self::Unit => py.None(),
            Self::Json(v) => to_py(py, &v)?.unbind(),
            Self::Invoke(r) => {
                let d = PyDict::new(py);
                d.set_item("body", PyBytes::new(py, &r.body))?;
                d.set_item("content_type", r.content_type)?;
                d.set_item("variant", r.variant.map(|v| v.as_str().to_owned()))?;
                d.into_any().unbind()
            }
            Self::Client(c) => Py::new(py, c)?.into_any(),
        })
    }
}

pub(crate) type OpFuture = BoxFuture<'static, mlm_core::Result<Output>>;

struct Pending {
    future: OpFuture,
    progress: Option<UnboundedReceiver<Value>>,
}

/// A call that has not started yet. Run it once, with `wait()` or `awaitable()`; dropping it
/// unstarted does nothing.
#[pyclass(frozen, module = "mlm._mlm")]
pub(crate) struct Operation {
    pending: Mutex<Option<Pending>>,
}

impl Operation {
    /// An operation running `future`.
    pub(crate) fn new(future: OpFuture) -> Self {
        Self::with_progress(future, None)
    }

    /// An operation that reports progress events (JSON values) on `progress`.
    pub(crate) fn with_progress(
        future: OpFuture,
        progress: Option<UnboundedReceiver<Value>>,
    ) -> Self {
        Self {
            pending: Mutex::new(Some(Pending { future, progress })),
        }
    }

    fn take(&self) -> PyResult<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this operation has already been started"))
    }
}

fn deliver(
    py: Python<'_>,
    progress: &mut Option<UnboundedReceiver<Value>>,
    on_progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    if let Some(rx) = progress.as_mut() {
        while let Ok(event) = rx.try_recv() {
            if let Some(callback) = on_progress {
                callback.call1((to_py(py, &event)?,))?;
            }
        }
    }
    Ok(())
}

#[pymethods]
impl Operation {
    /// Runs the operation to completion with the GIL released and returns its result.
    ///
    /// Every 100 ms it takes the GIL back to call `on_progress` with the events that arrived
    /// and to check for signals: Ctrl-C raises `KeyboardInterrupt` and drops (cancels) the
    /// operation.
    #[pyo3(signature = (on_progress=None))]
    fn wait(&self, py: Python<'_>, on_progress: Option<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let Pending {
            mut future,
            mut progress,
        } = self.take()?;
        let rt = runtime::get()?;
        let result = loop {
            // The timer must be created inside the runtime, hence the async block.
            let step =
                py.detach(|| rt.block_on(async { tokio::time::timeout(TICK, &mut future).await }));
            deliver(py, &mut progress, on_progress.as_ref())?;
            match step {
                Ok(result) => break result,
                Err(_still_running) => py.check_signals()?,
            }
        };
        match result {
            Ok(output) => output.into_py(py),
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// The operation as an asyncio awaitable on the running loop. Cancelling the awaitable
    /// cancels the operation. `on_progress` is called on the loop's thread.
    #[pyo3(signature = (on_progress=None))]
    fn awaitable<'py>(
        &self,
        py: Python<'py>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Pending {
            mut future,
            progress,
        } = self.take()?;
        let forward = match (progress, on_progress) {
            (Some(rx), Some(callback)) => Some((
                rx,
                callback,
                pyo3_async_runtimes::tokio::get_current_loop(py)?.unbind(),
            )),
            _ => None,
        };
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let result = match forward {
                None => future.await,
                Some((mut rx, callback, event_loop)) => {
                    // Events are scheduled on the loop before the result is, so the caller
                    // sees every one of them before the awaitable completes.
                    let send = |event: Value| {
                        Python::attach(|py| -> PyResult<()> {
                            event_loop.call_method1(
                                py,
                                "call_soon_threadsafe",
                                (callback.clone_ref(py), to_py(py, &event)?),
                            )?;
                            Ok(())
                        })
                    };
                    let result = loop {
                        tokio::select! {
                            biased;
                            Some(event) = rx.recv() => {
                                // A closed loop cannot be told anything; the result
                                // reports that itself.
                                let _ = send(event);
                            }
                            result = &mut future => break result,
                        }
                    };
                    while let Ok(event) = rx.try_recv() {
                        let _ = send(event);
                    }
                    result
                }
            };
            Python::attach(|py| match result {
                Ok(output) => output.into_py(py),
                Err(e) => Err(to_py_err(py, e)),
            })
        })
    }

    fn __repr__(&self) -> &'static str {
        match *self.pending.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(_) => "<mlm Operation (not started)>",
            None => "<mlm Operation (started)>",
        }
    }
}
