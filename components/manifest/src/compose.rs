//! Composing: a validated manifest numbered into the composition every target wires its
//! components from (`ballast_system::Composition`). Every id and badge is generated here, from
//! sorted names, so the same manifest always yields the same composition however its keys are
//! ordered. The composition is `'static` data: built once per manifest read, it lives as long as
//! the process (the CLI and tests read a handful of manifests).

use ballast_ipc::{
    Badge, ComponentId, ComponentKind, ComponentSpec, EndpointId, EndpointKind, EndpointSpec,
    LeaseId, RegionGrant, RegionSpec, Tables,
};
use ballast_system::{
    Component, Composition, Endpoint, Grant, MemoryLayout, Notification, Region, Reserved,
};
use ballast_xen::FrameRun;

use super::schema::{GfnRange, MemorySection};
use super::validate::Manifest;

/// The composition of a validated manifest.
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
        .map(|(index, (name, component))| Component {
            id: id(index),
            name: leak_str(name),
            kind: component.kind,
            serves: leak(manifest.serves.get(name).cloned().unwrap_or_default()),
            max_lent_frames: component.max_lent_frames.unwrap_or(0),
        })
        .collect::<Vec<_>>();
    let mut endpoints: Vec<(Endpoint, Vec<Grant>)> = Vec::new();
    for link in &manifest.links {
        let (client, server) = (id_of(&link.client), id_of(&link.server));
        let grant_domains = leak(link.grant_domains.clone());
        let grant = Grant {
            interface: link.interface,
            ops: leak(link.ops.clone()),
        };
        match endpoints.last_mut() {
            Some((last, grants)) if last.client == client && last.server == server => {
                grants.push(grant);
                if !grant_domains.is_empty() {
                    last.grant_domains = grant_domains;
                }
            }
            _ => endpoints.push((
                Endpoint {
                    id: id(endpoints.len()),
                    // A `u16` id plus one fits a `u32` badge.
                    badge: u32::from(id(endpoints.len())).saturating_add(1),
                    client,
                    server,
                    grants: &[],
                    grant_domains,
                },
                vec![grant],
            )),
        }
    }
    let endpoints = endpoints
        .into_iter()
        .map(|(endpoint, grants)| Endpoint {
            grants: leak(grants),
            ..endpoint
        })
        .collect::<Vec<_>>();
    // Numbered after every call endpoint, in (notifier, target) name order.
    let notifications = (spec.components.iter())
        .flat_map(|(from, component)| {
            (component.notifies.iter()).map(move |(to, &bits)| (from.as_str(), to.as_str(), bits))
        })
        .enumerate()
        .map(|(index, (from, to, bits))| Notification {
            // Both count items held in memory; `id` saturates at u16::MAX anyway.
            id: id(endpoints.len().saturating_add(index)),
            from: id_of(from),
            to: id_of(to),
            bits,
        })
        .collect::<Vec<_>>();
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
            Region {
                id: id(index),
                name: leak_str(name),
                size: region.size,
                lender: id_of(lender),
                sharers: leak(sharers.iter().map(|sharer| id_of(sharer)).collect()),
                writers: leak(writers.collect()),
            }
        })
        .collect::<Vec<_>>();
    let ipc = ipc_tables(&components, &endpoints, &notifications, &regions);
    Composition {
        image: leak_str(&spec.image.name),
        target: spec.image.target,
        components: leak(components),
        endpoints: leak(endpoints),
        notifications: leak(notifications),
        regions: leak(regions),
        ipc,
        memory: layout(&spec.memory),
        xen: spec.xen,
        server: spec.memory_server,
        sim: spec.sim,
    }
}

