//! The seL4 protection-domain (PD) ABI of a ballast composition: the one contract between the
//! root task that builds the PDs, the seL4 runtime that runs in them, and the kernel's hypercall
//! capability (and the loader's hand-over of the guest command line to the root task). Everything is computed from a `ballast_system::Composition` (the manifest), so the
//! root task and every PD, each compiling in the same manifest, agree on it without a table copied
//! by hand.
//!
//! Per component ([`Plan`]):
//! - its CSpace ([`cspace`]): one CNode of [`cspace::CNODE_RADIX_BITS`] bits whose guard makes a
//!   64-bit capability pointer resolve to the slot number; fixed slots for its own TCB, CNode and
//!   VSpace, the fault endpoint, the endpoint it serves and its notification; then the slots for
//!   saved reply capabilities, one slot per `EndpointId` it holds (a badged endpoint capability
//!   for a call, a badged notification capability for a notify), and (gateway only) one per
//!   hypercall capability;
//! - its VSpace ([`vspace`]): the ELF at [`vspace::IMAGE_BASE`], a stack below a fixed top, the IPC
//!   buffer and boot-info page at fixed addresses, every region it shares at the same address in
//!   every PD with the rights the manifest grants, and for the memory server the window its
//!   managed RAM is mapped into;
//! - the gateway's hypercall capabilities ([`hypercall`]): badge = (hypercall << 32) | sub-op, one
//!   per Xen operation the gateway's callers are granted;
//! - faults and client death ([`faults`]): fault endpoint badges, the root task's badge on every
//!   server's endpoint and the client-died message;
//! - the boot-info page the root task writes for each PD ([`boot_info::PdBootInfo`]), and the
//!   guest command line the loader hands the root task for it ([`cmdline`]);
//! - the kernel objects the root task creates ([`objects::ObjectCounts`]).
//!
//! A PD's thread starts at its ELF's entry point with sp = [`vspace::STACK_TOP`], x0 =
//! [`vspace::BOOT_INFO`] and TPIDR_EL0 = [`vspace::IPC_BUFFER`] (seL4 5.0 sets it from the IPC
//! buffer the root task configures), its notification bound to it, at priority [`PD_PRIORITY`]
//! with no maximum controlled priority: every PD runs at the same priority, below the root task's,
//! so that a PD yielding while it waits for its timer lets every other one run, and a fault is
//! served at once.
#![no_std]
#![forbid(unsafe_code)]

pub mod boot_info;
pub mod cmdline;
pub mod cspace;
mod error;
pub mod faults;
pub mod hypercall;
pub mod objects;
mod plan;
pub mod vspace;

pub use boot_info::{BootInfoError, BootRun, PdBootInfo};
pub use cmdline::{CmdlineArea, CmdlineError};
pub use cspace::{CSpaceLayout, Slot};
pub use error::PlanError;
pub use faults::{
    endpoint_badge, ClientDied, CLIENT_DIED_LABEL, ENDPOINT_BADGE_BIT, LAST_RITES, ROOT_TASK_BADGE,
    SEL4_ABI, SERVER_DIED_LABEL,
};
pub use hypercall::{HypercallCap, XenCall};
pub use objects::ObjectCounts;
pub use plan::Plan;
pub use vspace::RegionMapping;

/// Every PD's priority: two below the root task's (seL4's highest, 255).
pub const PD_PRIORITY: u8 = 253;
/// Every PD's maximum controlled priority: the priority a PD raises itself to while it writes a
/// console line, so that no other PD runs in the middle of it (each character is a system call);
/// still below the root task's.
pub const PD_LINE_PRIORITY: u8 = PD_PRIORITY + 1;

/// The version of this ABI, written into every boot-info page; bumped on any change a PD built
/// against an older plan would misread.
pub const ABI_VERSION: u32 = 2;
