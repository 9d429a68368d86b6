//! What the tests that drive a component from outside the system share: the composition's tables
//! with that component made a handler (the test plays it) and a doorbell, a notification endpoint
//! another component rings it through, checked for the deterministic runtime.

use ballast_ipc::{
    Badge, CheckedTables, ComponentId, ComponentKind, EndpointId, EndpointKind, EndpointSpec,
    Tables,
};

/// The doorbell's endpoint id: above every endpoint a manifest numbers.
pub const DOORBELL: EndpointId = EndpointId(100);

/// `base` with a doorbell from `ringer` to `played`, and `played` a handler if `as_handler` (else
/// it stays external: the test makes its calls).
pub fn with_doorbell(
    base: &Tables<'_>,
    ringer: u16,
    played: u16,
    as_handler: bool,
) -> CheckedTables {
    let mut components = base.components.to_vec();
    if as_handler {
        components[usize::from(played)].kind = ComponentKind::Handler;
    }
    let mut endpoints = base.endpoints.to_vec();
    endpoints.push(EndpointSpec {
        client: ComponentId(ringer),
        id: DOORBELL,
        server: ComponentId(played),
        badge: Badge(0xd00),
        kind: EndpointKind::Notify,
    });
    let tables = Tables {
        components: &components,
        endpoints: &endpoints,
        regions: base.regions,
        grants: base.grants,
    };
    CheckedTables::from_tables(&tables).expect("the tables with a doorbell")
}
