//! What every ballast seL4 protection domain (PD) shares. A PD binary (`images/sel4/pds/`) is a
//! `main` handed to [`pd_main!`]; this crate gives it:
//!
//! - the entry ([`entry`]): the root task starts the thread at `_start` with the stack set and the
//!   address of the PD's boot-info page in x0; the page is checked against the plan (same
//!   manifest, same ABI) before `main` runs, and a PD that returns or panics faults on purpose, so
//!   that the root task reports it dead to the servers it called;
//! - the defmt logger ([`console`]) on `seL4_DebugPutChar`, every line named after the PD;
//! - [`Sel4Pd`], the kernel trait of the seL4 IPC runtime (`ballast_ipc::sel4_rt`) over
//!   `ballast-sel4-sys`, with the PD's capabilities and regions where the plan puts them, and the
//!   clock ([`clock`]);
//! - the gateway's hypercalls through its hypercall capabilities ([`hypercall`]), and the memory
//!   server's RAM window ([`window_ram`]);
//! - the composition of `manifests/sel4-xen-arm64.toml` and the gateway and memory server built
//!   from it by the one assembly, `ballast_system` ([`system`]);
//! - with feature `hil-test`, the HIL test app's Xen-facts phase, which the memory server's PD
//!   plays through the gateway's PD before it serves ([`xen_facts`]), and the round trips that
//!   measure what the protection costs, the raw seL4 floor against ballast's generated path
//!   ([`costs`]).
#![no_std]

pub mod clock;
pub mod console;
#[cfg(feature = "hil-test")]
pub mod costs;
pub mod entry;
pub mod hypercall;
mod kernel;
mod once;
pub mod system;
pub mod window_ram;
#[cfg(feature = "hil-test")]
pub mod xen_facts;

pub use entry::Pd;
pub use kernel::Sel4Pd;
