//! Checks of `[components]`: interfaces and ops exist in the IDL, every use has exactly one
//! server, one gateway and one memory server, and no ring of calls. Resolves names to ids.

use super::catalog::{self, InterfaceSpec, LeaseAccess};
use super::error::Problem;
use super::schema::{ComponentSection, Kind, ManifestFile, UseSection};
use super::validate::{report_duplicates, Link, Report};
use ballast_ipc::call_graph::{CycleFinder, Visit};
use std::collections::BTreeMap;

/// Checks the components and returns the resolved links and served interface ids.
pub fn check(
    spec: &ManifestFile,
    catalog: &[InterfaceSpec],
    report: &mut Report<'_>,
) -> (Vec<Link>, BTreeMap<String, Vec<u16>>) {
    let (serves, served_by) = resolve_serves(spec, catalog, report);
    for kind in [Kind::HypercallGateway, Kind::MemoryServer] {
        if spec.only(kind).is_none() {
            let found = catalog::join(spec.components_of(kind).into_iter());
            let kind = kind.as_str();
            report.push("components", Problem::NotExactlyOne { kind, found });
        }
    }
    let mut links = Vec::new();
    for (client, component) in &spec.components {
        links.extend(resolve_uses(
            spec, client, component, catalog, &served_by, report,
        ));
    }
    links.sort();
    report_cycles(spec, &links, report);
    report_grants_without_notices(spec, &links, report);
    if let (Some(server), Some(gateway)) = (
        spec.only(Kind::MemoryServer),
        spec.only(Kind::HypercallGateway),
    ) {
        if !links
            .iter()
            .any(|link| link.client == server && link.server == gateway)
        {
            let gateway = gateway.to_string();
            report.push(
                format!("components.{server}.uses"),
                Problem::ServerWithoutGateway { gateway },
            );
        }
    }
    (links, serves)
}

/// Whether `capability` is one of the gateway's lend and return notices: what the gateway believes
/// a driver borrowed, so the memory server's alone.
fn is_loan_notice(capability: &str) -> bool {
    matches!(capability, "xen.lend_notice" | "xen.return_notice")
}

/// Interface ids served per component, and the servers of each interface name.
type Served<'a> = (BTreeMap<String, Vec<u16>>, BTreeMap<&'a str, Vec<&'a str>>);

