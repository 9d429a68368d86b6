//! The composition tables checked and indexed for both host runtimes: built from [`Tables`] (generated from
//! the manifest) or by hand with [`TablesBuilder`], checked once, then looked up by the
//! runtimes on every call.

use crate::call_graph::{CycleFinder, Visit};
use crate::kernel::{Badge, EndpointId, LeaseId, NotificationBits};
use crate::lease::LeaseTables;
use crate::tables::{
    ComponentId, ComponentKind, ComponentSpec, EndpointKind, EndpointSpec, RegionGrant, RegionSpec,
    Tables,
};

/// Why tables (or the handlers given for them) were refused. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum TablesError {
    /// A table names a component that is not in the component table.
    UnknownComponent = 1,
    /// A client holds two capabilities with the same endpoint id.
    DuplicateEndpoint = 2,
    /// Two call endpoints of one server carry the same badge.
    DuplicateBadge = 3,
    /// Calls form a cycle (a component could end up waiting on itself).
    CallCycle = 4,
    /// A call endpoint leads to an external component, which has no handler to answer (a
    /// notification may: its driver takes the bits itself).
    ExternalServer = 5,
    /// Two regions share an id.
    DuplicateRegion = 6,
    /// A grant names a region that is not declared.
    UnknownRegion = 7,
    /// A component is granted a region twice, or is granted its own region.
    DuplicateGrant = 8,
    /// A handler component was given no handler.
    MissingHandler = 9,
    /// A handler was given for an external component.
    HandlerForExternal = 10,
    /// Two handlers were given for one component.
    DuplicateHandler = 11,
    /// More components than a [`ComponentId`] can number.
    TooManyComponents = 12,
    /// The host runtime could not start a component's thread.
    SpawnFailed = 13,
}

/// Composition tables, checked and indexed by component, endpoint, badge and region.
#[derive(Clone, Debug)]
pub struct CheckedTables {
    names: Vec<String>,
    kinds: Vec<ComponentKind>,
    /// Per client, its capabilities sorted by endpoint id.
    capabilities: Vec<Vec<EndpointSpec>>,
    /// Per server, the clients of its call endpoints sorted by badge.
    clients: Vec<Vec<(Badge, ComponentId)>>,
    /// Sorted by id.
    regions: Vec<RegionSpec>,
    grants: Vec<RegionGrant>,
}

