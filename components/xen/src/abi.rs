//! The ABI of the Xen calls ballast makes, from Xen's public `memory.h`, `event_channel.h`,
//! `sched.h` and `xen.h`: hypercall and command numbers, the continuation encoding, domain ids,
//! shutdown reasons and the argument structs (`struct xen_memory_reservation`,
//! `struct evtchn_send`, `struct sched_shutdown`), laid out for 64-bit guests.
//!
//! Hypercall numbers come from `xen-sys`; everything it lacks is defined here. The `c_headers`
//! integration test checks every value and offset against Debian's `libxen-dev` headers.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `__HYPERVISOR_memory_op`.
pub const HYPERVISOR_MEMORY_OP: u32 = xen_sys::__HYPERVISOR_memory_op;
/// `__HYPERVISOR_console_io`.
pub const HYPERVISOR_CONSOLE_IO: u32 = xen_sys::__HYPERVISOR_console_io;
/// `__HYPERVISOR_sched_op`.
pub const HYPERVISOR_SCHED_OP: u32 = xen_sys::__HYPERVISOR_sched_op;
/// `__HYPERVISOR_event_channel_op`.
pub const HYPERVISOR_EVENT_CHANNEL_OP: u32 = xen_sys::__HYPERVISOR_event_channel_op;
/// `EVTCHNOP_send`.
pub const EVTCHNOP_SEND: u32 = xen_sys::EVTCHNOP_send;
/// `CONSOLEIO_write`.
pub const CONSOLEIO_WRITE: u32 = xen_sys::CONSOLEIO_write;
/// `SCHEDOP_block`.
pub const SCHEDOP_BLOCK: u32 = xen_sys::SCHEDOP_block;
/// `SCHEDOP_shutdown`.
pub const SCHEDOP_SHUTDOWN: u32 = xen_sys::SCHEDOP_shutdown;
/// `SHUTDOWN_poweroff`.
pub const SHUTDOWN_POWEROFF: u32 = xen_sys::SHUTDOWN_poweroff;
/// `SHUTDOWN_reboot`.
pub const SHUTDOWN_REBOOT: u32 = xen_sys::SHUTDOWN_reboot;
/// `SHUTDOWN_suspend`: the guest comes back after a save and restore, which needs a suspend
/// record (the start info's store and console frames) ballast does not keep.
pub const SHUTDOWN_SUSPEND: u32 = xen_sys::SHUTDOWN_suspend;
/// `SHUTDOWN_crash`.
pub const SHUTDOWN_CRASH: u32 = xen_sys::SHUTDOWN_crash;

/// `XENMEM_increase_reservation`.
pub const XENMEM_INCREASE_RESERVATION: u32 = 0;
/// `XENMEM_decrease_reservation`.
pub const XENMEM_DECREASE_RESERVATION: u32 = 1;
/// `XENMEM_maximum_ram_page`.
pub const XENMEM_MAXIMUM_RAM_PAGE: u32 = 2;
/// `XENMEM_current_reservation`.
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
/// `XENMEM_maximum_reservation`.
pub const XENMEM_MAXIMUM_RESERVATION: u32 = 4;
/// `XENMEM_populate_physmap`.
pub const XENMEM_POPULATE_PHYSMAP: u32 = 6;

/// `MEMOP_EXTENT_SHIFT`: the continuation's start extent sits above this bit in the command.
pub const MEMOP_EXTENT_SHIFT: u32 = 6;
/// `MEMOP_CMD_MASK`: the bits of the command that name the operation.
pub const MEMOP_CMD_MASK: u32 = (1 << MEMOP_EXTENT_SHIFT) - 1;

/// `DOMID_SELF`: the calling domain.
pub const DOMID_SELF: u16 = 0x7FF0;
/// `DOMID_IO`.
pub const DOMID_IO: u16 = 0x7FF1;
/// `DOMID_XEN`.
pub const DOMID_XEN: u16 = 0x7FF2;

/// The `memory_op` commands ballast issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MemoryOp {
    /// Add extents to the domain; an auto-translated guest gets pages without a gfn.
    IncreaseReservation = XENMEM_INCREASE_RESERVATION,
    /// Give the listed extents back to Xen.
    DecreaseReservation = XENMEM_DECREASE_RESERVATION,
    /// The domain's page count (`tot_pages`).
    CurrentReservation = XENMEM_CURRENT_RESERVATION,
    /// The domain's page limit (`max_pages`).
    MaximumReservation = XENMEM_MAXIMUM_RESERVATION,
    /// Back the listed gfns with fresh pages.
    PopulatePhysmap = XENMEM_POPULATE_PHYSMAP,
}

impl MemoryOp {
    /// The command word for this op, continuing at extent `start` (0 for a fresh call).
    pub const fn command(self, start: u64) -> u64 {
        (self as u32 as u64) | (start << MEMOP_EXTENT_SHIFT)
    }
}