/// The IPC runtimes' form of the same tables: a notification is a capability of kind `Notify`
/// whose badge is its bits, the lender of a region is its owner, the other sharers get grants
/// (writable where the IDL lets the lender's calls write the lease), components that serve
/// nothing are driven from outside.
fn ipc_tables(
    components: &[Component],
    endpoints: &[Endpoint],
    notifications: &[Notification],
    regions: &[Region],
) -> Tables<'static> {
    let component_specs = components
        .iter()
        .map(|component| ComponentSpec {
            name: component.name,
            kind: if component.serves.is_empty() {
                ComponentKind::External
            } else {
                ComponentKind::Handler
            },
        })
        .collect();
    let calls = endpoints.iter().map(|endpoint| EndpointSpec {
        client: ComponentId(endpoint.client),
        id: EndpointId(endpoint.id),
        server: ComponentId(endpoint.server),
        badge: Badge(endpoint.badge),
        kind: EndpointKind::Call,
    });
    let signals = notifications.iter().map(|notification| EndpointSpec {
        client: ComponentId(notification.from),
        id: EndpointId(notification.id),
        server: ComponentId(notification.to),
        badge: Badge(notification.bits),
        kind: EndpointKind::Notify,
    });
    let endpoint_specs = calls.chain(signals).collect();
    let region_specs = regions
        .iter()
        .map(|region| RegionSpec {
            id: LeaseId(region.id),
            size: u32::try_from(region.size).unwrap_or(u32::MAX),
            owner: ComponentId(region.lender),
        })
        .collect();
    let grants = regions
        .iter()
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
    Tables {
        components: leak(component_specs),
        endpoints: leak(endpoint_specs),
        regions: leak(region_specs),
        grants: leak(grants),
    }
}

/// The memory section in frames.
fn layout(memory: &MemorySection) -> MemoryLayout {
    let run = |range: &GfnRange| FrameRun::span(range.start, range.end.max(range.start));
    MemoryLayout {
        ram_source: memory.ram_source,
        ram: leak(memory.ram.iter().map(run).collect()),
        ram_ceiling: memory.ram_ceiling,
        reserved: leak(
            (memory.reserved.iter())
                .map(|reserved| Reserved {
                    name: leak_str(&reserved.name),
                    run: run(&reserved.range()),
                })
                .collect(),
        ),
        unpopulated: run(&memory.unpopulated),
        boot_extra: leak(memory.boot_extra.iter().map(run).collect()),
        growth: memory.growth.as_ref().map(run),
    }
}

/// A table index as an id (tables never approach `u16::MAX` entries).
fn id(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Vec::leak(items)
}

