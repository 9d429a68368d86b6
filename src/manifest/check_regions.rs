//! Checks of `[regions]`: sharers exist, at least two of them, each pair talks over IPC (a lease
//! only travels with a call), and a region the memory server shares holds one batch's frame list.

use super::catalog;
use super::error::Problem;
use super::schema::{Kind, ManifestFile};
use super::validate::{report_duplicates, Link, Report};

/// Bytes of one frame-list entry (a 64-bit gfn).
pub const FRAME_ENTRY_BYTES: u64 = 8;

/// Checks the shared regions against the components and their resolved `links`.
pub fn check(spec: &ManifestFile, links: &[Link], report: &mut Report<'_>) {
    let memory_server = spec.only(Kind::MemoryServer);
    for (name, region) in &spec.regions {
        let key = format!("regions.{name}");
        if region.size == 0 {
            report.push(format!("{key}.size"), Problem::Zero);
        }
        report_duplicates(region.shared_by.iter(), &format!("{key}.shared_by"), report);
        let mut sharers: Vec<&str> = Vec::new();
        for (index, sharer) in region.shared_by.iter().enumerate() {
            if !spec.components.contains_key(sharer) {
                report.push(
                    format!("{key}.shared_by[{index}]"),
                    Problem::UnknownComponent {
                        name: sharer.clone(),
                        known: catalog::join(spec.components.keys().map(String::as_str)),
                    },
                );
            } else if !sharers.contains(&sharer.as_str()) {
                sharers.push(sharer);
            }
        }
        if region.shared_by.len() < 2 {
            report.push(format!("{key}.shared_by"), Problem::RegionNotShared);
        }
        for (index, &second) in sharers.iter().enumerate() {
            for &first in &sharers[..index] {
                if !calls_between(links, first, second) {
                    let (first, second) = (first.to_string(), second.to_string());
                    let problem = Problem::RegionPeersNeverCall { first, second };
                    report.push(format!("{key}.shared_by"), problem);
                }
            }
        }
        let needed = u64::from(spec.memory_server.batch_size) * FRAME_ENTRY_BYTES;
        let with_server = memory_server.is_some_and(|server| sharers.contains(&server));
        if with_server && region.size > 0 && region.size < needed {
            let size = region.size;
            report.push(
                format!("{key}.size"),
                Problem::RegionTooSmall { size, needed },
            );
        }
    }
}

/// Whether either component calls the other.
fn calls_between(links: &[Link], first: &str, second: &str) -> bool {
    links.iter().any(|link| {
        (link.client == first && link.server == second)
            || (link.client == second && link.server == first)
    })
}
