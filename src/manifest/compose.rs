//! Composition tables: the numbered, plain-data form of a validated manifest that runtimes wire
//! components from. Every id and badge is generated here, from sorted names, so the same
//! manifest always yields the same tables however its keys are ordered.

use super::schema::{Kind, MemoryLayout, ServerSizing, SimHost, Target, XenLimits};
use super::validate::Manifest;
use std::borrow::Cow;

/// A system image, numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composition {
    /// The image name.
    pub image: Cow<'static, str>,
    /// What it runs on.
    pub target: Target,
    /// Components; `components[i].id == i`, in name order.
    pub components: Cow<'static, [ComponentEntry]>,
    /// Endpoints, one per (client, server) pair; `endpoints[i].id == i`.
    pub endpoints: Cow<'static, [EndpointEntry]>,
    /// Shared regions; `regions[i].id == i`, in name order.
    pub regions: Cow<'static, [RegionEntry]>,
    /// Guest-physical layout.
    pub memory: MemoryLayout,
    /// Xen limits the gateway enforces.
    pub xen: XenLimits,
    /// Memory-server sizing and policy.
    pub memory_server: ServerSizing,
    /// The simulated host (sim images).
    pub sim: Option<SimHost>,
}

/// One component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentEntry {
    /// Its index in [`Composition::components`].
    pub id: u16,
    /// Its name.
    pub name: Cow<'static, str>,
    /// What it is.
    pub kind: Kind,
    /// Interface ids it serves, ascending.
    pub serves: Cow<'static, [u16]>,
    /// Its quota of lent frames (0: it borrows nothing).
    pub max_lent_frames: u64,
}

/// The capability of one client to call one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointEntry {
    /// Its index in [`Composition::endpoints`] (the client's `EndpointId`).
    pub id: u16,
    /// The badge the server sees: `id + 1`, unique in the image (0 stays "unbadged").
    pub badge: u32,
    /// The calling component's id.
    pub client: u16,
    /// The serving component's id.
    pub server: u16,
    /// What the client may call there, by interface id ascending.
    pub grants: Cow<'static, [Grant]>,
}

/// The ops of one interface a client may call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Interface id.
    pub interface: u16,
    /// Op ids, ascending.
    pub ops: Cow<'static, [u16]>,
}

/// One shared region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionEntry {
    /// Its index in [`Composition::regions`] (the `LeaseId`).
    pub id: u16,
    /// Its name.
    pub name: Cow<'static, str>,
    /// Size in bytes.
    pub size: u64,
    /// The id of the component that owns and fills it, and lends it in its calls.
    pub lender: u16,
    /// Ids of the components that map it (the lender included), ascending.
    pub sharers: Cow<'static, [u16]>,
    /// Ids of the sharers that may write it when it is lent to them (those the lender may call
    /// with an op taking a read-write lease), ascending.
    pub writers: Cow<'static, [u16]>,
}

impl Composition {
    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentEntry> {
        self.components
            .iter()
            .find(|component| component.name == name)
    }

    /// The endpoint whose calls carry `badge`.
    pub fn endpoint_by_badge(&self, badge: u32) -> Option<&EndpointEntry> {
        self.endpoints
            .iter()
            .find(|endpoint| endpoint.badge == badge)
    }

    /// Whether a call carrying `badge` may invoke `op` of `interface` on `server`.
    pub fn allows(&self, server: u16, badge: u32, interface: u16, op: u16) -> bool {
        self.endpoint_by_badge(badge).is_some_and(|endpoint| {
            endpoint.server == server
                && (endpoint.grants.iter())
                    .any(|grant| grant.interface == interface && grant.ops.contains(&op))
        })
    }
}

/// The composition tables of a validated manifest.
pub fn compose(manifest: &Manifest) -> Composition {
    let spec = &manifest.spec;
    let names: Vec<&str> = spec.components.keys().map(String::as_str).collect();
    let id_of = |name: &str| {
        id(names
            .iter()
            .position(|&known| known == name)
            .unwrap_or(usize::MAX))
    };
    let components = (spec.components.iter().enumerate())
        .map(|(index, (name, component))| ComponentEntry {
            id: id(index),
            name: Cow::Owned(name.clone()),
            kind: component.kind,
            serves: Cow::Owned(manifest.serves.get(name).cloned().unwrap_or_default()),
            max_lent_frames: component.max_lent_frames.unwrap_or(0),
        })
        .collect::<Vec<_>>();
    let mut endpoints: Vec<EndpointEntry> = Vec::new();
    for link in &manifest.links {
        let (client, server) = (id_of(&link.client), id_of(&link.server));
        let grant = Grant {
            interface: link.interface,
            ops: Cow::Owned(link.ops.clone()),
        };
        match endpoints.last_mut() {
            Some(last) if last.client == client && last.server == server => {
                last.grants.to_mut().push(grant);
            }
            _ => endpoints.push(EndpointEntry {
                id: id(endpoints.len()),
                badge: u32::from(id(endpoints.len())) + 1,
                client,
                server,
                grants: Cow::Owned(vec![grant]),
            }),
        }
    }
    let regions = (spec.regions.iter().enumerate())
        .map(|(index, (name, region))| {
            let lender = manifest.lenders.get(name).map_or("", String::as_str);
            let mut sharers: Vec<&str> = region.shared_by.iter().map(String::as_str).collect();
            sharers.sort_unstable();
            sharers.dedup();
            let writes = |sharer: &str| {
                (manifest.links.iter()).any(|link| {
                    link.client == lender && link.server == sharer && link.lease_writable
                })
            };
            let writers = sharers
                .iter()
                .filter(|sharer| writes(sharer))
                .map(|writer| id_of(writer));
            RegionEntry {
                id: id(index),
                name: Cow::Owned(name.clone()),
                size: region.size,
                lender: id_of(lender),
                sharers: Cow::Owned(sharers.iter().map(|sharer| id_of(sharer)).collect()),
                writers: Cow::Owned(writers.collect()),
            }
        })
        .collect::<Vec<_>>();
    Composition {
        image: Cow::Owned(spec.image.name.clone()),
        target: spec.image.target,
        components: Cow::Owned(components),
        endpoints: Cow::Owned(endpoints),
        regions: Cow::Owned(regions),
        memory: spec.memory.clone(),
        xen: spec.xen,
        memory_server: spec.memory_server,
        sim: spec.sim,
    }
}