fn leak_str(text: &str) -> &'static str {
    String::leak(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_text, INTERFACES};
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
        [regions.frame_list]
        size = 128
        shared_by = ["ms", "gw"]
    "#;

    #[test]
    fn one_endpoint_per_pair_with_a_grant_per_interface() {
        let tables = composition(IMAGE);
        let names: Vec<&str> = tables.components.iter().map(|entry| entry.name).collect();
        assert_eq!(names, ["drv", "gw", "ms"]);
        let drv = &tables.endpoints[0];
        assert_eq!((drv.id, drv.badge, drv.client, drv.server), (0, 1, 0, 2));
        let grants: Vec<(u16, &[u16])> = drv
            .grants
            .iter()
            .map(|grant| (grant.interface, grant.ops))
            .collect();
        assert_eq!(grants, [(1, &[1, 2][..]), (2, &[2][..])]);
        let ms = &tables.endpoints[1];
        assert_eq!((ms.id, ms.badge, ms.client, ms.server), (1, 2, 2, 1));
        assert_eq!(tables.endpoints.len(), 2);
        assert_eq!(tables.components[2].serves, [1, 2]);
        assert_eq!(tables.components[0].max_lent_frames, 8);
        assert_eq!(tables.components[1].max_lent_frames, 0);
    }

    #[test]
    fn only_servers_of_read_write_lease_ops_may_write_a_region() {
        let region = "\n[regions.runs]\nsize = 128\nshared_by = [\"ms\", \"drv\"]\n";
        let writable = composition(&(IMAGE.to_string() + region));
        let runs = &writable.regions[1];
        assert_eq!(
            (runs.lender, runs.sharers, runs.writers),
            (0, &[0, 2][..], &[2][..])
        );
        let read_only = IMAGE.replace("max_lent_frames = 8", "").replace(
            "\"free_unpopulated\", \"alloc_unpopulated\"",
            "\"free_unpopulated\"",
        );
        let read_only = composition(&(read_only + region));
        assert!(read_only.regions[1].writers.is_empty());
    }

    #[test]
    fn emitted_source_names_every_table() {
        let tables = composition(IMAGE);
        let source = crate::composition_const("T", &tables, "manifests/t.toml");
        assert!(source.starts_with("// Generated by ballast-manifest from manifests/t.toml"));
        for needle in [
            "pub const T: ::ballast_system::Composition =",
            "name: \"drv\"",
            "badge: 2,",
            "policy: ::ballast_system::Policy::Seed",
        ] {
            assert!(source.contains(needle), "{needle} missing from {source}");
        }
    }

    #[test]
    fn a_notification_is_a_notify_capability_numbered_after_every_call_endpoint() {
        let control =
            "\n[components.ctl]\nkind = \"control-agent\"\nuses.BalloonControl.ops = [\"stats\"]\n";
        let plain = composition(&(IMAGE.to_string() + control));
        let text = IMAGE.to_string() + control + "notifies = { drv = 0x4 }\n";
        let tables = composition(&text);
        let id = |name: &str| tables.component(name).expect(name).id;
        let (ctl, drv) = (id("ctl"), id("drv"));
        assert_eq!(tables.endpoints, plain.endpoints, "no call endpoint moves");
        assert_eq!(tables.endpoints.len(), 3);
        let go = Notification {
            id: 3,
            from: ctl,
            to: drv,
            bits: 0x4,
        };
        assert_eq!(tables.notifications, [go]);
        assert_eq!(tables.notification(ctl, drv), Some(&go));
        assert_eq!(tables.notification(drv, ctl), None);
        assert_eq!(tables.notifications_to(drv).collect::<Vec<_>>(), [&go]);
        assert_eq!(
            tables.notify_capability(ctl, drv),
            Some((EndpointId(3), ballast_ipc::NotificationBits(0x4)))
        );
        let spec = EndpointSpec {
            client: ComponentId(ctl),
            id: EndpointId(3),
            server: ComponentId(drv),
            badge: Badge(0x4),
            kind: EndpointKind::Notify,
        };
        assert_eq!(tables.ipc.endpoints.last(), Some(&spec));
        let checked = ballast_ipc::CheckedTables::from_tables(&tables.ipc).expect("valid");
        assert_eq!(
            checked.kind(ComponentId(drv)),
            Some(ComponentKind::External)
        );
        assert_eq!(
            checked.capability(ComponentId(ctl), EndpointId(3)),
            Some(&spec)
        );
        let held: Vec<u16> = (checked.capabilities(ComponentId(ctl)).iter())
            .map(|capability| capability.id.0)
            .collect();
        assert_eq!(held, [0, 3], "its call endpoint, then its notification");
        let source = crate::composition_const("T", &tables, "manifests/t.toml");
        let emitted = "::ballast_system::Notification { id: 3, from: 0, to: 1, bits: 4, }";
        assert!(source.contains(emitted), "{emitted} missing from {source}");
    }

    #[test]
    fn the_ipc_tables_are_a_valid_ipc_composition_with_writable_grants_where_the_idl_says() {
        let region = "\n[regions.runs]\nsize = 128\nshared_by = [\"ms\", \"drv\"]\n";
        let tables = composition(&(IMAGE.to_string() + region));
        let checked = ballast_ipc::CheckedTables::from_tables(&tables.ipc).expect("valid");
        let id = |name: &str| ComponentId(tables.component(name).expect(name).id);
        assert_eq!(checked.kind(id("ms")), Some(ComponentKind::Handler));
        assert_eq!(checked.kind(id("drv")), Some(ComponentKind::External));
        let drv = &tables.endpoints[0];
        assert_eq!(
            checked.client_of(ComponentId(drv.server), Badge(drv.badge)),
            Some(ComponentId(drv.client))
        );
        let runs = checked.grant(LeaseId(1), id("ms")).expect("granted");
        assert!(runs.writable);
        assert!(checked.grant(LeaseId(1), id("gw")).is_none());
    }

    /// The real-Xen image's agent uses two interfaces: an endpoint to the memory server and one
    /// to the gateway, each with its own grant; the gateway's table holds it with exactly its
    /// `Hypercall` ops and no frames, and the capacities count three gateway callers (the memory
    /// server, the agent and the backend).
    #[test]
    fn the_xen_pvh_agent_holds_an_endpoint_per_server_and_only_its_gateway_ops() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/xen-pvh.toml");
        let tables = compose(&crate::load(&path).expect("a valid manifest"));
        let id = |name: &str| tables.component(name).expect(name).id;
        let held: Vec<(u16, u16, &[u16])> = (tables.endpoints.iter())
            .filter(|endpoint| endpoint.client == id("control"))
            .flat_map(|endpoint| {
                (endpoint.grants.iter()).map(|grant| (endpoint.server, grant.interface, grant.ops))
            })
            .collect();
        assert_eq!(
            held,
            [
                (id("gateway"), 3, &[7, 8][..]),
                (id("memory"), 2, &[1, 2, 3, 4][..])
            ]
        );
        let capacities = ballast_system::Capacities::of(&tables);
        assert_eq!((capacities.gateway_callers, capacities.endpoints), (3, 6));
        let ram = [ballast_xen::FrameRun::span(0, 0x2_0000)];
        let table = ballast_system::gateway::caller_table::<3, 6>(&tables, &ram).expect("fits");
        let badge =
            |client| ballast_system::gateway::caller_badge(&tables, client).expect("a caller");
        assert_eq!(
            ballast_system::gateway::caller_badge(&tables, id("testclient")),
            None
        );
        let (_, agent) = table.caller(badge(id("control"))).expect("a caller");
        let ops: Vec<u16> = agent.ops().iter().map(|op| *op as u16).collect();
        assert_eq!((ops.as_slice(), agent.ranges().len()), (&[7, 8][..], 0));
        let (_, memory) = table.caller(badge(id("memory"))).expect("a caller");
        assert!(
            (memory.ops().iter()).all(|op| !matches!(*op as u16, 7..=10)),
            "no agent op, no grant op"
        );
        assert!(!memory.ranges().is_empty());
    }

    /// The real-Xen image's backend holds the gateway's grant ops and the memory server the lend
    /// and return notices: the backend is a gateway caller with exactly `grant_map` and
    /// `grant_unmap`, no frames and dom0 as its one granting domain; the memory server keeps its
    /// RAM and lends from the lending range, which it does not own.
    #[test]
    fn a_driver_holding_the_grant_ops_is_a_gateway_caller_without_frames() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/xen-pvh.toml");
        let tables = compose(&crate::load(&path).expect("a valid manifest"));
        let ram = [ballast_xen::FrameRun::span(0, 0x2_0000)];
        let table = ballast_system::gateway::caller_table::<3, 6>(&tables, &ram).expect("fits");
        let id = |name: &str| tables.component(name).expect(name).id;
        let badge = |client: u16| {
            let to_gateway = tables.endpoint(client, id("gateway")).expect("an endpoint");
            Badge(to_gateway.badge)
        };
        let (_, driver) = table.caller(badge(id("backend"))).expect("a caller");
        let ops: Vec<u16> = driver.ops().iter().map(|op| *op as u16).collect();
        assert_eq!((ops.as_slice(), driver.ranges().len()), (&[9, 10][..], 0));
        assert_eq!(driver.grant_domains(), [0]);
        assert_eq!(
            ballast_system::gateway::grant_mapper_badge(&tables, id("backend")),
            Some(badge(id("backend")))
        );
        assert_eq!(
            ballast_system::gateway::grant_mapper_badge(&tables, id("control")),
            None
        );
        let (_, memory) = table.caller(badge(id("memory"))).expect("a caller");
        let ops: Vec<u16> = memory.ops().iter().map(|op| *op as u16).collect();
        assert_eq!(ops, [2, 3, 5, 6, 11, 12]);
        assert!(!memory.ranges().is_empty());
        assert_eq!(memory.lending(), [tables.memory.unpopulated]);
        assert!(!memory.owns_run(&tables.memory.unpopulated));
    }
}
