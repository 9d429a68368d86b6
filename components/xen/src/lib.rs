//! The Xen interface ballast uses, typed: the `memory_op` ABI, frame numbers, runs of frames and
//! extent orders as checked types, the `Hypervisor` and `GrantTable` traits the hypercall gateway
//! calls, the shared xenstore and console rings, and (on bare-metal targets only) the real
//! hypercall backends.
#![no_std]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod abi;
pub mod frame;
pub mod grant;
pub mod hvm;
pub mod hypervisor;
pub mod mem_flags;
pub mod ring;
pub mod run;

#[cfg(target_os = "none")]
pub mod backend;

pub use abi::{MemoryOp, ReservationOp, XenMemoryReservation, DOMID_SELF};
pub use frame::{
    ExtentOrder, Gfn, Mfn, FRAMES_PER_SUPERPAGE, GFN_LIMIT, PAGE_SHIFT, PAGE_SIZE, SUPERPAGE_ORDER,
};
pub use grant::GrantTable;
pub use hypervisor::{Completed, Hypervisor, XenErrno};
pub use mem_flags::MemFlags;
pub use run::FrameRun;
