//! The real hypercall backends (bare-metal targets only): the architecture supplies a raw
//! five-argument hypercall, this module builds the typed `Hypervisor` calls on top of it.
//!
//! Arguments are passed as addresses the hypervisor can resolve: the images map memory 1:1, so a
//! pointer is also the guest-physical address arm64 Xen expects.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

use crate::abi::{
    EventPort, EvtchnSend, SchedShutdown, ShutdownReason, XenMemoryReservation, CONSOLEIO_WRITE,
    DOMID_SELF, EVTCHNOP_SEND, HYPERVISOR_CONSOLE_IO, HYPERVISOR_EVENT_CHANNEL_OP,
    HYPERVISOR_MEMORY_OP, HYPERVISOR_SCHED_OP, SCHEDOP_BLOCK, SCHEDOP_SHUTDOWN,
};
use crate::grant::{
    GnttabMapGrantRef, GnttabUnmapGrantRef, GrantTable, GNTTABOP_MAP_GRANT_REF,
    GNTTABOP_UNMAP_GRANT_REF, HYPERVISOR_GRANT_TABLE_OP,
};
use crate::{Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, MemoryOp, ReservationOp, XenErrno};

/// A way to enter the hypervisor with a call number and up to five arguments.
pub trait RawHypercall {
    /// Issue hypercall `nr`.
    ///
    /// # Safety
    /// Pointer arguments must be valid for what hypercall `nr` reads and writes through them.
    unsafe fn hypercall5(&self, nr: u32, args: [u64; 5]) -> i64;
}

/// The typed Xen calls over an architecture's raw hypercall.
#[derive(Debug)]
pub struct XenHypercalls<R: RawHypercall> {
    raw: R,
}

impl<R: RawHypercall> XenHypercalls<R> {
    /// Wrap a raw hypercall entry that is known to reach Xen.
    pub const fn new(raw: R) -> Self {
        XenHypercalls { raw }
    }

    fn memory_op(&self, op: MemoryOp, arg: u64) -> i64 {
        // SAFETY: every caller passes the address of a live value of the type `op` expects
        // (`domid_t` or `xen_memory_reservation`), borrowed for the duration of the call.
        unsafe {
            self.raw
                .hypercall5(HYPERVISOR_MEMORY_OP, [op.command(0), arg, 0, 0, 0])
        }
    }

    fn reservation_query(&self, op: MemoryOp) -> Result<u64, XenErrno> {
        let domid: u16 = DOMID_SELF;
        XenErrno::check(self.memory_op(op, &domid as *const u16 as u64))
    }

    /// Block the vCPU until an event is pending for it (`SCHEDOP_block`); Xen enables event
    /// delivery first. Returns when the vCPU is woken, or at once if an event is already pending.
    pub fn block(&self) -> XenErrno {
        // SAFETY: SCHEDOP_block takes no argument and touches no guest memory.
        let raw = unsafe {
            self.raw
                .hypercall5(HYPERVISOR_SCHED_OP, [SCHEDOP_BLOCK as u64, 0, 0, 0, 0])
        };
        XenErrno(raw.unsigned_abs() as i32)
    }

    /// Shut the domain down (`SCHEDOP_shutdown`) with `reason`; returns only if Xen refuses.
    /// The exit path of the images calls this directly; the gateway calls
    /// [`Hypervisor::shutdown`], which takes only the reasons ballast may use.
    pub fn shutdown(&self, reason: u32) -> XenErrno {
        XenErrno(self.sched_shutdown(reason).unsigned_abs() as i32)
    }

    fn sched_shutdown(&self, reason: u32) -> i64 {
        let arg = SchedShutdown { reason };
        // SAFETY: SCHEDOP_shutdown reads one `struct sched_shutdown` at the pointer: `arg`, alive
        // for the call.
        unsafe {
            self.raw.hypercall5(
                HYPERVISOR_SCHED_OP,
                [
                    SCHEDOP_SHUTDOWN as u64,
                    &arg as *const SchedShutdown as u64,
                    0,
                    0,
                    0,
                ],
            )
        }
    }
}

