//! Checks of `[regions]`: sharers exist, at least two of them, exactly one of them (the lender,
//! who owns and fills the region) calls each of the others (a lease only travels with a call),
//! and a region the memory server shares holds one batch's frame list.

use super::catalog;
use super::error::Problem;
use super::schema::{Kind, ManifestFile};
use super::validate::{report_duplicates, Link, Report};
use std::collections::BTreeMap;

/// Bytes of one frame-list entry (a 64-bit gfn).
pub const FRAME_ENTRY_BYTES: u64 = 8;

/// Checks the shared regions against the components and their resolved `links` (the lender
/// checks only when every link resolved); returns the lender of each region.
pub fn check(
    spec: &ManifestFile,
    links: Option<&[Link]>,
    report: &mut Report<'_>,
) -> BTreeMap<String, String> {
    let memory_server = spec.only(Kind::MemoryServer);
    let mut lenders = BTreeMap::new();
    for (name, region) in &spec.regions {
        let key = format!("regions.{name}");
        if region.size == 0 {
            report.push(format!("{key}.size"), Problem::Zero);
        } else if u32::try_from(region.size).is_err() {
            let size = region.size;
            report.push(format!("{key}.size"), Problem::RegionTooLarge { size });
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
        let lenders_found: Vec<&str> = (sharers.iter().copied())
            .filter(|&lender| {
                (sharers.iter()).all(|&peer| peer == lender || calls(links, lender, peer))
            })
            .collect();
        match lenders_found.as_slice() {
            [lender] => {
                lenders.insert(name.clone(), lender.to_string());
            }
            found if sharers.len() >= 2 && links.is_some() => {
                let found = catalog::join(found.iter().copied());
                let problem = Problem::RegionWithoutLender { found };
                report.push(format!("{key}.shared_by"), problem);
            }
            _ => {}
        }
        // A `u32` count of 8-byte entries fits in 35 bits.
        let needed = u64::from(spec.memory_server.batch_size).saturating_mul(FRAME_ENTRY_BYTES);
        let with_server = memory_server.is_some_and(|server| sharers.contains(&server));
        if with_server && region.size > 0 && region.size < needed {
            let size = region.size;
            report.push(
                format!("{key}.size"),
                Problem::RegionTooSmall { size, needed },
            );
        }
    }
    lenders
}

/// Whether `client` calls `server` (assumed when the links are incomplete).
fn calls(links: Option<&[Link]>, client: &str, server: &str) -> bool {
    links.is_none_or(|links| {
        (links.iter()).any(|link| link.client == client && link.server == server)
    })
}
