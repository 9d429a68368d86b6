//! A simulated Xen, faithful to `xen/common/memory.c` and the page allocator for what ballast
//! uses, so that everything else can be built and tested without a hypervisor. Where Xen's
//! sources, comments or issue threads and the measurements of `docs/XEN-BEHAVIOUR.md` (Xen 4.17 on
//! QEMU) disagree, the measurements win.
//!
//! # What is modelled
//!
//! - A host free pool shared by every domain (one guest's growth can starve another), kept as Xen's
//!   buddy allocator keeps it: machine frames (MFNs) in aligned blocks, freed buddies merging,
//!   allocation from the highest zone and the head of the smallest order that fits, a split block
//!   handing out its top (`docs/XEN-BEHAVIOUR.md#buddy-order`). Freed pages are not scrubbed: a
//!   page's contents stay with its frame, so an extent populated after a decrease, of any domain,
//!   sees what the freed frames held. Every domain's P2M records the frame behind each gfn
//!   ([`XenSim::machine_frame`]); boot memory lies above the pool.
//! - Domains with `tot_pages`, `max_pages`, a `memop-max-order` and a P2M recording, per gfn,
//!   whether it is populated and, per 2 MiB chunk, whether one intact superpage entry maps it.
//!   2 MiB-aligned boot RAM starts as intact superpages; removing or repopulating any 4 KiB of one
//!   shatters it; populating an aligned extent of order >= 9 makes its chunks intact again.
//! - A domain 0 ([`XenSim::create_dom0`]): id 0, named by that id or by `DOMID_SELF`, the
//!   control and hardware domain; other domains count from 1, and one naming domain 0 is refused
//!   as any foreign domain is. Extent orders are limited as Xen 4.17's `max_order()` limits them,
//!   by the caller's roles ([`extent_order_limit`]): 9 for a domU, 18 for dom0 and any control
//!   domain, never above Xen's `MAX_ORDER` of 18.
//! - The raw `memory_op` entry ([`XenSim::memory_op`]) with the argument forms Xen sees (NULL or
//!   bad pointers, a list shorter than `nr_extents`, any domid) and Xen's answers: ops 0, 1, 6
//!   return the index reached (the continuation start plus the extents completed, never an
//!   errno); ops 3 and 4 return `tot_pages` / `max_pages` or `-EFAULT`, `-ESRCH`, `-EPERM`,
//!   `-EINVAL`; op 2 returns `max_page`; anything else `-ENOSYS`.
//! - The reservation semantics: completion is a prefix; an order above the caller's maximum
//!   completes nothing; a decrease stops at the first unpopulated gfn, keeping what the failed
//!   extent had freed; populating a populated gfn maps a fresh page and leaks the old one;
//!   allocation is whole-extent or nothing and stops at `max_pages` or an empty pool;
//!   increase_reservation adds gfn-less pages and accepts a NULL list; address bits <= 12 fail
//!   the call, address bits at or below [`HostConfig::low_memory_bits`] find nothing free, nor
//!   does an extent above [`HostConfig::largest_free_order`] (17 by default, as measured); NUMA
//!   node requests follow `propagate_node` on a one-node host.
//! - Page contents as one 64-bit fill word per page ([`XenSim::write_page`],
//!   [`XenSim::read_page`]); a ballooned gfn reads as all ones.
//! - Event channels bound to a peer domain, sends counted per port (`-EINVAL` for a port not
//!   bound), and `SCHEDOP_shutdown` recorded with its reason ([`XenSim::evtchn_send`],
//!   [`XenSim::sched_shutdown`]).
//! - Grant tables: a domain grants a page to another (read-only or writable) and ends the grant;
//!   the grantee maps batches of grants into its gfns and unmaps them by handle, each entry with
//!   Xen's `GNTST_*` status ([`XenSim::map_grant_refs`], see the `grants` module).
//! - What each `memory_op` call and each page the guest scrubs costs in time ([`CostModel`]:
//!   per call, per extent of populate and decrease at order 0 and 9, per page scrubbed, and the
//!   guest's own IPC and bookkeeping around each reservation call, calibrated from `ballast hil
//!   --timings` on x86-64 and arm64), added up per domain for a driver to take
//!   ([`XenSim::take_busy_ns`]) and move its clock by.
//! - Seeded, deterministic fault injection ([`Fault`], [`HostConfig::random_fault_probability`])
//!   limited to what real Xen can do.
//! - Scale: state is per 2 MiB chunk (a byte each, plus 64 bytes for a partly populated chunk) and
//!   contents are stored only for pages ever written non-zero, so a 1 TiB guest's P2M takes about
//!   512 KiB; machine frames are kept as runs of gfns on consecutive frames and free blocks, one
//!   entry each; every operation costs per extent, per chunk and per run, never per 4 KiB.
//!
//! # What is deliberately not modelled, and why
//!
//! - Preemption and continuations created by Xen itself: the guest's hypercall page re-enters
//!   transparently, so a guest only ever sees the final answer. The continuation *field* of the
//!   command is modelled, as a caller can set it.
//! - Paging, sharing and `memory_exchange`, and PoD populates (`XENMEMF_populate_on_demand`):
//!   ballast never uses them (a PoD populate answers as on oneself: nothing done). A domain can
//!   be built on populate-on-demand ([`PodBoot`], see the `pod` module for what is modelled).
//! - Every other `memory_op` command (`exchange`, `add_to_physmap`, `maximum_gpfn`, ...): the
//!   simulator answers them `-ENOSYS`, where real Xen implements them.
//! - PV guests: every domain is auto-translated (PVH), so Xen never writes machine frame
//!   numbers back into the list, and increase_reservation ignores the list entirely.
//! - NUMA placement, claims and the background scrub of a dying domain's pages (they are free and
//!   zero at once). Machine frame numbers start at 16 MiB and are not a real host's map: address
//!   limits act through the zones, and contiguity through the blocks, which merge no further than
//!   [`HostConfig::largest_free_order`], and the [`Fault::Fragmented`] fault.
//! - XSM policies beyond the default: a domain may act on itself; a privileged (control) domain
//!   on any domain.
//! - Gfns at or beyond 2^40 (52-bit guest-physical addresses): a populate there fails without
//!   side effect (real Xen might first take the page), a decrease sees a hole.
//! - Console refusal (a non-debug Xen refuses `console_io` from a domU): output is recorded.
//! - Time for anything but Xen's `memory_op`, the guest's scrub and the guest's work around each
//!   reservation call: the control IPC (`set_target`, stats), grant and event-channel calls, a
//!   call's variation from run to run, and QEMU's first touch of host memory (a cold row of
//!   `ballast hil --timings` moves by up to 6x between runs) cost nothing.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod bitmap;
mod config;
mod contents;
mod cost;
mod counters;
mod domain;
mod error;
mod events;
mod faults;
mod frames;
mod grants;
mod host_pool;
mod hypervisor;
mod memory_op;
mod p2m;
mod pod;
mod pod_api;
mod reservation;
mod sim;
mod state;

pub use bitmap::CHUNK_FRAMES;
pub use config::{
    extent_order_limit, DomId, DomainConfig, HostConfig, CTLDOM_MAX_ORDER, DOM0_MAX_ORDER,
    DOMU_MAX_ORDER, HWDOM_MAX_ORDER, XEN_MAX_ORDER,
};
pub use cost::{CostModel, ExtentCosts, GuestCosts, PER_CALL_NS};
pub use counters::Counters;
pub use error::SimError;
pub use events::EVENT_PORTS;
pub use faults::{Fault, StandingFaults};
pub use grants::{FIRST_GRANT_REF, GRANT_ENTRIES};
pub use hypervisor::SimHypervisor;
pub use memory_op::{ExtentList, MemoryOpArg, Reservation};
pub use p2m::GFN_LIMIT;
pub use pod::{DomainCrash, PodBoot, PodCounters, PodStatus};
pub use sim::{XenSim, BALLOONED_READ};
