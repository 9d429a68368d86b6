//! The assembly tried on a manifest that passed every other check: its composition goes through
//! `ballast_system`'s checks of the memory server (the configuration the core refuses or accepts
//! when it is built, and its wiring), for an image target through that target's memory budget,
//! and, for a target compiled with fixed capacities, through those capacities. Each refusal is reported at the key that causes it, with its fix, so that
//! whatever a manifest can say has been tried before any target builds it.

use ballast_memory_server_core::{ConfigError, MAX_BATCH_EXTENTS, MAX_REGIONS};
use ballast_system::{AssemblyError, Capacities, Capacity, Composition, ImageBudget};

use super::check_regions::FRAME_ENTRY_BYTES;
use super::error::{ManifestError, Problem};
use super::schema::Kind;
use super::validate::Manifest;

/// The problems of the memory server's assembly of `composition`, composed from `manifest`.
pub fn check(manifest: &Manifest, composition: &Composition) -> Vec<ManifestError> {
    let Err(error) = ballast_system::memory::check(composition) else {
        return budget_errors(manifest, composition);
    };
    let spec = &manifest.spec;
    let (key, problem) = match error {
        AssemblyError::Memory(ConfigError::TooManyRegions) => {
            ("memory.ram", Problem::TooManyRegions { max: MAX_REGIONS })
        }
        AssemblyError::MissingRegion => (
            "regions",
            Problem::NoFrameListRegion {
                server: spec
                    .only(Kind::MemoryServer)
                    .unwrap_or_default()
                    .to_string(),
                gateway: spec
                    .only(Kind::HypercallGateway)
                    .unwrap_or_default()
                    .to_string(),
                // A `u32` count of 8-byte entries fits in 35 bits.
                bytes: u64::from(spec.memory_server.batch_size).saturating_mul(FRAME_ENTRY_BYTES),
            },
        ),
        AssemblyError::Memory(ConfigError::BadBatchSize) => (
            "memory_server.batch_size",
            Problem::BatchOverFrameList {
                batch: spec.memory_server.batch_size,
                max: MAX_BATCH_EXTENTS,
            },
        ),
        AssemblyError::GrowthUnreachable => (
            "memory.growth",
            Problem::GrowthUnreachable {
                target: composition.target.as_str(),
            },
        ),
        other => (
            "(assembly)",
            Problem::Unassembled {
                reason: other.to_string(),
            },
        ),
    };
    vec![error_at(manifest, key, problem)]
}

/// What `composition`'s image needs beyond its target's memory budget, at the key of the larger
/// of its two parts (the bitmap, sized by `memory`, or the regions).
fn budget_errors(manifest: &Manifest, composition: &Composition) -> Vec<ManifestError> {
    let Some(budget) = ImageBudget::of(composition).filter(|budget| !budget.fits()) else {
        return Vec::new();
    };
    let key = if budget.region_bytes > budget.bitmap_bytes {
        "regions"
    } else {
        "memory"
    };
    let problem = Problem::OverImageBudget {
        target: composition.target.as_str(),
        bitmap_bytes: budget.bitmap_bytes,
        region_bytes: budget.region_bytes,
        budget: budget.budget,
        space: budget.space,
    };
    vec![error_at(manifest, key, problem)]
}

/// What `composition`, composed from `manifest`, needs beyond the capacities `held` of the
/// simulator, each at the key that asks for it.
pub fn capacity_errors(
    manifest: &Manifest,
    composition: &Composition,
    held: &Capacities,
) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    for (capacity, needed, held) in held.shortfalls(composition) {
        if capacity == Capacity::RegionBytes {
            let too_large = manifest.spec.regions.iter().filter(|(_, region)| {
                usize::try_from(region.size).map_or(true, |size| size > held)
            });
            for (name, region) in too_large {
                let problem = Problem::OverHostCapacity {
                    what: "bytes in one shared region",
                    needed: usize::try_from(region.size).unwrap_or(usize::MAX),
                    held,
                };
                errors.push(error_at(manifest, &format!("regions.{name}.size"), problem));
            }
            continue;
        }
        let (key, what) = key_of(capacity);
        // The bitmaps are sized in words; the message says bits.
        let (needed, held) = match capacity {
            Capacity::BitmapWords | Capacity::GatewayBitmapWords => {
                (needed.saturating_mul(64), held.saturating_mul(64))
            }
            _ => (needed, held),
        };
        let problem = Problem::OverHostCapacity { what, needed, held };
        errors.push(error_at(manifest, key, problem));
    }
    errors
}

/// The key that sizes `capacity`, and what the capacity counts.
fn key_of(capacity: Capacity) -> (&'static str, &'static str) {
    match capacity {
        Capacity::Components => ("components", "components"),
        Capacity::Endpoints => ("components", "endpoints (uses of one component by another)"),
        Capacity::Regions => ("regions", "shared regions"),
        Capacity::RegionBytes => ("regions", "bytes in one shared region"),
        Capacity::Clients => ("memory_server.max_clients", "client accounts"),
        Capacity::LentRuns => (
            "memory_server.max_lent_runs_per_client",
            "lent runs (max_clients x max_lent_runs_per_client)",
        ),
        Capacity::Pending => ("memory_server.pending_depth", "deferred requests"),
        Capacity::GatewayCallers => ("components", "callers of the hypercall gateway"),
        Capacity::GatewayRanges => (
            "memory.reserved",
            "ranges in the gateway's caller table (RAM and boot-extra ranges, each reserved \
             range splitting one)",
        ),
        Capacity::GatewayFrames => (
            "xen.max_frames_per_call",
            "frame-list entries per hypercall in the gateway",
        ),
        Capacity::RamRuns => ("memory.ram", "RAM ranges"),
        Capacity::BitmapWords => (
            "memory.ram",
            "bits in the memory server's storage (its populated bitmap, one bit per RAM, \
             boot-extra and lending frame with alignment slack per region, or as a chunk summary \
             two per 2 MiB of those and a pool of 576-bit blocks, whichever is smaller; one per \
             2 MiB; and 128 per reserved run)",
        ),
        Capacity::GatewayBitmapWords => (
            "memory.ram",
            "bits in the gateway's page state (one per RAM, boot-extra and growth frame)",
        ),
    }
}

fn error_at(manifest: &Manifest, key: &str, problem: Problem) -> ManifestError {
    ManifestError {
        file: manifest.file.clone(),
        key: key.to_string(),
        problem,
    }
}
