//! The ballast arm64 image: boots on Xen as a dom0less domU, logs through defmt to the Xen
//! console, reads its RAM and command line from the device tree Xen built for it, turns on its
//! MMU with an identity map of that RAM, runs the Xen-facts scenario the command line names (`scenario=balloon`,
//! the default) through ballast's Xen backend, and reports PASS or FAIL.
#![no_std]
#![no_main]

mod boot;
mod clock;
mod console;
mod device_tree;
mod exit;
mod logger;
mod memory;
mod mmu;
mod scenario;
mod vectors;

use core::arch::asm;

use ballast_xen::backend::aarch64::Arm64Hypercall;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::Hypervisor;

use crate::device_tree::Bank;
use crate::exit::Verdict;
use crate::scenario::Checks;

const PAGE_BYTES: u64 = 4096;
/// The scenarios `scenario=` accepts: `fault` reads an address the MMU does not map, to show a
/// fault reported on the console and ending the run.
const SCENARIOS: &[&str] = &["balloon", "fault"];

/// Called by the boot path with the guest-physical address of the device tree.
#[no_mangle]
extern "C" fn rust_main(device_tree: u64) -> ! {
    // SAFETY: Xen booted this image as a domain (the Image header is only meaningful to Xen's
    // loader here), and the image maps memory 1:1.
    let hypercall = unsafe { Arm64Hypercall::new() };
    logger::init(console::Console::new(hypercall));
    let level: u64;
    // SAFETY: reads a system register; no memory is touched.
    unsafe { asm!("mrs {}, CurrentEL", out(reg) level, options(nomem, nostack)) };
    defmt::info!(
        "ballast-xen-arm64 booted el={=u64} device_tree={=u64:#x} stack_bytes={=usize}",
        level >> 2,
        device_tree,
        boot::STACK_BYTES
    );
    let verdict = run(device_tree, hypercall);
    match verdict {
        Verdict::Pass => defmt::info!("RESULT PASS"),
        Verdict::Fail => defmt::error!("RESULT FAIL"),
    }
    exit::finish(verdict)
}

fn run(device_tree: u64, hypercall: Arm64Hypercall) -> Verdict {
    // SAFETY: Xen passed the tree's address in x0; it lies in RAM the identity map covers, and
    // nothing writes it.
    let info = match unsafe { device_tree::read(device_tree) } {
        Ok(info) => info,
        Err(error) => {
            defmt::error!("device tree at {=u64:#x} unusable: {}", device_tree, error);
            return Verdict::Fail;
        }
    };
    defmt::info!(
        "device_tree start={=u64:#x} end={=u64:#x} xen_node={=bool} cmdline={=str}",
        info.tree.start,
        info.tree.end,
        info.xen_node,
        info.cmdline.as_str()
    );
    for bank in &info.banks {
        defmt::info!("memory start={=u64:#x} end={=u64:#x}", bank.start, bank.end);
    }
    let pa_range = mmu::enable(&info.banks);
    defmt::info!(
        "mmu on identity_map ram=normal_write_back elsewhere=device pa_range={=u64}",
        pa_range
    );
    let image = memory::image_bounds();
    defmt::info!(
        "image start={=u64:#x} end={=u64:#x}",
        image.start,
        image.end
    );
    let taken: [Bank; 2] = [image, info.tree];
    let layout = match memory::plan(&info.banks, &taken) {
        Ok(layout) => layout,
        Err(error) => {
            defmt::error!("no room for the scenario: {}", error);
            return Verdict::Fail;
        }
    };
    defmt::info!(
        "layout free_first={=u64:#x} free_frames={=u64} hole_first={=u64:#x} hole_frames={=u64}",
        layout.free.first,
        layout.free.frames,
        layout.hole.first,
        layout.hole.frames
    );
    let Some(clock) = clock::GenericTimer::new() else {
        defmt::error!("CNTFRQ_EL0 reads 0: no counter frequency");
        return Verdict::Fail;
    };
    defmt::info!("clock source=cntvct_el0 hz={=u64}", clock.hz());
    let name = info.cmdline_value("scenario").unwrap_or("balloon");
    defmt::info!("scenario name={=str}", name);
    if !SCENARIOS.contains(&name) {
        defmt::error!("scenario {=str}: unknown; known: {=[?]}", name, SCENARIOS);
        return Verdict::Fail;
    }
    if name == "fault" {
        defmt::info!("reading unmapped address={=u64:#x}", mmu::UNMAPPED);
        // SAFETY: the read faults (the address is outside every table entry), and the vector
        // table ends the run; nothing is read or written.
        let word = unsafe { (mmu::UNMAPPED as *const u64).read_volatile() };
        defmt::error!("unmapped address read as {=u64:#x}", word);
        return Verdict::Fail;
    }
    let mut xen = XenHypercalls::new(hypercall);
    let mut checks = Checks::default();
    checks.context = "boot";
    let ram_frames: u64 = info
        .banks
        .iter()
        .map(|bank| (bank.end - bank.start) / PAGE_BYTES)
        .sum();
    let current = xen.current_reservation().unwrap_or(0);
    defmt::info!(
        "boot device_tree_ram_frames={=u64} current_reservation={=u64}",
        ram_frames,
        current
    );
    checks.expect_eq("device_tree_ram_is_the_reservation", ram_frames, current);
    let mut ram = memory::ScenarioRam::new(&layout);
    let scenario = scenario::run(&mut xen, &mut ram, &clock, layout);
    checks.absorb(&scenario);
    defmt::info!(
        "checks passed={=u32} failed={=u32}",
        checks.passed(),
        checks.failed()
    );
    if checks.all_passed() {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}
