//! The composition tables as the static runtime runs from them: checked once without allocating
//! (bounded by the runtime's capacities), then looked up by linear scans, which for the handful of
//! components and endpoints of an image cost less than any index would.

use crate::call_graph::{CycleFinder, Visit};
use crate::kernel::{Badge, EndpointId, LeaseId};
use crate::lease::LeaseTables;
use crate::tables::{
    ComponentId, ComponentKind, EndpointKind, EndpointSpec, RegionGrant, RegionSpec, Tables,
};

use super::StaticError;

/// Check `tables` for a runtime of at most `COMPONENTS` components and `REGIONS` regions.
pub(crate) fn check<const COMPONENTS: usize, const REGIONS: usize>(
    tables: &Tables<'_>,
) -> Result<(), StaticError> {
    let count = tables.components.len();
    if count > COMPONENTS || count > usize::from(u16::MAX) + 1 {
        return Err(StaticError::TooManyComponents);
    }
    if tables.regions.len() > REGIONS {
        return Err(StaticError::TooManyRegions);
    }
    let known = |c: ComponentId| c.index() < count;
    for (at, endpoint) in tables.endpoints.iter().enumerate() {
        if !known(endpoint.client) || !known(endpoint.server) {
            return Err(StaticError::UnknownComponent);
        }
        let to_external =
            tables.components[endpoint.server.index()].kind == ComponentKind::External;
        if endpoint.kind == EndpointKind::Call && to_external {
            return Err(StaticError::ExternalServer);
        }
        let earlier = &tables.endpoints[..at];
        if earlier
            .iter()
            .any(|e| e.client == endpoint.client && e.id == endpoint.id)
        {
            return Err(StaticError::DuplicateEndpoint);
        }
        let same_badge = |e: &&EndpointSpec| {
            e.kind == EndpointKind::Call && e.server == endpoint.server && e.badge == endpoint.badge
        };
        if endpoint.kind == EndpointKind::Call && earlier.iter().any(|e| same_badge(&e)) {
            return Err(StaticError::DuplicateBadge);
        }
    }
    let mut visits = [Visit::NEW; COMPONENTS];
    if CycleFinder::new(tables.calls(), &mut visits[..count])
        .next_cycle()
        .is_some()
    {
        return Err(StaticError::CallCycle);
    }
    for (at, region) in tables.regions.iter().enumerate() {
        if !known(region.owner) {
            return Err(StaticError::UnknownComponent);
        }
        if tables.regions[..at].iter().any(|r| r.id == region.id) {
            return Err(StaticError::DuplicateRegion);
        }
    }
    for (at, grant) in tables.grants.iter().enumerate() {
        if !known(grant.component) {
            return Err(StaticError::UnknownComponent);
        }
        let region = region_spec(tables, grant.region).ok_or(StaticError::UnknownRegion)?;
        let repeated = tables.grants[..at]
            .iter()
            .any(|g| g.region == grant.region && g.component == grant.component);
        if repeated || region.owner == grant.component {
            return Err(StaticError::DuplicateGrant);
        }
    }
    Ok(())
}

/// The capability `client` holds under `id`.
pub(crate) fn capability<'t>(
    tables: &Tables<'t>,
    client: ComponentId,
    id: EndpointId,
) -> Option<&'t EndpointSpec> {
    tables
        .endpoints
        .iter()
        .find(|e| e.client == client && e.id == id)
}

/// The position of region `id` in the region table.
pub(crate) fn region_index(tables: &Tables<'_>, id: LeaseId) -> Option<usize> {
    tables.regions.iter().position(|r| r.id == id)
}

fn region_spec<'t>(tables: &Tables<'t>, id: LeaseId) -> Option<&'t RegionSpec> {
    tables.regions.iter().find(|r| r.id == id)
}

/// A component's kind.
pub(crate) fn kind(tables: &Tables<'_>, component: ComponentId) -> Option<ComponentKind> {
    tables.components.get(component.index()).map(|c| c.kind)
}

impl LeaseTables for Tables<'_> {
    fn client_of(&self, server: ComponentId, badge: Badge) -> Option<ComponentId> {
        self.endpoints
            .iter()
            .find(|e| e.kind == EndpointKind::Call && e.server == server && e.badge == badge)
            .map(|e| e.client)
    }

    fn region(&self, id: LeaseId) -> Option<(usize, RegionSpec)> {
        let index = region_index(self, id)?;
        self.regions.get(index).map(|spec| (index, *spec))
    }

    fn grant(&self, region: LeaseId, component: ComponentId) -> Option<RegionGrant> {
        self.grants
            .iter()
            .find(|g| g.region == region && g.component == component)
            .copied()
    }
}
