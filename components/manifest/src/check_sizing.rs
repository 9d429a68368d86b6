//! Checks of the numbers: Xen limits, memory-server sizing and retry tunables, per-client quotas
//! (every borrower has one, no larger than the lending range), and the simulated host.

use super::error::Problem;
use super::schema::{Kind, ManifestFile, RamSource, Target};
use super::validate::{Link, Report};
use std::collections::BTreeSet;

/// Largest extent order the page model supports (a 1 GiB extent).
pub const MAX_EXTENT_ORDER: u8 = 18;

/// The IDL capability that makes a component a borrower of frames, which needs a quota.
pub const BORROW_CAPABILITY: &str = "balloon.alloc";

/// Checks the sizing sections and quotas; `links` are the resolved uses, if all resolved.
pub fn check(spec: &ManifestFile, links: Option<&[Link]>, report: &mut Report<'_>) {
    let (xen, server) = (&spec.xen, &spec.memory_server);
    if xen.max_extent_order > MAX_EXTENT_ORDER {
        let order = xen.max_extent_order;
        report.push("xen.max_extent_order", Problem::MaxOrderTooLarge { order });
    }
    let at_least_one = [
        (
            "xen.max_frames_per_call",
            u64::from(xen.max_frames_per_call),
        ),
        ("memory_server.max_clients", u64::from(server.max_clients)),
        (
            "memory_server.max_lent_runs_per_client",
            u64::from(server.max_lent_runs_per_client),
        ),
        (
            "memory_server.pending_depth",
            u64::from(server.pending_depth),
        ),
        (
            "memory_server.pending_timeout_ms",
            u64::from(server.pending_timeout_ms),
        ),
        ("memory_server.batch_size", u64::from(server.batch_size)),
        (
            "memory_server.schedule_delay_s",
            u64::from(server.schedule_delay_s),
        ),
        (
            "memory_server.mixed_chunk_blocks",
            u64::from(server.mixed_chunk_blocks),
        ),
    ];
    for (key, value) in at_least_one {
        if value == 0 {
            report.push(key, Problem::Zero);
        }
    }
    if server.batch_size > xen.max_frames_per_call && xen.max_frames_per_call > 0 {
        let (batch, limit) = (server.batch_size, xen.max_frames_per_call);
        report.push(
            "memory_server.batch_size",
            Problem::BatchOverCallLimit { batch, limit },
        );
    }
    if server.schedule_delay_s > server.max_schedule_delay_s {
        let (delay, ceiling) = (server.schedule_delay_s, server.max_schedule_delay_s);
        report.push(
            "memory_server.schedule_delay_s",
            Problem::DelayOverCeiling { delay, ceiling },
        );
    }
    if let (Some(memory_server), Some(links)) = (spec.only(Kind::MemoryServer), links) {
        check_borrowers(spec, memory_server, links, report);
    }
    if let Some(links) = links {
        check_mapper_runs(spec, links, report);
    }
    check_sim_host(spec, report);
}

/// Borrower count against `max_clients`, and a quota for each borrower within the lending range.
fn check_borrowers(
    spec: &ManifestFile,
    memory_server: &str,
    links: &[Link],
    report: &mut Report<'_>,
) {
    let borrowers: BTreeSet<&str> = (links.iter())
        .filter(|link| link.server == memory_server)
        .filter(|link| {
            link.capabilities
                .iter()
                .any(|held| held == BORROW_CAPABILITY)
        })
        .map(|link| link.client.as_str())
        .collect();
    let max = spec.memory_server.max_clients;
    if borrowers.len() > usize::from(max) && max > 0 {
        let clients = borrowers.len();
        report.push(
            "memory_server.max_clients",
            Problem::TooManyClients { clients, max },
        );
    }
    let capacity = spec.memory.unpopulated.frames();
    for (name, component) in &spec.components {
        let key = format!("components.{name}.max_lent_frames");
        let borrows = borrowers.contains(name.as_str());
        match component.max_lent_frames {
            None if borrows => report.push(key, Problem::QuotaMissing { capacity }),
            Some(_) if !borrows => report.push(key, Problem::QuotaWithoutBorrowing),
            Some(quota) if quota > capacity => {
                report.push(key, Problem::QuotaOverCapacity { quota, capacity });
            }
            _ => {}
        }
    }
}

/// The IDL capability that makes a component a grant mapper, whose loans the gateway records.
pub const GRANT_MAP_CAPABILITY: &str = "xen.grant_map";

/// The runs the memory server may lend the grant mappers (their count times the per-client run
/// limit) against the runs the gateway's loan table holds: a notice must never find it full.
fn check_mapper_runs(spec: &ManifestFile, links: &[Link], report: &mut Report<'_>) {
    let mappers = (links.iter())
        .filter(|link| (link.capabilities.iter()).any(|held| held == GRANT_MAP_CAPABILITY))
        .count();
    let runs = usize::from(spec.memory_server.max_lent_runs_per_client);
    let capacity = ballast_system::GATEWAY_LENT_RUNS;
    if mappers.saturating_mul(runs) > capacity {
        report.push(
            "memory_server.max_lent_runs_per_client",
            Problem::MapperRunsOverGateway {
                mappers,
                runs,
                capacity,
            },
        );
    }
}

/// `[sim]` exactly for sim images, with a domain that starts within its own maximum.
fn check_sim_host(spec: &ManifestFile, report: &mut Report<'_>) {
    match (spec.image.target, &spec.sim) {
        (Target::Sim, None) => report.push("sim", Problem::SimHostMissing),
        (Target::Sim, Some(host)) => {
            if spec.memory.ram_source == RamSource::BootMap {
                report.push("memory.ram_source", Problem::BootMapInSim);
            }
            let ram: u64 = spec.memory.ram.iter().map(|range| range.frames()).sum();
            if ram > host.domain_max_pages {
                let max_pages = host.domain_max_pages;
                report.push(
                    "sim.domain_max_pages",
                    Problem::DomainOverMaximum { ram, max_pages },
                );
            }
        }
        (_, Some(_)) => report.push("sim", Problem::SimHostForbidden),
        (_, None) => {}
    }
}
