//! JSON-like values across the boundary: the core types' serde representation becomes plain
//! Python `dict`/`list`/`str`/`int`/`float`/`bool`/`None`, and request dicts built by the
//! Python layer become core request structs through serde (so they are validated exactly as
//! the REST API's are).

use mlm_core::Error;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::{IntoPyObjectExt, PyResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// A JSON value as the Python object `json.loads` would give.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python object made of dicts (string keys), lists, tuples, strings, numbers, booleans
/// and `None` as a JSON value; anything else is a `TypeError` naming the type.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return obj
            .extract::<u64>()
            .map(Value::from)
            .map_err(|_| PyTypeError::new_err("integer out of range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err("NaN and infinity cannot be sent"));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(Value::String(obj.extract::<String>()?));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in dict.iter() {
            if !k.is_instance_of::<PyString>() {
                return Err(PyTypeError::new_err("dictionary keys must be strings"));
            }
            let key = k.extract::<String>()?;
            map.insert(key, from_py(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            items.push(from_py(&item?)?);
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "cannot send a value of type {}",
        obj.get_type().name()?
    )))
}

/// A core request struct from its serde representation; mistakes are `InvalidArgument`s
/// naming the request and the field.
pub(crate) fn parse<T: DeserializeOwned>(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<T> {
    let value = from_py(obj)?;
    serde_json::from_value(value)
        .map_err(|e| crate::errors::to_py_err(obj.py(), Error::invalid(format!("{what}: {e}"))))
}

/// A core value as JSON, for the Python layer.
pub(crate) fn to_value(value: &impl Serialize) -> mlm_core::Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::provider("cannot represent the result for Python", e))
}

/// The samples of a JSON Lines text (each line a request body, or `{"input", "output"}`), as
/// the core reads them, so Python and the REST route agree on the format.
#[pyfunction]
pub(crate) fn read_samples_jsonl<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let samples = mlm_core::drift::parse_samples_jsonl(text)
        .and_then(|s| to_value(&s))
        .map_err(|e| crate::errors::to_py_err(py, e))?;
    to_py(py, &samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_serialise() {
        let page = mlm_core::Page::last(vec![1, 2]);
        assert_eq!(
            to_value(&page).unwrap(),
            serde_json::json!({"items": [1, 2], "next_page_token": null})
        );
    }
}