fn resolve_serves<'a>(
    spec: &'a ManifestFile,
    catalog: &[InterfaceSpec],
    report: &mut Report<'_>,
) -> Served<'a> {
    let mut serves = BTreeMap::new();
    let mut served_by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, component) in &spec.components {
        let key = format!("components.{name}.serves");
        report_duplicates(component.serves.iter(), &key, report);
        let mut ids = Vec::new();
        for (index, interface) in component.serves.iter().enumerate() {
            match catalog::interface(catalog, interface) {
                Some(found) => {
                    ids.push(found.id);
                    let servers = served_by.entry(interface.as_str()).or_default();
                    if !servers.contains(&name.as_str()) {
                        servers.push(name);
                    }
                }
                None => report.push(
                    format!("{key}[{index}]"),
                    unknown_interface(interface, catalog),
                ),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        serves.insert(name.clone(), ids);
    }
    (serves, served_by)
}

/// Resolves the `uses` entries of one component, reporting what does not resolve.
fn resolve_uses(
    spec: &ManifestFile,
    client: &str,
    component: &ComponentSection,
    catalog: &[InterfaceSpec],
    served_by: &BTreeMap<&str, Vec<&str>>,
    report: &mut Report<'_>,
) -> Vec<Link> {
    let mut links = Vec::new();
    for (name, used) in &component.uses {
        let key = format!("components.{client}.uses.{name}");
        let Some(interface) = catalog::interface(catalog, name) else {
            report.push(key, unknown_interface(name, catalog));
            continue;
        };
        let servers = served_by.get(name.as_str()).map_or(&[][..], Vec::as_slice);
        let server = match (&used.server, servers) {
            (Some(server), _) if !spec.components.contains_key(server) => {
                let known = catalog::join(spec.components.keys().map(String::as_str));
                let name = server.clone();
                report.push(
                    format!("{key}.server"),
                    Problem::UnknownComponent { name, known },
                );
                None
            }
            (Some(server), _) if !servers.contains(&server.as_str()) => {
                report.push(
                    format!("{key}.server"),
                    Problem::NotServedBy {
                        interface: name.clone(),
                        server: server.clone(),
                        servers: catalog::join(servers.iter().copied()),
                    },
                );
                None
            }
            (Some(server), _) => Some(server.as_str()),
            (None, [only]) => Some(*only),
            (None, []) => {
                report.push(
                    key.clone(),
                    Problem::NobodyServes {
                        interface: name.clone(),
                    },
                );
                None
            }
            (None, several) => {
                let servers = catalog::join(several.iter().copied());
                let interface = name.clone();
                report.push(key.clone(), Problem::AmbiguousServer { interface, servers });
                None
            }
        };
        report_duplicates(used.ops.iter(), &format!("{key}.ops"), report);
        let (mut ops, mut capabilities, mut lease_writable) = (Vec::new(), Vec::new(), false);
        for (index, op) in used.ops.iter().enumerate() {
            match interface.op(op) {
                Some(found)
                    if is_loan_notice(&found.capability)
                        && component.kind != Kind::MemoryServer =>
                {
                    report.push(
                        format!("{key}.ops[{index}]"),
                        Problem::NoticeNotFromMemoryServer { op: op.clone() },
                    );
                }
                Some(found) => {
                    ops.push(found.id);
                    capabilities.push(found.capability.to_string());
                    lease_writable |= found.lease == LeaseAccess::ReadWrite;
                }
                None => report.push(
                    format!("{key}.ops[{index}]"),
                    Problem::UnknownOp {
                        interface: name.clone(),
                        op: op.clone(),
                        known: interface.op_names(),
                    },
                ),
            }
        }
        ops.sort_unstable();
        ops.dedup();
        capabilities.sort_unstable();
        capabilities.dedup();
        let grant_domains = check_grant_domains(&key, used, &capabilities, report);
        if let Some(server) = server {
            links.push(Link {
                client: client.to_string(),
                server: server.to_string(),
                interface: interface.id,
                interface_name: name.clone(),
                ops,
                capabilities,
                lease_writable,
                grant_domains,
            });
        }
    }
    links
}

/// The capability of the gateway's grant-map op.
const GRANT_MAP: &str = "xen.grant_map";

/// Checks `grant_domains` of the use at `key`, whose ops need `capabilities`: given exactly when
/// the use holds `grant_map`, each a real domain (below Xen's reserved ids), each once. Returns
/// them sorted.
fn check_grant_domains(
    key: &str,
    used: &UseSection,
    capabilities: &[String],
    report: &mut Report<'_>,
) -> Vec<u16> {
    let maps = capabilities
        .iter()
        .any(|capability| capability == GRANT_MAP);
    let Some(domains) = &used.grant_domains else {
        if maps {
            report.push(format!("{key}.ops"), Problem::GrantMapWithoutDomains);
        }
        return Vec::new();
    };
    if !maps {
        report.push(
            format!("{key}.grant_domains"),
            Problem::DomainsWithoutGrantMap,
        );
        return Vec::new();
    }
    if domains.is_empty() {
        report.push(
            format!("{key}.grant_domains"),
            Problem::GrantMapWithoutDomains,
        );
    }
    let mut seen = Vec::new();
    for (index, &domid) in domains.iter().enumerate() {
        let at = format!("{key}.grant_domains[{index}]");
        if domid >= ballast_xen::DOMID_SELF {
            report.push(at, Problem::ReservedDomain { domid });
        } else if seen.contains(&domid) {
            let name = domid.to_string();
            report.push(at, Problem::Duplicate { name });
        } else {
            seen.push(domid);
        }
    }
    seen.sort_unstable();
    seen
}

/// Reports a component that maps grants while the memory server does not tell the gateway what it
/// lends: every map would be refused.
fn report_grants_without_notices(spec: &ManifestFile, links: &[Link], report: &mut Report<'_>) {
    let (Some(server), Some(gateway)) = (
        spec.only(Kind::MemoryServer),
        spec.only(Kind::HypercallGateway),
    ) else {
        return;
    };
    let mapper = (links.iter()).find(|link| {
        link.capabilities
            .iter()
            .any(|capability| capability == GRANT_MAP)
    });
    let Some(mapper) = mapper else {
        return;
    };
    let notices = ["xen.lend_notice", "xen.return_notice"];
    let server_link = (links.iter()).find(|link| link.client == server && link.server == gateway);
    let holds = |capability: &str| {
        server_link.is_some_and(|link| link.capabilities.iter().any(|held| held == capability))
    };
    if !notices.iter().all(|notice| holds(notice)) {
        report.push(
            format!("components.{server}.uses.Hypercall.ops"),
            Problem::GrantsWithoutNotices {
                mapper: mapper.client.clone(),
            },
        );
    }
}

fn unknown_interface(name: &str, catalog: &[InterfaceSpec]) -> Problem {
    Problem::UnknownInterface {
        name: name.to_string(),
        known: catalog::interface_names(catalog),
    }
}

/// Reports each ring of calls once, at the `uses` entry that closes it.
fn report_cycles(spec: &ManifestFile, links: &[Link], report: &mut Report<'_>) {
    let names: Vec<&str> = spec.components.keys().map(String::as_str).collect();
    let index = |name: &str| names.binary_search(&name).unwrap_or(usize::MAX);
    let calls = (links.iter()).map(|link| (index(&link.client), index(&link.server)));
    let mut visits = vec![Visit::NEW; names.len()];
    let mut finder = CycleFinder::new(calls, &mut visits);
    while let Some(cycle) = finder.next_cycle() {
        let link = &links[cycle.closing_edge()];
        let mut ring: Vec<&str> = cycle.components().map(|c| names[c]).collect();
        ring.push(&link.server);
        let cycle = ring.join(" -> ");
        report.push(
            format!("components.{}.uses.{}", link.client, link.interface_name),
            Problem::CallCycle { cycle },
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::{check_text, Problem, INTERFACES};
    use std::path::Path;

    #[test]
    fn a_ring_of_three_is_reported_once() {
        let text = r#"
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
            [components.a]
            kind = "hypercall-gateway"
            serves = ["Hypercall"]
            uses.Echo.ops = ["echo"]
            [components.b]
            kind = "memory-server"
            serves = ["Balloon"]
            uses.Hypercall.ops = ["decrease_reservation", "populate_physmap"]
            [components.c]
            kind = "driver-client"
            serves = ["Echo"]
            max_lent_frames = 1
            uses.Balloon.ops = ["alloc_unpopulated"]
        "#;
        let errors = check_text(Path::new("t.toml"), text, INTERFACES).expect_err("a ring");
        let cycles: Vec<_> = (errors.iter())
            .filter_map(|error| match &error.problem {
                Problem::CallCycle { cycle } => Some((error.key.as_str(), cycle.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            cycles,
            [("components.b.uses.Hypercall", "a -> c -> b -> a")]
        );
    }
}
