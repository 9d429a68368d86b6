//! The ballast PVH image: boots on Xen as a PVH domain (dom0 under QEMU for `ballast hil`, or a
//! domU), logs through defmt to the Xen console, hosts the components of `manifests/xen-pvh.toml`
//! (the hypercall gateway over ballast's Xen backend, the memory server, a test client and a
//! control component) on the static IPC runtime, plays the scenario the command line names
//! (`scenario=balloon`, the default), and reports PASS or FAIL.
#![no_std]
#![no_main]

mod boot;
mod clock;
mod console;
mod exit;
mod hypercall;
mod logger;
mod memory;
mod memory_map;
mod page_tables;
mod start_info;

use ballast_guest::scenario::{self, BalloonedFrame, Checks, Platform};
use ballast_guest::{phases, system};
use ballast_xen::backend::x86_64::X86Hypercall;

use crate::exit::Verdict;

/// What x86-64 PVH Xen does where the platforms differ: a ballooned gfn reads as all ones, and
/// the domain (a dom0 with `dom0_mem=...,max:...`, or a domU below its `maxmem`) already runs
/// below its maximum.
/// Measured: `docs/XEN-BEHAVIOUR.md#ballooned-read-x86`, `#dom0-maximum`.
const PLATFORM: Platform = Platform {
    ballooned_frame: BalloonedFrame::ReadsAllOnes,
    headroom_frames: 0,
};

/// Called by the boot path in 64-bit mode with the physical address of `hvm_start_info`.
#[no_mangle]
extern "C" fn rust_main(start_info_paddr: u64) -> ! {
    let Ok(hypercall) = hypercall::install() else {
        exit::finish(Verdict::Fail);
    };
    logger::init(console::Console::new(hypercall));
    defmt::info!(
        "ballast-xen-pvh booted stack_bytes={=usize}",
        boot::STACK_BYTES
    );
    let verdict = run(start_info_paddr, hypercall);
    match verdict {
        Verdict::Pass => defmt::info!("RESULT PASS"),
        Verdict::Fail => defmt::error!("RESULT FAIL"),
    }
    exit::finish(verdict)
}

fn run(start_info_paddr: u64, hypercall: X86Hypercall) -> Verdict {
    let mut info = match memory::read_start_info(start_info_paddr) {
        Ok(info) => info,
        Err(error) => {
            defmt::error!(
                "start_info at {=u64:#x} unusable: {}",
                start_info_paddr,
                error
            );
            return Verdict::Fail;
        }
    };
    defmt::info!(
        "start_info paddr={=u64:#x} magic={=u32:#x} version={=u32} cmdline={=str}",
        start_info_paddr,
        info.raw.magic,
        info.raw.version,
        info.cmdline.as_str()
    );
    if info.cmdline_value("log") == Some("port_e9") {
        logger::switch_to_debug_port();
    }
    let channel = if logger::uses_debug_port() {
        "port_e9"
    } else {
        "console_io"
    };
    defmt::info!("console channel={=str}", channel);
    if !info.has_memory_map() {
        match memory_map::from_xen(&hypercall) {
            Ok(regions) => info.regions = regions,
            Err((error, detail)) => {
                defmt::error!("XENMEM_memory_map failed: {} ({=i64})", error, detail);
                return Verdict::Fail;
            }
        }
    }
    let source = if info.has_memory_map() {
        "start_info"
    } else {
        "xenmem_memory_map"
    };
    defmt::info!(
        "memmap source={=str} regions={=usize}",
        source,
        info.regions.len()
    );
    let (image_start, image_end) = memory::image_bounds();
    defmt::info!(
        "image start={=u64:#x} end={=u64:#x} boot_data_end={=u64:#x}",
        image_start,
        image_end,
        info.boot_data_end
    );
    for region in &info.regions {
        defmt::info!(
            "memmap start={=u64:#x} end={=u64:#x} type={=u32}",
            region.start,
            region.end,
            region.kind
        );
    }
    let planned = match memory::plan(&info) {
        Ok(layout) => layout,
        Err(error) => {
            defmt::error!("no room for the scenario: {}", error);
            return Verdict::Fail;
        }
    };
    let ram_ends = info
        .regions
        .iter()
        .filter(|region| region.is_ram())
        .map(|region| region.end);
    let layout = match system::fit_layout(planned, ram_ends) {
        Ok(layout) => layout,
        Err(error) => {
            defmt::error!("the boot layout does not fit the manifest: {}", error);
            return Verdict::Fail;
        }
    };
    let Some(clock) = clock::Tsc::from_xen() else {
        defmt::error!("Xen reports no TSC frequency");
        return Verdict::Fail;
    };
    defmt::info!(
        "clock source=xen_cpuid_time_leaf tsc_khz={=u64}",
        clock.khz()
    );
    let name = info.cmdline_value("scenario").unwrap_or("balloon");
    defmt::info!("scenario name={=str}", name);
    let Ok(phases) = scenario::phases(name) else {
        defmt::error!(
            "scenario {=str}: unknown; known: {=[?]}",
            name,
            scenario::SCENARIOS
        );
        return Verdict::Fail;
    };
    let ram_regions = info
        .regions
        .iter()
        .filter(|region| region.is_ram())
        .map(|region| (region.start, region.end));
    let machine = phases::Machine {
        hypercall,
        clock: &clock,
        layout,
        platform: PLATFORM,
    };
    let checks = Checks::default();
    // SAFETY: `layout.free` is the free RAM `plan` chose, cut by `fit_layout` to the part the
    // manifest lets the components manage; this is the only access to it.
    let ram = unsafe { memory::scenario_ram(layout.free) };
    if phases::play(machine, phases, ram, ram_regions, checks) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}
