//! The composition's tables with one component driven from outside, for a phase in which the
//! scenario plays that component.

use ballast_app_memory_server::composition::{COMPONENT_COUNT, ENDPOINT_COUNT, TABLES};
use ballast_ipc::{ComponentId, ComponentKind, ComponentSpec, EndpointSpec, Tables};

/// The tables with one component driven from outside, for a phase in which the scenario plays it
/// (it calls what the component may call, with its badge and its regions); the endpoints that
/// lead to it are left out, since nothing answers them.
#[derive(Debug)]
pub struct StandIn {
    components: [ComponentSpec<'static>; COMPONENT_COUNT],
    endpoints: [EndpointSpec; ENDPOINT_COUNT],
    kept: usize,
}

impl StandIn {
    /// The tables with `stand_in` external.
    pub fn new(stand_in: ComponentId) -> StandIn {
        let mut components: [ComponentSpec<'static>; COMPONENT_COUNT] =
            core::array::from_fn(|at| TABLES.components[at]);
        if let Some(spec) = components.get_mut(stand_in.index()) {
            spec.kind = ComponentKind::External;
        }
        let mut endpoints: [EndpointSpec; ENDPOINT_COUNT] =
            core::array::from_fn(|at| TABLES.endpoints[at]);
        let mut kept = 0;
        for at in 0..ENDPOINT_COUNT {
            if endpoints[at].server != stand_in {
                endpoints[kept] = endpoints[at];
                kept += 1;
            }
        }
        StandIn {
            components,
            endpoints,
            kept,
        }
    }

    /// The tables, borrowed.
    pub fn tables(&self) -> Tables<'_> {
        Tables {
            components: &self.components,
            endpoints: &self.endpoints[..self.kept],
            ..TABLES
        }
    }
}
