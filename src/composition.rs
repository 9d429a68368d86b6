//! The compositions compiled into the host (written by `build.rs` from `manifests/`), and the
//! capacities the host compiles its components with: the largest any of them needs.

use ballast_system::{Capacities, Composition};

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

/// The default image, `manifests/sim.toml`.
pub const SIM: Composition = sim::COMPOSITION;
/// `manifests/sim-1tib.toml`: a 1 TiB guest.
pub const SIM_1TIB: Composition = sim_1tib::COMPOSITION;
/// `manifests/sim-many-clients.toml`.
pub const SIM_MANY_CLIENTS: Composition = sim_many_clients::COMPOSITION;
/// `manifests/sim-64-clients.toml`: 64 driver clients (the host-concurrency tests).
pub const SIM_64_CLIENTS: Composition = sim_64_clients::COMPOSITION;

/// What the host's gateway, memory server and runtimes are sized for. A manifest read at run
/// time runs if it fits ([`Capacities::holds`]).
pub const HOST: Capacities = Capacities::of(&SIM)
    .max(Capacities::of(&SIM_1TIB))
    .max(Capacities::of(&SIM_MANY_CLIENTS))
    .max(Capacities::of(&SIM_64_CLIENTS));
