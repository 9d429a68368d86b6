//! The `ballast` library behind the CLI: the compositions compiled into the host, systems
//! assembled from them to run on the host, the simulator and the benchmarks, and the seL4
//! target's kernel build.
#![forbid(unsafe_code)]

pub mod bench;
pub mod checkout;
pub mod composition;
pub mod sel4;
pub mod sim;
pub mod spread;
pub mod system;