impl CheckedTables {
    /// Check `tables` and index them for the runtimes.
    pub fn from_tables(tables: &Tables<'_>) -> Result<CheckedTables, TablesError> {
        let count = tables.components.len();
        if count > usize::from(u16::MAX) + 1 {
            return Err(TablesError::TooManyComponents);
        }
        let kinds: Vec<ComponentKind> = tables.components.iter().map(|c| c.kind).collect();
        let known = |c: ComponentId| c.index() < count;
        let mut capabilities = vec![Vec::<EndpointSpec>::new(); count];
        let mut clients = vec![Vec::<(Badge, ComponentId)>::new(); count];
        for endpoint in tables.endpoints {
            if !known(endpoint.client) || !known(endpoint.server) {
                return Err(TablesError::UnknownComponent);
            }
            capabilities[endpoint.client.index()].push(*endpoint);
            if endpoint.kind == EndpointKind::Call {
                if kinds[endpoint.server.index()] == ComponentKind::External {
                    return Err(TablesError::ExternalServer);
                }
                clients[endpoint.server.index()].push((endpoint.badge, endpoint.client));
            }
        }
        for held in &mut capabilities {
            held.sort_by_key(|e| e.id);
            if held.windows(2).any(|w| w[0].id == w[1].id) {
                return Err(TablesError::DuplicateEndpoint);
            }
        }
        for served in &mut clients {
            served.sort_by_key(|(badge, _)| *badge);
            if served.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(TablesError::DuplicateBadge);
            }
        }
        if CycleFinder::new(tables.calls(), &mut vec![Visit::NEW; count])
            .next_cycle()
            .is_some()
        {
            return Err(TablesError::CallCycle);
        }
        let mut regions = tables.regions.to_vec();
        if regions.iter().any(|r| !known(r.owner)) {
            return Err(TablesError::UnknownComponent);
        }
        regions.sort_by_key(|r| r.id);
        if regions.windows(2).any(|w| w[0].id == w[1].id) {
            return Err(TablesError::DuplicateRegion);
        }
        let mut grants: Vec<RegionGrant> = Vec::with_capacity(tables.grants.len());
        for grant in tables.grants {
            if !known(grant.component) {
                return Err(TablesError::UnknownComponent);
            }
            let Ok(at) = regions.binary_search_by_key(&grant.region, |r| r.id) else {
                return Err(TablesError::UnknownRegion);
            };
            let repeated = grants
                .iter()
                .any(|g| g.region == grant.region && g.component == grant.component);
            if repeated || regions[at].owner == grant.component {
                return Err(TablesError::DuplicateGrant);
            }
            grants.push(*grant);
        }
        Ok(CheckedTables {
            names: tables
                .components
                .iter()
                .map(|c| c.name.to_owned())
                .collect(),
            kinds,
            capabilities,
            clients,
            regions,
            grants,
        })
    }

    /// How many components there are (ids run from 0 to this, exclusive).
    pub fn component_count(&self) -> usize {
        self.kinds.len()
    }

    /// All component ids, in order.
    pub fn component_ids(&self) -> impl Iterator<Item = ComponentId> {
        (0..self.kinds.len()).filter_map(|i| u16::try_from(i).ok().map(ComponentId))
    }

    /// A component's name.
    pub fn name(&self, component: ComponentId) -> Option<&str> {
        self.names.get(component.index()).map(String::as_str)
    }

    /// A component's kind.
    pub fn kind(&self, component: ComponentId) -> Option<ComponentKind> {
        self.kinds.get(component.index()).copied()
    }

    /// The capability `client` holds under `id`.
    pub fn capability(&self, client: ComponentId, id: EndpointId) -> Option<&EndpointSpec> {
        let held = self.capabilities.get(client.index())?;
        held.binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|at| &held[at])
    }

    /// Every capability `client` holds, sorted by endpoint id.
    pub fn capabilities(&self, client: ComponentId) -> &[EndpointSpec] {
        self.capabilities
            .get(client.index())
            .map_or(&[], Vec::as_slice)
    }

    /// The client that calls `server` with `badge`.
    pub fn client_of(&self, server: ComponentId, badge: Badge) -> Option<ComponentId> {
        let served = self.clients.get(server.index())?;
        served
            .binary_search_by_key(&badge, |(b, _)| *b)
            .ok()
            .map(|at| served[at].1)
    }

    /// The regions, sorted by id.
    pub fn regions(&self) -> &[RegionSpec] {
        &self.regions
    }

    /// The position of region `id` in [`CheckedTables::regions`].
    pub fn region_index(&self, id: LeaseId) -> Option<usize> {
        self.regions.binary_search_by_key(&id, |r| r.id).ok()
    }

    /// The grant of `region` to `component`, if any.
    pub fn grant(&self, region: LeaseId, component: ComponentId) -> Option<&RegionGrant> {
        self.grants
            .iter()
            .find(|g| g.region == region && g.component == component)
    }
}

impl LeaseTables for CheckedTables {
    fn client_of(&self, server: ComponentId, badge: Badge) -> Option<ComponentId> {
        CheckedTables::client_of(self, server, badge)
    }

    fn region(&self, id: LeaseId) -> Option<(usize, RegionSpec)> {
        let index = self.region_index(id)?;
        self.regions.get(index).map(|spec| (index, *spec))
    }

    fn grant(&self, region: LeaseId, component: ComponentId) -> Option<RegionGrant> {
        CheckedTables::grant(self, region, component).copied()
    }
}

/// Builds tables by hand, in the same terms as [`Tables`].
#[derive(Clone, Debug, Default)]
pub struct TablesBuilder {
    components: Vec<(String, ComponentKind)>,
    endpoints: Vec<EndpointSpec>,
    regions: Vec<RegionSpec>,
    grants: Vec<RegionGrant>,
}

