//! The whole system, built in the order the PD ABI needs: every PD's objects, then their CSpaces
//! (a client's capability is minted from its server's endpoint), images, stacks and IPC buffers,
//! the shared regions, the memory server's RAM window, the boot-info pages (which name that RAM
//! and carry the guest command line), and last the threads, configured, then started together.
//!
//! The memory server's RAM is what is left of the untyped memory once every other object is
//! made, in whole large pages below the manifest's RAM limit: retyped into large-page frames and
//! mapped into the memory server's window before any PD runs, so no frame is ever retyped (and
//! so zeroed by the kernel) after the memory server has given it to Xen.

use ballast_sel4_plan::boot_info::BOOT_RAM_RUNS;
use ballast_sel4_plan::faults::ROOT_TASK_BADGE;
use ballast_sel4_plan::vspace::{page_round, ram_window_address, DIRECTORY_BYTES, PAGE_BYTES};
use ballast_sel4_plan::{PdBootInfo, Plan};
use ballast_sel4_root_task::image::PdImage;
use ballast_sel4_root_task::ram;
use ballast_sel4_root_task::untyped::{RamBlock, LARGE_PAGE_BITS, MAX_UNTYPEDS, PAGE_BITS};
use ballast_sel4_root_task::RootError;
use ballast_sel4_sys::{config, CPtr, Cap, CapData, CapRights, Endpoint, SmallPage, Tcb, Word};
use ballast_system::{FrameRun, Kind};
use heapless::Vec;

use crate::console::say;
use crate::kernel::{Kernel, Object};
use crate::pd::Pd;
use crate::scratch::Scratch;
use crate::COMPONENTS;

/// The running system: what the fault loop needs.
#[derive(Debug)]
pub struct System<'p> {
    /// The plan it was built from.
    pub plan: Plan<'p>,
    /// The root task's fault endpoint (every PD's fault capability is a badged copy).
    pub faults: Cap<Endpoint>,
    /// Per component, the root task's capability to its endpoint (servers only), badged
    /// [`ROOT_TASK_BADGE`], for client-died messages.
    pub root_calls: Vec<Option<Cap<Endpoint>>, COMPONENTS>,
    /// Per component, its thread and its program's entry (a dead server's last rites).
    pub threads: Vec<(Cap<Tcb>, u64), COMPONENTS>,
}

/// Builds and starts every PD of `plan` from `images` (in component order), each told `cmdline`.
pub fn build<'p>(
    kernel: &mut Kernel,
    plan: Plan<'p>,
    images: &[PdImage<'_>],
    cmdline: &str,
) -> Result<System<'p>, RootError> {
    let composition = plan.composition();
    let mut scratch = Scratch::new();
    let faults: Cap<Endpoint> = kernel.create(Object::Endpoint)?;
    let mut pds: Vec<Pd, COMPONENTS> = Vec::new();
    for component in composition.components {
        let pd = Pd::create(kernel, &plan, component.id)?;
        pds.push(pd).map_err(|_| RootError::Plan)?;
    }
    for pd in &pds {
        pd.fill_cspace(&plan, &pds, faults)?;
    }
    for (pd, image) in pds.iter_mut().zip(images) {
        pd.load(kernel, &mut scratch, image)?;
    }
    map_regions(kernel, &plan, &mut pds)?;
    let memory = composition
        .first_of(Kind::MemoryServer)
        .and_then(|memory| pds.get_mut(usize::from(memory.id)))
        .ok_or(RootError::Plan)?;
    let ram = map_ram(kernel, &plan, memory)?;
    for pd in pds.iter_mut() {
        let boot_info = PdBootInfo::new(&plan, pd.component, &ram, cmdline).map_err(|error| {
            say!("boot-info page of component {}: {error}", pd.component);
            RootError::Plan
        })?;
        pd.map_boot_info(kernel, &mut scratch, &boot_info)?;
    }
    let mut root_calls = Vec::new();
    for pd in &pds {
        let call = match pd.endpoint {
            Some(endpoint) => {
                let badge = CapData::badge(ROOT_TASK_BADGE).map_err(|_| RootError::Plan)?;
                Some(kernel.mint(endpoint, CapRights::new(true, false, true), badge)?)
            }
            None => None,
        };
        root_calls.push(call).map_err(|_| RootError::Plan)?;
    }
    for (pd, image) in pds.iter().zip(images) {
        pd.configure(image.entry)?;
    }
    say!(
        "built {} PDs; {} KiB of untyped memory and {} slots left",
        pds.len(),
        kernel.pool().free_bytes() / 1024,
        kernel.slots_left()
    );
    let mut threads = Vec::new();
    for (pd, image) in pds.iter().zip(images) {
        pd.start()?;
        (threads.push((pd.thread(), image.entry))).map_err(|_| RootError::Plan)?;
    }
    Ok(System {
        plan,
        faults,
        root_calls,
        threads,
    })
}

