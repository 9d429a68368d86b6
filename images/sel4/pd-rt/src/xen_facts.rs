//! The HIL test app's Xen-facts phase under seL4 (feature `hil-test`, what `ballast hil --kernel
//! sel4` builds): the memory server's PD plays the `balloon` scenario before it serves, through
//! the gateway's PD as the static images' phase does through their gateway: with the memory
//! server's badge and its frame-list region, every reservation a real seL4 call to the gateway,
//! which alone holds hypercall capabilities and checks each request first. The scenario works in
//! the memory server's RAM through its window, and populates past the maximum in a hole above the
//! domain's RAM that the gateway, built with the same feature, lets the memory server name
//! ([`hole`]). The memory server is built after the phase, so its books start from Xen's count as
//! the phase left it.
//!
//! Where seL4 differs from the static arm64 image: a PD that reads a ballooned frame takes the
//! data abort Xen injects as a fault, which ends it; that read is not probed ([`PLATFORM`]).

use ballast_app_hil_test::scenario::{
    self, BalloonedFrame, Checks, GatewayXen, Layout, Platform, PolicyOrder,
};
use ballast_interfaces::hypercall::HypercallClient;
use ballast_ipc::Sys;
use ballast_xen::{FrameRun, Gfn, Hypervisor};

use crate::clock::Clock;
use crate::system::{MemoryParts, COMPOSITION};
use crate::Pd;

const PAGE_BYTES: u64 = 4096;
/// Frames in a large page (2 MiB), the hole's alignment.
const LARGE_PAGE_FRAMES: u64 = 512;
/// The hole's size: 256 MiB, as on the static arm64 image.
const HOLE_FRAMES: u64 = (256 << 20) / PAGE_BYTES;
/// Where Xen 4.17 puts an arm guest's first RAM bank (GUEST_RAM0_BASE, 1 GiB), which a dom0less
/// domU's RAM fills from its start (up to 3 GiB): its RAM ends `maximum_reservation` frames on.
const GUEST_RAM_BASE: u64 = (1 << 30) / PAGE_BYTES;
/// The scenario the phase plays.
const SCENARIO: &str = "balloon";

/// Where seL4 on arm64 Xen differs, as the scenario checks it: reading a ballooned frame is not
/// tried (the abort Xen injects would end the reading PD), and a dom0less domU boots at its
/// maximum, so the scenario first gives back 8 MiB, as on the static arm64 image.
pub const PLATFORM: Platform = Platform {
    ballooned_frame: BalloonedFrame::NotProbed,
    headroom_frames: (8 << 20) / PAGE_BYTES,
};

/// The hole the scenario populates past the maximum: 256 MiB from the end of the domain's RAM,
/// 2 MiB aligned, for a domain of `maximum` pages (a dom0less domU's RAM is one bank at
/// [`GUEST_RAM_BASE`], of its maximum); `None` if it would reach the lending range or the RAM
/// ceiling. The memory server's PD and the gateway's each ask Xen for the maximum (the one
/// through the other), so both find the same hole.
pub fn hole(maximum: u64) -> Option<FrameRun> {
    let ram_end = GUEST_RAM_BASE.checked_add(maximum)?;
    let hole = FrameRun::checked(
        Gfn(ram_end.next_multiple_of(LARGE_PAGE_FRAMES)),
        HOLE_FRAMES,
    )?;
    let memory = &COMPOSITION.memory;
    let below_ceiling = memory
        .ram_ceiling
        .is_none_or(|ceiling| hole.end() <= ceiling);
    (below_ceiling && !hole.overlaps(&memory.unpopulated)).then_some(hole)
}

/// Play the phase from the memory server's PD before it serves, over `sys` (its runtime, not
/// serving yet), in the RAM of `parts` through their window, and log the tally; whether every
/// check passed. A phase that cannot be set up fails a check (`xen_facts_ran`), so that the host
/// sees it.
pub fn play(pd: &Pd, parts: &mut MemoryParts, sys: &mut dyn Sys) -> bool {
    let mut checks = Checks::default();
    let ran = match phase(parts, sys) {
        Ok(phase) => {
            checks.absorb(&phase);
            true
        }
        Err(why) => {
            defmt::error!("pd={=str} xen_facts not run: {=str}", pd.name, why);
            false
        }
    };
    checks.context = "xen_facts";
    checks.expect("xen_facts_ran", ran);
    checks.report()
}

/// The phase's checks, or why it could not be set up.
fn phase(parts: &mut MemoryParts, sys: &mut dyn Sys) -> Result<Checks, &'static str> {
    let (endpoint, frame_list) = ballast_system::memory::gateway_link(&COMPOSITION)
        .map_err(|_| "the composition links the memory server to no gateway")?;
    let free = (parts.ram().iter().copied())
        .max_by_key(|run| run.frames)
        .ok_or("the boot-info page names no RAM")?;
    let max_order = COMPOSITION.xen.max_extent_order;
    let mut xen = GatewayXen::new(sys, HypercallClient::new(endpoint), frame_list, max_order);
    let maximum = xen
        .maximum_reservation()
        .map_err(|_| "the gateway answered no maximum_reservation")?;
    let hole = hole(maximum).ok_or("no hole above RAM below the lending range")?;
    let layout = Layout { free, hole };
    defmt::info!(
        "layout free_first={=u64:#x} free_frames={=u64} hole_first={=u64:#x} hole_frames={=u64}",
        layout.free.start(),
        layout.free.frames,
        layout.hole.start(),
        layout.hole.frames
    );
    let window = parts
        .window()
        .ok_or("the RAM window is the memory server's already")?;
    let clock = Clock::new();
    let played = scenario::through_gateway(
        SCENARIO,
        &mut xen,
        window,
        &clock,
        (layout, PLATFORM, PolicyOrder::BallastFirst),
    )
    .map_err(|_| "the HIL test app has no such scenario")?;
    Ok(played)
}