impl TablesBuilder {
    /// No components yet.
    pub fn new() -> TablesBuilder {
        TablesBuilder::default()
    }

    /// Add a component; ids are handed out in order.
    pub fn component(&mut self, name: &str, kind: ComponentKind) -> ComponentId {
        let id = ComponentId(u16::try_from(self.components.len()).unwrap_or(u16::MAX));
        self.components.push((name.to_owned(), kind));
        id
    }

    /// Let `client` call `server`, which will see `badge`; returns the endpoint as the client
    /// numbers it (the next free number in the client's space).
    pub fn endpoint(
        &mut self,
        client: ComponentId,
        server: ComponentId,
        badge: Badge,
    ) -> EndpointId {
        self.capability(client, server, badge, EndpointKind::Call)
    }

    /// Let `from` raise notification `bits` on `to` (the capability's badge: on seL4 a signal
    /// raises its capability's badge); returns the capability as `from` numbers it.
    pub fn notification(
        &mut self,
        from: ComponentId,
        to: ComponentId,
        bits: NotificationBits,
    ) -> EndpointId {
        self.capability(from, to, Badge(bits.0), EndpointKind::Notify)
    }

    /// Add a capability with an explicit id and kind, as a generated table row would.
    pub fn endpoint_spec(&mut self, spec: EndpointSpec) -> &mut TablesBuilder {
        self.endpoints.push(spec);
        self
    }

    /// Declare a region of `size` bytes owned by `owner`.
    pub fn region(&mut self, id: LeaseId, size: u32, owner: ComponentId) -> &mut TablesBuilder {
        self.regions.push(RegionSpec { id, size, owner });
        self
    }

    /// Let `component` see `region` while it is lent to it, writing only if `writable`.
    pub fn share(
        &mut self,
        region: LeaseId,
        component: ComponentId,
        writable: bool,
    ) -> &mut TablesBuilder {
        self.grants.push(RegionGrant {
            region,
            component,
            writable,
        });
        self
    }

    /// Check and index what was added.
    pub fn build(&self) -> Result<CheckedTables, TablesError> {
        self.with_tables(CheckedTables::from_tables)
    }

