//! The HVM/PVH guest interfaces an image's boot path uses to find its place among Xen's
//! services: HVM parameters (where the xenstore and console rings are, and their event
//! channels), mapping the shared info page, sleeping until an event channel fires or a deadline
//! passes (`SCHEDOP_poll`), and the shared info fields it reads (event-channel pending bits,
//! Xen's system time). Layouts are checked against Debian's `libxen-dev` headers
//! (`tests/c_headers.rs`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `__HYPERVISOR_hvm_op`.
pub const HYPERVISOR_HVM_OP: u32 = xen_sys::__HYPERVISOR_hvm_op;
/// `HVMOP_get_param`: read one HVM parameter of a domain.
pub const HVMOP_GET_PARAM: u32 = 1;
/// `HVM_PARAM_STORE_PFN`: the gfn of the xenstore ring page.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN`: the event channel of the xenstore ring.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_PARAM_CONSOLE_PFN`: the gfn of the PV console ring page.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// `HVM_PARAM_CONSOLE_EVTCHN`: the event channel of the PV console ring.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;

/// `XENMEM_add_to_physmap`: place a Xen-owned page (here the shared info) at a gfn.
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
/// `XENMAPSPACE_shared_info`.
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;

/// `SCHEDOP_poll`: block until one of the listed event channels is pending or the timeout (Xen
/// system time, absolute, ns; 0 for none) passes.
pub const SCHEDOP_POLL: u32 = xen_sys::SCHEDOP_poll;

/// `struct xen_hvm_param` (`xen/hvm/hvm_op.h`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenHvmParam {
    /// The domain (`DOMID_SELF`).
    pub domid: u16,
    /// Padding the C layout has.
    pub pad: u16,
    /// `HVM_PARAM_*`.
    pub index: u32,
    /// The value, written by Xen for a get.
    pub value: u64,
}

/// `struct xen_add_to_physmap` (`xen/memory.h`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenAddToPhysmap {
    /// The domain (`DOMID_SELF`).
    pub domid: u16,
    /// Number of pages, for the gmfn-range space only.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index into the space (0: the shared info page).
    pub idx: u64,
    /// Where the page goes.
    pub gpfn: u64,
}

/// `struct sched_poll` (`xen/sched.h`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedPoll {
    /// Address of the `evtchn_port_t` array.
    pub ports: u64,
    /// Entries in it.
    pub nr_ports: u32,
    /// Padding the C layout has.
    pub pad: u32,
    /// Absolute Xen system time (ns) to wake at; 0 for none.
    pub timeout: u64,
}

/// Offsets into `struct shared_info` (x86-64, the 2-level event-channel ABI) and its
/// `vcpu_info[0]`.
pub mod shared_info {
    /// Bytes of one `struct vcpu_info`.
    pub const VCPU_INFO_BYTES: usize = 64;
    /// `vcpu_info.evtchn_upcall_pending` (u8).
    pub const UPCALL_PENDING: usize = 0;
    /// `vcpu_info.evtchn_pending_sel` (unsigned long).
    pub const PENDING_SEL: usize = 8;
    /// `vcpu_info.time` (`struct vcpu_time_info`).
    pub const TIME: usize = 32;
    /// `vcpu_time_info.version` (u32: odd while Xen updates the record).
    pub const TIME_VERSION: usize = 0;
    /// `vcpu_time_info.tsc_timestamp` (u64).
    pub const TIME_TSC_TIMESTAMP: usize = 8;
    /// `vcpu_time_info.system_time` (u64, ns).
    pub const TIME_SYSTEM_TIME: usize = 16;
    /// `vcpu_time_info.tsc_to_system_mul` (u32, 32.32 fixed point).
    pub const TIME_TSC_TO_SYSTEM_MUL: usize = 24;
    /// `vcpu_time_info.tsc_shift` (i8).
    pub const TIME_TSC_SHIFT: usize = 28;
    /// `shared_info.evtchn_pending`: one bit per port, in unsigned longs.
    pub const EVTCHN_PENDING: usize = 2048;
    /// `shared_info.evtchn_mask`.
    pub const EVTCHN_MASK: usize = 2560;
    /// Ports the 2-level ABI numbers on x86-64 (64 words of 64 bits).
    pub const PORTS: u32 = 64 * 64;
}

/// Xen's system time from a `vcpu_time_info` record read at `tsc`: the record's system time plus
/// the TSC ticks since its timestamp, scaled as Xen says (`tsc_shift`, then the 32.32 multiplier).
pub fn system_time_ns(tsc: u64, tsc_timestamp: u64, system_time: u64, mul: u32, shift: i8) -> u64 {
    let delta = tsc.wrapping_sub(tsc_timestamp);
    let delta = if shift >= 0 {
        delta << shift.unsigned_abs()
    } else {
        delta >> shift.unsigned_abs()
    };
    // A 64-bit delta times a 32-bit multiplier fits in 96 bits: the product cannot wrap.
    let scaled = u128::from(delta).wrapping_mul(u128::from(mul)) >> 32;
    system_time.wrapping_add(scaled as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_scales_the_tsc_as_xen_says() {
        // 2 GHz TSC: shift 0, multiplier 0.5 in 32.32.
        let mul = 1 << 31;
        assert_eq!(system_time_ns(3_000, 1_000, 50, mul, 0), 50 + 1_000);
        // A negative shift halves the delta first, a positive one doubles it.
        assert_eq!(system_time_ns(3_000, 1_000, 0, mul, -1), 500);
        assert_eq!(system_time_ns(3_000, 1_000, 0, mul, 1), 2_000);
    }

    #[test]
    fn layouts_have_the_c_sizes() {
        assert_eq!(core::mem::size_of::<XenHvmParam>(), 16);
        assert_eq!(core::mem::size_of::<XenAddToPhysmap>(), 24);
        assert_eq!(core::mem::size_of::<SchedPoll>(), 24);
    }
}
