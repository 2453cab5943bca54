//! The core conformance suite against `LocalProvider` with real instance processes.

mod common;

mlm_core::conformance_tests!(common::fixture);