/// Each region's frames, made once and mapped into every PD that shares it (the lender's own
/// capabilities, a copy for each other sharer) with the rights the plan gives that PD.
fn map_regions(kernel: &mut Kernel, plan: &Plan<'_>, pds: &mut [Pd]) -> Result<(), RootError> {
    for region in plan.composition().regions {
        let pages = page_round(region.size) / PAGE_BYTES;
        let first = kernel.create_many(Object::SmallPage, pages)?;
        for pd in pds.iter_mut() {
            let Some(mapping) = plan
                .region_mappings(pd.component)
                .find(|mapping| mapping.region == region.id)
            else {
                continue;
            };
            for index in 0..pages {
                let original = Cap::<SmallPage>::from_cptr(CPtr(first.0 + index));
                let frame = if mapping.lender {
                    original
                } else {
                    kernel.copy(original, CapRights::ALL)?
                };
                let address = mapping.address + index * PAGE_BYTES;
                pd.space
                    .map_page(kernel, frame, address, mapping.writable, false)?;
            }
        }
    }
    Ok(())
}

/// The memory server's RAM: the untyped memory left, retyped into large pages and mapped into its
/// window; its runs, as the boot-info pages list them.
fn map_ram(
    kernel: &mut Kernel,
    plan: &Plan<'_>,
    memory: &mut Pd,
) -> Result<Vec<FrameRun, BOOT_RAM_RUNS>, RootError> {
    let limit = plan.ram_limit();
    let estimate: Vec<FrameRun, MAX_UNTYPEDS> = kernel
        .pool()
        .ram_blocks(limit)
        .map(|block| block.run)
        .collect();
    for run in &estimate {
        let first = ram_window_address(run.start()).ok_or(RootError::Plan)?;
        let last = ram_window_address(run.end() - 1).ok_or(RootError::Plan)?;
        let mut directory = first & !(DIRECTORY_BYTES - 1);
        while directory <= last {
            memory.space.prepare_large(kernel, directory)?;
            directory += DIRECTORY_BYTES;
        }
    }
    let blocks: Vec<RamBlock, MAX_UNTYPEDS> = kernel.pool().ram_blocks(limit).collect();
    let frames_per_page = 1u64 << (LARGE_PAGE_BITS - PAGE_BITS);
    for block in &blocks {
        let mut done = 0;
        while done < block.large_pages() {
            let count = (block.large_pages() - done).min(config::RETYPE_FAN_OUT_LIMIT as Word);
            let first = kernel.large_pages_from(block.untyped, count)?;
            for index in 0..count {
                let gfn = block.run.start() + (done + index) * frames_per_page;
                let address = ram_window_address(gfn).ok_or(RootError::Plan)?;
                let frame = Cap::from_cptr(CPtr(first.0 + index));
                memory.space.map_large(kernel, frame, address)?;
            }
            done += count;
        }
    }
    let runs = ram::runs(blocks.iter().map(|block| block.run))?;
    let frames: u64 = runs.iter().map(|run| run.frames).sum();
    say!(
        "memory server: {} MiB of RAM in {} runs, mapped in large pages",
        frames >> (20 - PAGE_BITS),
        runs.len()
    );
    Ok(runs)
}
