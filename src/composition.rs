//! The compositions compiled into the host (written by `build.rs` from `manifests/`), the
//! capacities the host compiles its components with (the largest any of them needs), and the
//! loading of a manifest at run time: validated, composed, and tried as the host would build it.

use std::path::Path;

use ballast_manifest::{Manifest, ManifestError, Problem};
use ballast_system::{Capacities, Composition, Target};

mod sim {
    include!(concat!(env!("OUT_DIR"), "/sim.rs"));
}
mod sim_1tib {
    include!(concat!(env!("OUT_DIR"), "/sim_1tib.rs"));
}
mod sim_many_clients {
    include!(concat!(env!("OUT_DIR"), "/sim_many_clients.rs"));
}
mod sim_64_clients {
    include!(concat!(env!("OUT_DIR"), "/sim_64_clients.rs"));
}
mod sim_grants {
    include!(concat!(env!("OUT_DIR"), "/sim_grants.rs"));
}

/// The default image, `manifests/sim.toml`.
pub const SIM: Composition = sim::COMPOSITION;
/// `manifests/sim-1tib.toml`: a 1 TiB guest.
pub const SIM_1TIB: Composition = sim_1tib::COMPOSITION;
/// `manifests/sim-many-clients.toml`.
pub const SIM_MANY_CLIENTS: Composition = sim_many_clients::COMPOSITION;
/// `manifests/sim-64-clients.toml`: 64 driver clients (the host-concurrency tests).
pub const SIM_64_CLIENTS: Composition = sim_64_clients::COMPOSITION;
/// `manifests/sim-grants.toml`: a backend that maps grants (`tests/grant_notices.rs`).
pub const SIM_GRANTS: Composition = sim_grants::COMPOSITION;

/// What the host's gateway, memory server and runtimes are sized for. A manifest read at run
/// time runs if it fits ([`Capacities::holds`]); [`load`] names what does not.
pub const HOST: Capacities = Capacities::of(&SIM)
    .max(Capacities::of(&SIM_1TIB))
    .max(Capacities::of(&SIM_MANY_CLIENTS))
    .max(Capacities::of(&SIM_64_CLIENTS))
    .max(Capacities::of(&SIM_GRANTS));

/// The manifest at `path`, validated and composed (kept for the process's life: the runtimes
/// need it), with every error as `ballast check` prints them. A `sim` image must also fit the
/// host's capacities, and is then built as `ballast sim` builds it (the simulated domain, the
/// gateway and the memory server) and dropped: what this accepts, the simulator runs.
pub fn load(path: &Path) -> Result<&'static Composition, Vec<ManifestError>> {
    let composition = read(path)?;
    if composition.target != Target::Sim {
        return Ok(composition);
    }
    match crate::system::build(composition, None, 0) {
        Ok(_) => Ok(composition),
        Err(error) => Err(vec![ManifestError {
            file: path.to_path_buf(),
            key: String::from("(assembly)"),
            problem: Problem::Unassembled { reason: error.0 },
        }]),
    }
}

/// [`load`] without its trial build: for `ballast sim`, whose own build (with the scenario's
/// policy and seed) is the one it runs.
pub fn read(path: &Path) -> Result<&'static Composition, Vec<ManifestError>> {
    for_host(&ballast_manifest::load(path)?)
}

/// The composition of the validated `manifest`, kept for the process's life; a `sim` image must
/// fit the host's capacities. What [`load`] does before its trial build.
pub fn for_host(manifest: &Manifest) -> Result<&'static Composition, Vec<ManifestError>> {
    let composition: &'static Composition =
        Box::leak(Box::new(ballast_manifest::compose(manifest)));
    if composition.target != Target::Sim {
        return Ok(composition);
    }
    let errors = ballast_manifest::capacity_errors(manifest, composition, &HOST);
    if errors.is_empty() {
        Ok(composition)
    } else {
        Err(errors)
    }
}