/// The three ops that take an extent list. Xen answers them with the number of extents completed
/// (a prefix of the list), never with an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReservationOp {
    /// `XENMEM_increase_reservation`.
    Increase = 0,
    /// `XENMEM_decrease_reservation`.
    Decrease = 1,
    /// `XENMEM_populate_physmap`.
    Populate = 6,
}

impl ReservationOp {
    /// The op whose command number is `raw`, if it is one of the three.
    pub const fn from_raw(raw: u32) -> Option<ReservationOp> {
        match raw {
            XENMEM_INCREASE_RESERVATION => Some(ReservationOp::Increase),
            XENMEM_DECREASE_RESERVATION => Some(ReservationOp::Decrease),
            XENMEM_POPULATE_PHYSMAP => Some(ReservationOp::Populate),
            _ => None,
        }
    }

    /// The `memory_op` command it is.
    pub const fn memory_op(self) -> MemoryOp {
        match self {
            ReservationOp::Increase => MemoryOp::IncreaseReservation,
            ReservationOp::Decrease => MemoryOp::DecreaseReservation,
            ReservationOp::Populate => MemoryOp::PopulatePhysmap,
        }
    }
}

/// `struct xen_memory_reservation` as a 64-bit guest passes it (32 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMemoryReservation {
    /// `XEN_GUEST_HANDLE(xen_pfn_t) extent_start`: address of the frame list.
    pub extent_start: u64,
    /// `xen_ulong_t nr_extents`.
    pub nr_extents: u64,
    /// `unsigned int extent_order`.
    pub extent_order: u32,
    /// `unsigned int mem_flags` (see [`crate::MemFlags`]).
    pub mem_flags: u32,
    /// `domid_t domid`.
    pub domid: u16,
    /// Tail padding of the C struct, zero.
    pub padding: [u8; 6],
}

const _: () = assert!(core::mem::size_of::<XenMemoryReservation>() == 32);

/// `evtchn_port_t`: an event channel of the calling domain. Port 0 is never bound.
pub type EventPort = u32;

/// `struct evtchn_send`: the argument of `EVTCHNOP_send`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnSend {
    /// The local port whose other end is notified.
    pub port: EventPort,
}

/// `struct sched_shutdown`: the argument of `SCHEDOP_shutdown`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedShutdown {
    /// A `SHUTDOWN_*` reason.
    pub reason: u32,
}

/// The shutdown reasons ballast may ask Xen for. Suspend ([`SHUTDOWN_SUSPEND`]) is not one: the
/// guest would resume from a suspend record ballast does not keep. Watchdog and soft reset are
/// Xen's own or the toolstack's to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ShutdownReason {
    /// Stop for good (`xl shutdown`, or the end of a test run).
    Poweroff = SHUTDOWN_POWEROFF,
    /// Ask the toolstack to restart the domain.
    Reboot = SHUTDOWN_REBOOT,
    /// Report a crash to the toolstack (`on_crash` in the domain's config decides what follows).
    Crash = SHUTDOWN_CRASH,
}

impl ShutdownReason {
    /// The reason whose `SHUTDOWN_*` number is `raw`, if ballast may use it.
    pub const fn from_raw(raw: u32) -> Option<ShutdownReason> {
        match raw {
            SHUTDOWN_POWEROFF => Some(ShutdownReason::Poweroff),
            SHUTDOWN_REBOOT => Some(ShutdownReason::Reboot),
            SHUTDOWN_CRASH => Some(ShutdownReason::Crash),
            _ => None,
        }
    }

    /// Its `SHUTDOWN_*` number.
    pub const fn raw(self) -> u32 {
        self as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_encodes_the_start_extent_above_the_command() {
        assert_eq!(MemoryOp::PopulatePhysmap.command(0), 6);
        assert_eq!(MemoryOp::DecreaseReservation.command(3), 1 | (3 << 6));
        assert_eq!(
            MemoryOp::DecreaseReservation.command(3) as u32 & MEMOP_CMD_MASK,
            1
        );
    }

    #[test]
    fn reservation_ops_round_trip_through_their_numbers() {
        for op in [
            ReservationOp::Increase,
            ReservationOp::Decrease,
            ReservationOp::Populate,
        ] {
            assert_eq!(ReservationOp::from_raw(op.memory_op() as u32), Some(op));
        }
        assert_eq!(ReservationOp::from_raw(XENMEM_CURRENT_RESERVATION), None);
    }

    #[test]
    fn only_poweroff_reboot_and_crash_are_shutdown_reasons() {
        for reason in [
            ShutdownReason::Poweroff,
            ShutdownReason::Reboot,
            ShutdownReason::Crash,
        ] {
            assert_eq!(ShutdownReason::from_raw(reason.raw()), Some(reason));
        }
        assert_eq!(ShutdownReason::Crash.raw(), 3);
        assert_eq!(ShutdownReason::from_raw(SHUTDOWN_SUSPEND), None);
        assert_eq!(ShutdownReason::from_raw(4), None);
        assert_eq!(ShutdownReason::from_raw(u32::MAX), None);
    }
}
