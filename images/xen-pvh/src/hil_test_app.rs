//! The HIL test app on this image (feature `hil-test`, what `ballast hil` builds): finds the hole
//! above RAM the Xen-facts scenario populates past the maximum, and plays the scenario the command
//! line names (`scenario=balloon`, the default) with what x86-64 PVH Xen does where the platforms
//! differ.

use ballast_app_hil_test::phases;
use ballast_app_hil_test::scenario::{self, BalloonedFrame, Checks, Layout, Platform};
use ballast_frame_access::FrameRun;
use ballast_xen::Gfn;

use crate::exit::Verdict;
use crate::memory::{align_up, PAGE_BYTES, SUPERPAGE_BYTES};
use crate::start_info::StartInfo;
use crate::Booted;

/// What x86-64 PVH Xen does where the platforms differ: a ballooned gfn reads as all ones, and
/// the domain (a dom0 with `dom0_mem=...,max:...`, or a domU below its `maxmem`) already runs
/// below its maximum.
/// Measured: `docs/XEN-BEHAVIOUR.md#ballooned-read-x86`, `#dom0-maximum`.
const PLATFORM: Platform = Platform {
    ballooned_frame: BalloonedFrame::ReadsAllOnes,
    headroom_frames: 0,
};

/// Unpopulated space the Xen-facts scenario wants beyond RAM: enough to populate past a maximum
/// up to 1 GiB above the current reservation.
const HOLE_BYTES: u64 = 1 << 30;

/// Play the scenario; whether every check passed.
pub fn run(booted: Booted) -> Verdict {
    let Some(hole) = hole(&booted.info) else {
        defmt::error!("no unlisted range of {=u64} bytes above RAM", HOLE_BYTES);
        return Verdict::Fail;
    };
    let name = booted
        .info
        .command_line()
        .value("scenario")
        .unwrap_or("balloon");
    defmt::info!("scenario name={=str}", name);
    let line = booted.info.command_line();
    let phases = match scenario::phases(name).and_then(|phases| phases.with_options(line)) {
        Ok(phases) => phases,
        Err(error) => {
            defmt::error!(
                "scenario {=str}: {}; known: {=[?]}",
                name,
                error,
                scenario::SCENARIOS
            );
            return Verdict::Fail;
        }
    };
    let machine = phases::Machine {
        hypercall: booted.hypercall,
        clock: &booted.clock,
        layout: Layout {
            free: booted.managed,
            hole,
        },
        platform: PLATFORM,
    };
    // SAFETY: `managed` lies within the free RAM `memory::free_ram` found (`managed_ram` only
    // cuts it); this is the only access to it.
    let Some(ram) = (unsafe { crate::memory::app_ram(booted.managed) }) else {
        return Verdict::Fail;
    };
    let checks = Checks::default();
    if phases::play(machine, phases, ram, booted.ram_regions(), checks) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// The lowest 2 MiB-aligned range of [`HOLE_BYTES`] above all RAM that no memory-map entry
/// touches.
fn hole(info: &StartInfo) -> Option<FrameRun> {
    let ram_end = info
        .regions
        .iter()
        .filter(|region| region.is_ram())
        .map(|region| region.end)
        .max();
    let ram_end = align_up(ram_end.unwrap_or(0), SUPERPAGE_BYTES);
    let listed = |start: u64, end: u64| {
        info.regions
            .iter()
            .any(|region| region.start < end && start < region.end)
    };
    let start = core::iter::once(ram_end)
        .chain(
            info.regions
                .iter()
                .map(|region| align_up(region.end, SUPERPAGE_BYTES)),
        )
        .filter(|&start| start >= ram_end && !listed(start, start + HOLE_BYTES))
        .min()?;
    Some(FrameRun::new(
        Gfn(start / PAGE_BYTES),
        HOLE_BYTES / PAGE_BYTES,
    ))
}