    /// Run `f` on what was added, unchecked, as plain [`Tables`] (for a runtime that takes them).
    pub fn with_tables<T>(&self, f: impl FnOnce(&Tables<'_>) -> T) -> T {
        let components: Vec<ComponentSpec<'_>> = self
            .components
            .iter()
            .map(|(name, kind)| ComponentSpec { name, kind: *kind })
            .collect();
        f(&Tables {
            components: &components,
            endpoints: &self.endpoints,
            regions: &self.regions,
            grants: &self.grants,
        })
    }

    fn capability(
        &mut self,
        client: ComponentId,
        server: ComponentId,
        badge: Badge,
        kind: EndpointKind,
    ) -> EndpointId {
        let held = self.endpoints.iter().filter(|e| e.client == client).count();
        let id = EndpointId(u16::try_from(held).unwrap_or(u16::MAX));
        self.endpoints.push(EndpointSpec {
            client,
            id,
            server,
            badge,
            kind,
        });
        id
    }
}

/// Give each handler component its handler, by component id. Errors if one is missing, given
/// twice, or given to an external component.
pub(crate) fn place_handlers<H>(
    checked: &CheckedTables,
    handlers: Vec<(ComponentId, H)>,
) -> Result<Vec<Option<H>>, TablesError> {
    let mut placed: Vec<Option<H>> = (0..checked.component_count()).map(|_| None).collect();
    for (component, handler) in handlers {
        match checked.kind(component) {
            None => return Err(TablesError::UnknownComponent),
            Some(ComponentKind::External) => return Err(TablesError::HandlerForExternal),
            Some(ComponentKind::Handler) => {}
        }
        let slot = &mut placed[component.index()];
        if slot.is_some() {
            return Err(TablesError::DuplicateHandler);
        }
        *slot = Some(handler);
    }
    let missing = checked
        .component_ids()
        .any(|c| checked.kind(c) == Some(ComponentKind::Handler) && placed[c.index()].is_none());
    if missing {
        return Err(TablesError::MissingHandler);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn component(name: &str, kind: ComponentKind) -> ComponentSpec<'_> {
        ComponentSpec { name, kind }
    }

    const fn call(client: u16, id: u16, server: u16, badge: u32) -> EndpointSpec {
        EndpointSpec {
            client: ComponentId(client),
            id: EndpointId(id),
            server: ComponentId(server),
            badge: Badge(badge),
            kind: EndpointKind::Call,
        }
    }

    const COMPONENTS: [ComponentSpec<'static>; 3] = [
        component("driver", ComponentKind::External),
        component("memory", ComponentKind::Handler),
        component("gateway", ComponentKind::Handler),
    ];

    fn tables<'a>(
        endpoints: &'a [EndpointSpec],
        regions: &'a [RegionSpec],
        grants: &'a [RegionGrant],
    ) -> Tables<'a> {
        Tables {
            components: &COMPONENTS,
            endpoints,
            regions,
            grants,
        }
    }

    #[test]
    fn generated_tables_index_capabilities_badges_and_regions() {
        let endpoints = [call(0, 0, 1, 10), call(1, 0, 2, 20), call(0, 3, 2, 11)];
        let regions = [RegionSpec {
            id: LeaseId(4),
            size: 4096,
            owner: ComponentId(1),
        }];
        let grants = [RegionGrant {
            region: LeaseId(4),
            component: ComponentId(2),
            writable: true,
        }];
        let checked =
            CheckedTables::from_tables(&tables(&endpoints, &regions, &grants)).expect("valid");
        assert_eq!(checked.component_count(), 3);
        assert_eq!(checked.name(ComponentId(2)), Some("gateway"));
        assert_eq!(
            checked
                .capability(ComponentId(0), EndpointId(3))
                .map(|e| e.server),
            Some(ComponentId(2))
        );
        assert_eq!(checked.capability(ComponentId(0), EndpointId(1)), None);
        assert_eq!(
            checked.client_of(ComponentId(2), Badge(11)),
            Some(ComponentId(0))
        );
        assert_eq!(checked.client_of(ComponentId(2), Badge(10)), None);
        assert_eq!(checked.region_index(LeaseId(4)), Some(0));
        assert!(checked
            .grant(LeaseId(4), ComponentId(2))
            .is_some_and(|g| g.writable));
        assert!(checked.grant(LeaseId(4), ComponentId(0)).is_none());
    }

    /// Endpoints, regions and grants, and the error they must give.
    type Case<'a> = (
        &'a [EndpointSpec],
        &'a [RegionSpec],
        &'a [RegionGrant],
        TablesError,
    );

    #[test]
    fn broken_tables_are_refused_with_the_reason() {
        let region = |id: u16, owner: u16| RegionSpec {
            id: LeaseId(id),
            size: 64,
            owner: ComponentId(owner),
        };
        let grant = |id: u16, component: u16| RegionGrant {
            region: LeaseId(id),
            component: ComponentId(component),
            writable: false,
        };
        let cases: [Case<'_>; 10] = [
            (&[call(0, 0, 7, 1)], &[], &[], TablesError::UnknownComponent),
            (
                &[call(0, 0, 1, 1), call(0, 0, 2, 2)],
                &[],
                &[],
                TablesError::DuplicateEndpoint,
            ),
            (
                &[call(0, 0, 2, 1), call(1, 0, 2, 1)],
                &[],
                &[],
                TablesError::DuplicateBadge,
            ),
            (
                &[call(1, 0, 2, 1), call(2, 0, 1, 2)],
                &[],
                &[],
                TablesError::CallCycle,
            ),
            (&[call(1, 0, 1, 1)], &[], &[], TablesError::CallCycle),
            (&[call(1, 0, 0, 1)], &[], &[], TablesError::ExternalServer),
            (
                &[],
                &[region(1, 0), region(1, 1)],
                &[],
                TablesError::DuplicateRegion,
            ),
            (
                &[],
                &[region(1, 0)],
                &[grant(2, 1)],
                TablesError::UnknownRegion,
            ),
            (
                &[],
                &[region(1, 0)],
                &[grant(1, 1), grant(1, 1)],
                TablesError::DuplicateGrant,
            ),
            (
                &[],
                &[region(1, 0)],
                &[grant(1, 0)],
                TablesError::DuplicateGrant,
            ),
        ];
        for (endpoints, regions, grants, expected) in cases {
            let outcome = CheckedTables::from_tables(&tables(endpoints, regions, grants));
            assert_eq!(outcome.err(), Some(expected));
        }
    }

    #[test]
    fn a_diamond_of_calls_is_not_a_cycle() {
        let mut builder = TablesBuilder::new();
        let top = builder.component("top", ComponentKind::External);
        let left = builder.component("left", ComponentKind::Handler);
        let right = builder.component("right", ComponentKind::Handler);
        let bottom = builder.component("bottom", ComponentKind::Handler);
        assert_eq!(builder.endpoint(top, left, Badge(1)), EndpointId(0));
        assert_eq!(builder.endpoint(top, right, Badge(2)), EndpointId(1));
        builder.endpoint(left, bottom, Badge(1));
        builder.endpoint(right, bottom, Badge(2));
        assert_eq!(
            builder.notification(bottom, left, NotificationBits(1)),
            EndpointId(0)
        );
        assert!(
            builder.build().is_ok(),
            "a notification back up is no call cycle"
        );
        let mut back_to_external = builder.clone();
        back_to_external.endpoint(bottom, top, Badge(9));
        assert_eq!(
            back_to_external.build().err(),
            Some(TablesError::ExternalServer)
        );
        builder.endpoint(bottom, left, Badge(9));
        assert_eq!(builder.build().err(), Some(TablesError::CallCycle));
    }

    #[test]
    fn a_notification_may_reach_an_external_component_a_call_may_not() {
        let mut builder = TablesBuilder::new();
        let control = builder.component("control", ComponentKind::External);
        let testclient = builder.component("testclient", ComponentKind::External);
        let memory = builder.component("memory", ComponentKind::Handler);
        assert_eq!(builder.endpoint(control, memory, Badge(1)), EndpointId(0));
        let go = builder.notification(control, testclient, NotificationBits(1));
        assert_eq!(
            go,
            EndpointId(1),
            "numbered after the notifier's call endpoint"
        );
        let checked = builder
            .build()
            .expect("a notification to an external component");
        let held = checked.capability(control, go).expect("held");
        assert_eq!((held.server, held.badge), (testclient, Badge(1)));
        assert_eq!(held.kind, EndpointKind::Notify);
        assert_eq!(checked.client_of(testclient, Badge(1)), None, "no caller");
        builder.endpoint(control, testclient, Badge(2));
        assert_eq!(builder.build().err(), Some(TablesError::ExternalServer));
    }

    #[test]
    fn every_handler_component_gets_exactly_one_handler() {
        let checked = CheckedTables::from_tables(&tables(&[], &[], &[])).expect("valid");
        let placed = place_handlers(&checked, vec![(ComponentId(1), 'm'), (ComponentId(2), 'g')]);
        assert_eq!(placed, Ok(vec![None, Some('m'), Some('g')]));
        let refusals = [
            (vec![(ComponentId(1), 'm')], TablesError::MissingHandler),
            (vec![(ComponentId(0), 'd')], TablesError::HandlerForExternal),
            (
                vec![(ComponentId(1), 'm'), (ComponentId(1), 'n')],
                TablesError::DuplicateHandler,
            ),
            (vec![(ComponentId(5), 'x')], TablesError::UnknownComponent),
        ];
        for (handlers, expected) in refusals {
            assert_eq!(place_handlers(&checked, handlers), Err(expected));
        }
    }
}
