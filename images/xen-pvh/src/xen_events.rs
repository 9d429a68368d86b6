//! Xen's services as a PVH domU finds them at boot, and how the image sleeps on them: the HVM
//! parameters that place the xenstore and PV console rings (gfn and event channel each), the
//! shared info page (mapped once into a page of the image), Xen's system time from it, and
//! `SCHEDOP_poll` on the xenstore channel with a deadline. Every event channel is masked, so only
//! the polled channel (and the deadline) wakes the vCPU; nothing else reaches it as an upcall.
//!
//! This is the image's kernel side: it reads the parameters before any component exists and
//! hands each ring to the one component that owns it (as seL4's root task hands out frames), so
//! no component can read HVM parameters at all.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use ballast_xen::abi::{HYPERVISOR_MEMORY_OP, HYPERVISOR_SCHED_OP};
use ballast_xen::backend::x86_64::X86Hypercall;
use ballast_xen::backend::RawHypercall;
use ballast_xen::hvm::{
    self, shared_info, SchedPoll, XenAddToPhysmap, XenHvmParam, HVMOP_GET_PARAM, HYPERVISOR_HVM_OP,
    SCHEDOP_POLL, XENMAPSPACE_SHARED_INFO, XENMEM_ADD_TO_PHYSMAP,
};
use ballast_xen::{XenErrno, DOMID_SELF};

use crate::memory::PAGE_BYTES;
use crate::page_tables::IDENTITY_MAPPED_BYTES;

/// A ring page Xen's toolstack set up for the domain, and its event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct RingParams {
    /// The ring page's gfn.
    pub gfn: u64,
    /// Its event channel.
    pub port: u32,
}

impl RingParams {
    /// The page's address (identity-mapped), if the gfn lies in the mapped range.
    pub fn address(&self) -> Option<u64> {
        let address = self.gfn.checked_mul(PAGE_BYTES)?;
        (address != 0 && address.checked_add(PAGE_BYTES)? <= IDENTITY_MAPPED_BYTES)
            .then_some(address)
    }
}

/// The rings of a domU: both absent on a domain Xen built without a toolstack (dom0, dom0less).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, defmt::Format)]
pub struct XenRings {
    /// The xenstore ring.
    pub store: Option<RingParams>,
    /// The PV console ring.
    pub console: Option<RingParams>,
}

/// Read one HVM parameter of this domain.
fn hvm_param(hypercall: &X86Hypercall, index: u32) -> Result<u64, XenErrno> {
    let mut param = XenHvmParam {
        domid: DOMID_SELF,
        index,
        ..XenHvmParam::default()
    };
    // SAFETY: HVMOP_get_param reads and writes one `struct xen_hvm_param`, which `param` is,
    // borrowed for the call; the image is identity-mapped, so its address is its gpa.
    let raw = unsafe {
        hypercall.hypercall5(
            HYPERVISOR_HVM_OP,
            [
                HVMOP_GET_PARAM.into(),
                &mut param as *mut XenHvmParam as u64,
                0,
                0,
                0,
            ],
        )
    };
    XenErrno::check(raw).map(|_| param.value)
}

/// A ring from its two parameters: absent when Xen answers 0 or refuses either.
fn ring(hypercall: &X86Hypercall, gfn_param: u32, port_param: u32) -> Option<RingParams> {
    let gfn = hvm_param(hypercall, gfn_param).ok()?;
    let port = hvm_param(hypercall, port_param).ok()?;
    let port = u32::try_from(port).ok()?;
    (gfn != 0 && port != 0 && port < shared_info::PORTS).then_some(RingParams { gfn, port })
}

/// The domain's rings, from its HVM parameters.
pub fn rings(hypercall: &X86Hypercall) -> XenRings {
    XenRings {
        store: ring(
            hypercall,
            hvm::HVM_PARAM_STORE_PFN,
            hvm::HVM_PARAM_STORE_EVTCHN,
        ),
        console: ring(
            hypercall,
            hvm::HVM_PARAM_CONSOLE_PFN,
            hvm::HVM_PARAM_CONSOLE_EVTCHN,
        ),
    }
}

/// The page Xen's shared info is mapped over (its old frame goes back to Xen when it is).
#[repr(C, align(4096))]
struct SharedInfoPage([u8; 4096]);

/// The shared info page, once mapped.
#[derive(Clone, Copy, Debug)]
pub struct SharedInfo {
    base: *const u8,
}

