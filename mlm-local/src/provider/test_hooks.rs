//! Hooks for tests, benchmarks and diagnostics: a simulated crash, the processes and ports
//! behind an endpoint, its lifecycle log. Compiled only with the `test-util` feature, so they
//! are not part of the API services build on.

use mlm_core::{EndpointName, Result};

use super::{Inner, LocalProvider};
use crate::instance::InstanceHandle;
use crate::store::{LifecycleEvent, endpoint_resource};

/// Available with the `test-util` feature.
impl LocalProvider {
    /// Stops the monitor and forgets every instance *without* stopping its process, as if
    /// this server had been killed with `kill -9`. For recovery tests only.
    pub fn simulate_crash(self) {
        self.inner.stop_monitor();
        // Leak the instance handles so their kill-on-drop never fires; the data directory lock
        // is released with `inner`, as the OS would release it for a dead process.
        for rt in self.inner.runtimes() {
            for route in rt.table().iter() {
                for instance in &route.instances {
                    std::mem::forget(instance.clone());
                }
            }
        }
    }

    /// The process ids of an endpoint's instances (for tests and diagnostics).
    pub fn instance_pids(&self, name: &EndpointName) -> Vec<u32> {
        self.inner.each_instance(name, |i| i.pid)
    }

    /// The loopback ports of an endpoint's instances (for benchmarks and diagnostics).
    pub fn instance_ports(&self, name: &EndpointName) -> Vec<u16> {
        self.inner.each_instance(name, |i| i.port)
    }

    /// Lifecycle events of an endpoint, newest first.
    pub fn endpoint_events(&self, name: &EndpointName, limit: u32) -> Result<Vec<LifecycleEvent>> {
        self.inner.store.events(&endpoint_resource(name), limit)
    }
}

impl Inner {
    /// `f` of every instance of an endpoint, in routing-table order.
    fn each_instance<T>(&self, name: &EndpointName, f: impl Fn(&InstanceHandle) -> T) -> Vec<T> {
        self.runtime(name)
            .map(|rt| {
                rt.table()
                    .iter()
                    .flat_map(|r| r.instances.iter().map(|i| f(i)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