/// A table index as an id (tables never approach `u16::MAX` entries).
fn id(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{check_text, generated::INTERFACES};
    use std::path::Path;

    fn composition(text: &str) -> Composition {
        match check_text(Path::new("test.toml"), text, INTERFACES) {
            Ok(valid) => compose(&valid),
            Err(errors) => panic!("{errors:#?}"),
        }
    }

    const IMAGE: &str = r#"
        image = { name = "t", target = "xen-pvh" }
        xen = { max_extent_order = 0, max_frames_per_call = 16 }
        memory = { ram = [{ start = 0, end = 0x100 }], unpopulated = { start = 0x100, end = 0x200 } }
        [memory_server]
        max_clients = 2
        max_lent_runs_per_client = 2
        pending_depth = 1
        pending_timeout_ms = 10
        batch_size = 16
        policy = "seed"
        [components.gw]
        kind = "hypercall-gateway"
        serves = ["Hypercall"]
        [components.ms]
        kind = "memory-server"
        serves = ["BalloonControl", "Balloon"]
        uses.Hypercall.ops = ["decrease_reservation", "populate_physmap"]
        [components.drv]
        kind = "driver-client"
        max_lent_frames = 8
        uses.BalloonControl.ops = ["stats"]
        uses.Balloon.ops = ["free_unpopulated", "alloc_unpopulated"]
    "#;

    #[test]
    fn one_endpoint_per_pair_with_a_grant_per_interface() {
        let tables = composition(IMAGE);
        let names: Vec<&str> = tables
            .components
            .iter()
            .map(|entry| entry.name.as_ref())
            .collect();
        assert_eq!(names, ["drv", "gw", "ms"]);
        let drv = &tables.endpoints[0];
        assert_eq!((drv.id, drv.badge, drv.client, drv.server), (0, 1, 0, 2));
        let grants: Vec<(u16, &[u16])> = drv
            .grants
            .iter()
            .map(|grant| (grant.interface, grant.ops.as_ref()))
            .collect();
        assert_eq!(grants, [(1, &[1, 2][..]), (2, &[2][..])]);
        let ms = &tables.endpoints[1];
        assert_eq!((ms.id, ms.badge, ms.client, ms.server), (1, 2, 2, 1));
        assert_eq!(tables.endpoints.len(), 2);
        assert_eq!(tables.components[2].serves.as_ref(), [1, 2]);
        assert_eq!(tables.components[0].max_lent_frames, 8);
        assert_eq!(tables.components[1].max_lent_frames, 0);
    }

    #[test]
    fn only_servers_of_read_write_lease_ops_may_write_a_region() {
        let region = "\n[regions.runs]\nsize = 128\nshared_by = [\"ms\", \"drv\"]\n";
        let writable = composition(&(IMAGE.to_string() + region));
        let runs = &writable.regions[0];
        assert_eq!(
            (runs.lender, runs.sharers.as_ref(), runs.writers.as_ref()),
            (0, &[0, 2][..], &[2][..])
        );
        let read_only = IMAGE.replace("max_lent_frames = 8", "").replace(
            "\"free_unpopulated\", \"alloc_unpopulated\"",
            "\"free_unpopulated\"",
        );
        let read_only = composition(&(read_only + region));
        assert!(read_only.regions[0].writers.is_empty());
    }

    #[test]
    fn emitted_source_names_every_table() {
        let tables = composition(IMAGE);
        let source = crate::manifest::composition_const("T", &tables);
        assert!(source.starts_with("/// Composition tables of manifest `t`."));
        for needle in [
            "pub const T:",
            "name: ::std::borrow::Cow::Borrowed(\"drv\")",
            "badge: 2,",
        ] {
            assert!(source.contains(needle), "{needle} missing from {source}");
        }
    }
}