impl<R: RawHypercall> Hypervisor for XenHypercalls<R> {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Completed {
        let mut reservation = XenMemoryReservation {
            extent_start: frames.as_mut_ptr() as u64,
            nr_extents: frames.len() as u64,
            extent_order: order.get() as u32,
            mem_flags: flags.raw(),
            domid: DOMID_SELF,
            padding: [0; 6],
        };
        let raw = self.memory_op(
            op.memory_op(),
            &mut reservation as *mut XenMemoryReservation as u64,
        );
        Completed::from_raw(raw, frames.len())
    }

    fn current_reservation(&mut self) -> Result<u64, XenErrno> {
        self.reservation_query(MemoryOp::CurrentReservation)
    }

    fn maximum_reservation(&mut self) -> Result<u64, XenErrno> {
        self.reservation_query(MemoryOp::MaximumReservation)
    }

    fn console_write(&mut self, bytes: &[u8]) -> Result<(), XenErrno> {
        // SAFETY: CONSOLEIO_write reads `len` bytes at the pointer, all inside `bytes`.
        let raw = unsafe {
            self.raw.hypercall5(
                HYPERVISOR_CONSOLE_IO,
                [
                    CONSOLEIO_WRITE as u64,
                    bytes.len() as u64,
                    bytes.as_ptr() as u64,
                    0,
                    0,
                ],
            )
        };
        XenErrno::check(raw).map(|_| ())
    }

    fn event_send(&mut self, port: EventPort) -> Result<(), XenErrno> {
        let arg = EvtchnSend { port };
        // SAFETY: EVTCHNOP_send reads one `struct evtchn_send` at the pointer: `arg`, alive for
        // the call.
        let raw = unsafe {
            self.raw.hypercall5(
                HYPERVISOR_EVENT_CHANNEL_OP,
                [
                    EVTCHNOP_SEND as u64,
                    &arg as *const EvtchnSend as u64,
                    0,
                    0,
                    0,
                ],
            )
        };
        XenErrno::check(raw).map(|_| ())
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), XenErrno> {
        XenErrno::check(self.sched_shutdown(reason.raw())).map(|_| ())
    }
}

impl<R: RawHypercall> XenHypercalls<R> {
    /// `HYPERVISOR_grant_table_op(cmd, batch, count)`.
    ///
    /// # Safety
    /// `batch` must point to `count` live entries of the struct `cmd` takes, borrowed mutably for
    /// the call (Xen writes each entry's status back).
    unsafe fn grant_table_op(&self, cmd: u32, batch: u64, count: usize) -> Result<(), XenErrno> {
        // SAFETY: the caller's contract: `batch` holds `count` entries of `cmd`'s struct.
        let raw = unsafe {
            self.raw.hypercall5(
                HYPERVISOR_GRANT_TABLE_OP,
                [cmd as u64, batch, count as u64, 0, 0],
            )
        };
        XenErrno::check(raw).map(|_| ())
    }
}

impl<R: RawHypercall> GrantTable for XenHypercalls<R> {
    fn map_grants(&mut self, batch: &mut [GnttabMapGrantRef]) -> Result<(), XenErrno> {
        let entries = batch.as_mut_ptr() as u64;
        // SAFETY: `entries` is `batch`, `batch.len()` `struct gnttab_map_grant_ref`s borrowed
        // mutably for the call.
        unsafe { self.grant_table_op(GNTTABOP_MAP_GRANT_REF, entries, batch.len()) }
    }

    fn unmap_grants(&mut self, batch: &mut [GnttabUnmapGrantRef]) -> Result<(), XenErrno> {
        let entries = batch.as_mut_ptr() as u64;
        // SAFETY: `entries` is `batch`, `batch.len()` `struct gnttab_unmap_grant_ref`s borrowed
        // mutably for the call.
        unsafe { self.grant_table_op(GNTTABOP_UNMAP_GRANT_REF, entries, batch.len()) }
    }
}