impl SharedInfo {
    /// Map Xen's shared info page into the image (once), mask every event channel and clear the
    /// upcall flag, so that only a polled channel wakes the vCPU.
    pub fn map(hypercall: &X86Hypercall) -> Result<SharedInfo, XenErrno> {
        static mut PAGE: SharedInfoPage = SharedInfoPage([0; 4096]);
        let base = core::ptr::addr_of!(PAGE) as *const u8;
        let request = XenAddToPhysmap {
            domid: DOMID_SELF,
            size: 0,
            space: XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: base as u64 / PAGE_BYTES,
        };
        // SAFETY: XENMEM_add_to_physmap reads one `struct xen_add_to_physmap`, borrowed for the
        // call. It replaces the frame behind `PAGE` (a page of the image's .bss that nothing
        // else names: it is private to this function) with Xen's shared info page.
        let raw = unsafe {
            hypercall.hypercall5(
                HYPERVISOR_MEMORY_OP,
                [
                    XENMEM_ADD_TO_PHYSMAP.into(),
                    &request as *const XenAddToPhysmap as u64,
                    0,
                    0,
                    0,
                ],
            )
        };
        XenErrno::check(raw)?;
        let shared = SharedInfo { base };
        for word in 0..(shared_info::PORTS / 64) as usize {
            shared
                .word(shared_info::EVTCHN_MASK + word * 8)
                .store(u64::MAX, Ordering::SeqCst);
        }
        shared.upcall_pending().store(0, Ordering::SeqCst);
        shared
            .word(shared_info::PENDING_SEL)
            .store(0, Ordering::SeqCst);
        Ok(shared)
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: every offset passed is a u64 field of `struct shared_info` (8-aligned, inside
        // the page, `tests/c_headers.rs` checks them), the page stays mapped for the image's
        // life, and Xen updates it atomically too.
        unsafe { AtomicU64::from_ptr(self.base.add(offset) as *mut u64) }
    }

    fn upcall_pending(&self) -> &AtomicU8 {
        // SAFETY: as in `word`, for the u8 `vcpu_info[0].evtchn_upcall_pending`.
        unsafe { AtomicU8::from_ptr(self.base.add(shared_info::UPCALL_PENDING) as *mut u8) }
    }

    fn time_u32(&self, offset: usize) -> u32 {
        // SAFETY: as in `word`, for a u32 field of `vcpu_info[0].time` (4-aligned).
        unsafe {
            AtomicU32::from_ptr(self.base.add(shared_info::TIME + offset) as *mut u32)
                .load(Ordering::Acquire)
        }
    }

    fn time_u64(&self, offset: usize) -> u64 {
        self.word(shared_info::TIME + offset)
            .load(Ordering::Acquire)
    }

    /// Xen's system time now, in ns (the clock `SCHEDOP_poll` timeouts are given in).
    pub fn system_time_ns(&self) -> u64 {
        loop {
            let version = self.time_u32(shared_info::TIME_VERSION);
            let tsc_timestamp = self.time_u64(shared_info::TIME_TSC_TIMESTAMP);
            let system_time = self.time_u64(shared_info::TIME_SYSTEM_TIME);
            let mul = self.time_u32(shared_info::TIME_TSC_TO_SYSTEM_MUL);
            let shift = (self.time_u32(shared_info::TIME_TSC_SHIFT) & 0xff) as u8 as i8;
            if version & 1 == 1 || version != self.time_u32(shared_info::TIME_VERSION) {
                continue;
            }
            // SAFETY: `rdtsc` reads a counter and touches no memory.
            let tsc = unsafe { core::arch::x86_64::_rdtsc() };
            return hvm::system_time_ns(tsc, tsc_timestamp, system_time, mul, shift);
        }
    }

    /// Clear `port`'s pending bit; whether it was set.
    pub fn take_pending(&self, port: u32) -> bool {
        let word = self.word(shared_info::EVTCHN_PENDING + (port / 64) as usize * 8);
        let bit = 1u64 << (port % 64);
        word.fetch_and(!bit, Ordering::SeqCst) & bit != 0
    }
}

/// Sleep until `port` is pending or Xen's system time reaches `deadline_ns` (none: no timeout);
/// the port's pending bit is clear afterwards (whoever reads the ring next sees what it
/// announced).
pub fn poll(hypercall: &X86Hypercall, shared: &SharedInfo, port: u32, deadline_ns: Option<u64>) {
    if shared.take_pending(port) {
        return;
    }
    let ports = [port];
    let request = SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: 1,
        pad: 0,
        timeout: deadline_ns.unwrap_or(0),
    };
    // SAFETY: SCHEDOP_poll reads one `struct sched_poll` and the one-port array it points to,
    // both borrowed for the call.
    unsafe {
        hypercall.hypercall5(
            HYPERVISOR_SCHED_OP,
            [
                SCHEDOP_POLL.into(),
                &request as *const SchedPoll as u64,
                0,
                0,
                0,
            ],
        )
    };
    shared.take_pending(port);
}
