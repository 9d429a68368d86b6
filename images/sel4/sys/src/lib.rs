//! Rust bindings for the seL4 5.0 calls ballast makes, on aarch64.
//!
//! Generated at build time from the kernel tree (`BALLAST_SEL4_SOURCE`, see `build.rs`) by
//! ballast-sel4-sys-gen, so they follow whatever that tree (patched by ballast's kernel build
//! step) says: invocation labels ([`label`]), system call numbers ([`syscall_number`]), object
//! types ([`ObjectType`]) and their sizes ([`size_bits`]), errors ([`Sel4Error`]), initial CNode
//! slots ([`init_slot`]), the
//! configuration values things are sized by ([`config`]), and one method per invocation on the
//! typed capability [`Cap`] of its interface (`Cap<Untyped>::retype`, `Cap<CNode>::mint`,
//! `Cap<SmallPage>::map`, ...), which packs its parameters into message registers and extra caps
//! exactly as libsel4's generated C stubs do and returns `Result<_, Sel4Error>`.
//!
//! Hand-written: the system calls ([`sys`], `svc #0`), the IPC buffer ([`ipc_buffer`]),
//! [`MessageInfo`], the capability data types ([`CapRights`], [`CapData`], [`PrioProps`],
//! [`VmAttributes`]), [`BootInfo`], fault message labels ([`fault`]), and the IPC calls on
//! endpoints, notifications and saved reply capabilities ([`ipc`]).
//!
//! Every thread that calls into this crate has an IPC buffer: the kernel (built with
//! `CONFIG_IPC_BUF_TPIDRURW`, which the generator insists on) puts its address in TPIDR_EL0 when
//! the thread gets one (the root task at boot; any other thread by `Cap<Tcb>::configure` or
//! `set_ipc_buffer`), and nothing in a ballast protection domain writes TPIDR_EL0.

#![no_std]

#[cfg(not(target_arch = "aarch64"))]
compile_error!("ballast-sel4-sys binds seL4 for aarch64 only: build it for aarch64-unknown-none");

mod bitfields;
mod boot_info;
mod cap;
pub mod fault;
mod invocation;
pub mod ipc;
pub mod ipc_buffer;
mod message_info;
pub mod sys;

pub use bitfields::{CapData, CapDataError, CapRights, PrioProps, VmAttributes};
pub use boot_info::{BootInfo, SlotRegion, UntypedDesc};
pub use cap::{CPtr, Cap, Endpoint, Notification, Reply, VSpace};
pub use invocations::*;
pub use message_info::MessageInfo;

/// A machine word (`seL4_Word`).
pub type Word = u64;

/// Bits in a word (`seL4_WordBits`): the depth at which a CNode invocation resolves a whole CPtr.
pub const WORD_BITS: u8 = 64;

/// Invocation labels, numbered as the kernel numbers them.
pub mod label {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/labels.rs"));
}

/// System call numbers (x7 at `svc #0`).
pub mod syscall_number {
    include!(concat!(env!("OUT_DIR"), "/syscall_numbers.rs"));
}

/// The capabilities the kernel puts in the root task's CNode at fixed slots.
pub mod init_slot {
    use crate::{CPtr, Word};
    include!(concat!(env!("OUT_DIR"), "/initial_slots.rs"));
}

/// Log2 of object sizes (`PAGE_BITS`, `TCB_BITS`, ...) and the widths of badges and guards.
pub mod size_bits {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/size_bits.rs"));
}

/// The kernel configuration values the bindings are sized by.
pub mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

mod object_type {
    include!(concat!(env!("OUT_DIR"), "/object_types.rs"));
}
pub use object_type::ObjectType;

mod error {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/errors.rs"));
}
pub use error::Sel4Error;

mod structs {
    use crate::Word;
    include!(concat!(env!("OUT_DIR"), "/structs.rs"));
}
pub use structs::*;

/// The invocations, one method per `<method>` of the interface XML, on the capability type of
/// its interface; the marker types of those capability types.
mod invocations {
    use crate::{CPtr, CapData, CapRights, PrioProps, Sel4Error, UserContext, VmAttributes, Word};
    include!(concat!(env!("OUT_DIR"), "/invocations.rs"));
}
