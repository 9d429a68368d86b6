//! The root task's logic, kept apart from its kernel calls so that it builds and is tested on the
//! host: the untyped memory it carves kernel objects from and what is left for the memory server
//! ([`untyped`]), its own CNode's free slots ([`slots`]), the pages of a protection domain's image
//! ([`image`]), the memory server's RAM runs ([`ram`]) and the ELF reader the build uses to turn
//! each component's ELF into those images ([`elf`]). The binary (`src/main.rs`) makes the kernel
//! calls these compute; `ballast-sel4-plan` says where everything goes.
//!
//! # What seL4 5.0 gives the root task (aarch64), in our words
//!
//! From 5.0's `create_initial_thread` and `init_kernel` (`src/kernel/boot.c`,
//! `src/arch/arm/kernel/boot.c`):
//! - It starts at its ELF's entry point at EL0, with x0 = the virtual address of the boot
//!   information frame (`seL4_BootInfo`) and TPIDR_EL0 = its IPC buffer's address; the stack
//!   pointer is not set (the root task sets its own), priority and maximum controlled priority
//!   are the highest (255).
//! - Its image is mapped at its link addresses, the IPC buffer in the page after the image and
//!   the boot information in the page after that.
//! - Its CNode (`CONFIG_ROOT_CNODE_SIZE_BITS` bits, guarded so that a 64-bit capability pointer
//!   resolves at depth 64) holds the initial capabilities at fixed slots (TCB, CNode, VSpace, IRQ
//!   control, ASID control, its ASID pool, boot-info frame, IPC buffer, domain; ballast's kernel
//!   adds the unbadged Xen hypercall capability), then its image's frame and paging capabilities,
//!   then one untyped capability per block of free RAM (naturally aligned powers of two,
//!   described in the boot information's untyped list) and device memory; the slots from
//!   `empty.start` to `empty.end` are free.
//! - Retyping an untyped puts each new object at the untyped's free offset rounded up to the
//!   object's size (`decodeUntypedInvocation`), at most `CONFIG_RETYPE_FAN_OUT_LIMIT` objects a
//!   call; new frames are zeroed.
//! - Every mapping invocation (page upper directory, directory, table, page) names the VSpace
//!   root (page global directory), which must have an ASID from an ASID pool first; a missing
//!   intermediate structure fails the mapping with `FailedLookup`.
//! - Without the MCS extensions a thread's fault endpoint is a capability pointer in its own
//!   CSpace; the kernel sends the fault through it with the capability's badge, as a call (the
//!   receiver gets a reply capability, the thread waits for the reply), and only through an
//!   endpoint capability with both send and grant rights (`sendFaultIPC`). A caller holding a
//!   capability without the grant right cannot be replied to (`sendIPC`): client capabilities
//!   carry grant too.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod elf;
mod error;
pub mod image;
pub mod ram;
pub mod slots;
pub mod untyped;

pub use error::RootError;
