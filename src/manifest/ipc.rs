//! The composition tables in the form the IPC runtimes run from (`ballast_ipc::Tables`): the
//! lender of a region is its owner, the other sharers get grants (writable where the IDL lets
//! the lender's calls write the lease), components that serve nothing are driven from outside.

use super::compose::Composition;
use ballast_ipc::{
    Badge, ComponentId, ComponentKind, ComponentSpec, EndpointId, EndpointKind, EndpointSpec,
    LeaseId, RegionGrant, RegionSpec, Tables,
};

/// Owns the slices a [`Tables`] borrows.
#[derive(Clone, Debug)]
pub struct IpcTables<'c> {
    components: Vec<ComponentSpec<'c>>,
    endpoints: Vec<EndpointSpec>,
    regions: Vec<RegionSpec>,
    grants: Vec<RegionGrant>,
}

impl<'c> IpcTables<'c> {
    /// The IPC form of `composition`.
    pub fn new(composition: &'c Composition) -> IpcTables<'c> {
        let components = (composition.components.iter())
            .map(|component| ComponentSpec {
                name: &component.name,
                kind: if component.serves.is_empty() {
                    ComponentKind::External
                } else {
                    ComponentKind::Handler
                },
            })
            .collect();
        let endpoints = (composition.endpoints.iter())
            .map(|endpoint| EndpointSpec {
                client: ComponentId(endpoint.client),
                id: EndpointId(endpoint.id),
                server: ComponentId(endpoint.server),
                badge: Badge(endpoint.badge),
                kind: EndpointKind::Call,
            })
            .collect();
        let regions = (composition.regions.iter())
            .map(|region| RegionSpec {
                id: LeaseId(region.id),
                size: u32::try_from(region.size).unwrap_or(u32::MAX),
                owner: ComponentId(region.lender),
            })
            .collect();
        let grants = (composition.regions.iter())
            .flat_map(|region| {
                let borrowers = region
                    .sharers
                    .iter()
                    .filter(|&&sharer| sharer != region.lender);
                borrowers.map(|&sharer| RegionGrant {
                    region: LeaseId(region.id),
                    component: ComponentId(sharer),
                    writable: region.writers.contains(&sharer),
                })
            })
            .collect();
        IpcTables {
            components,
            endpoints,
            regions,
            grants,
        }
    }

    /// The tables, borrowed.
    pub fn tables(&self) -> Tables<'_> {
        Tables {
            components: &self.components,
            endpoints: &self.endpoints,
            regions: &self.regions,
            grants: &self.grants,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::generated::SIM;

    #[test]
    fn the_default_image_is_a_valid_ipc_composition() {
        let tables = IpcTables::new(&SIM);
        let checked = ballast_ipc::Composition::from_tables(&tables.tables()).expect("valid");
        let id = |name: &str| ComponentId(SIM.component(name).expect(name).id);
        assert_eq!(checked.kind(id("memory")), Some(ComponentKind::Handler));
        assert_eq!(checked.kind(id("blkback")), Some(ComponentKind::External));
        let blkback = &SIM.endpoints[0];
        assert_eq!(
            checked.client_of(ComponentId(blkback.server), Badge(blkback.badge)),
            Some(ComponentId(blkback.client))
        );
        let frame_list = SIM
            .regions
            .iter()
            .find(|region| region.name == "frame_list");
        let frame_list = LeaseId(frame_list.expect("frame_list").id);
        let gateway = checked.grant(frame_list, id("gateway")).expect("granted");
        assert!(gateway.writable);
        assert!(checked.grant(frame_list, id("blkback")).is_none());
    }
}
