//! A domain built on populate-on-demand, driven through the raw `memory_op` entry as a guest
//! drives it: what its balloon sees of `current_reservation` while it balloons out, the entries
//! and cache `xl debug-keys q` would show, and the crash of a guest that touches memory Xen does
//! not back.

mod common;

use ballast_xen::abi::DOMID_SELF;
use ballast_xen_sim::{
    DomId, DomainConfig, DomainCrash, HostConfig, MemoryOpArg, PodBoot, SimError, XenSim,
};
use common::{call, DECREASE, POPULATE};

/// 512 MiB of RAM (maxmem), 256 MiB backed (memory), the image's 2 MiB real at 1 MiB, and
/// three special pages above RAM.
const RAM: u64 = 0x20000;
const MEMORY: u64 = 0x10000;
const SPECIAL: u64 = 3;

fn pod_guest(host_free: u64) -> (XenSim, DomId) {
    let sim = XenSim::new(HostConfig {
        free_pages: host_free,
        ..HostConfig::default()
    });
    let boot = PodBoot {
        target_pages: MEMORY,
        real_ram: core::iter::once(0x100..0x300).collect(),
        special: core::iter::once(0xfeffc..0xfeffc + SPECIAL).collect(),
    };
    let dom = sim
        .try_create_pod_domain(DomainConfig::domu(0..RAM, RAM + SPECIAL), &boot)
        .unwrap();
    (sim, dom)
}

fn current(sim: &XenSim, dom: DomId) -> i64 {
    sim.memory_op(dom, 3, MemoryOpArg::Domid(DOMID_SELF))
}

#[test]
fn ballooning_out_maxmem_minus_memory_and_the_special_pages_leaves_current_unchanged() {
    let (sim, dom) = pod_guest(1 << 16);
    let status = sim.pod_status(dom).unwrap();
    assert_eq!(current(&sim, dom), MEMORY as i64);
    assert_eq!(
        (status.entries, status.cache),
        (RAM - 0x200, MEMORY - 0x200 - SPECIAL)
    );
    // Linux's rule: balloon out static-max - target, highest first, in 2 MiB extents.
    let chunks: Vec<u64> = (MEMORY / 512..RAM / 512).rev().map(|c| c * 512).collect();
    assert_eq!(call(&sim, dom, DECREASE, 9, &chunks), chunks.len() as i64);
    assert_eq!(current(&sim, dom), MEMORY as i64);
    let status = sim.pod_status(dom).unwrap();
    assert_eq!(status.entries - status.cache, SPECIAL);
    // The special pages outside RAM still hold the entries above the cache: three more frames
    // change nothing, the fourth lowers current by one, and so does every frame after it.
    for (i, gfn) in (MEMORY - 4..MEMORY).rev().enumerate() {
        assert_eq!(call(&sim, dom, DECREASE, 0, &[gfn]), 1);
        let expected = if i < SPECIAL as usize {
            MEMORY
        } else {
            MEMORY - 1
        };
        assert_eq!(current(&sim, dom), expected as i64, "frame {i}");
    }
    assert_eq!(call(&sim, dom, DECREASE, 0, &[MEMORY - 5]), 1);
    assert_eq!(current(&sim, dom), (MEMORY - 2) as i64);
    let status = sim.pod_status(dom).unwrap();
    assert_eq!(status.entries, status.cache);
    assert_eq!(status.to_string(), "PoD entries=65019 cachesize=65019");
    assert_eq!(status.counters.cache_released, 2);

    // From here touching memory is safe: every entry touched takes a cache page.
    sim.write_page(dom, 0x5000, 0xfeed).unwrap();
    assert_eq!(sim.read_page(dom, 0x5000), Some(0xfeed));
    assert_eq!(sim.read_page(dom, 0x5001), Some(0));
    sim.zero_pages(dom, 0x6000..0x8000).unwrap();
    assert_eq!(current(&sim, dom), (MEMORY - 2) as i64);
    let status = sim.pod_status(dom).unwrap();
    assert_eq!(status.entries, status.cache);
    assert_eq!(status.counters.demand_populated, 2 + 0x2000);

    // A ballooned gfn comes back as a real page from the host; a touched page released
    // afterwards is freed (no debt left to steal it for).
    assert_eq!(call(&sim, dom, POPULATE, 0, &[MEMORY - 1]), 1);
    assert_eq!(current(&sim, dom), (MEMORY - 1) as i64);
    assert_eq!(call(&sim, dom, DECREASE, 0, &[0x5000]), 1);
    assert_eq!(current(&sim, dom), (MEMORY - 2) as i64);
    assert_eq!(sim.host_free_pages(), (1 << 16) - 1 + 1 + 2);
    assert_eq!(sim.crashed(dom), None);
}

#[test]
fn a_guest_touching_memory_before_ballooning_out_crashes_when_the_cache_runs_dry() {
    let (sim, dom) = pod_guest(1 << 16);
    let cache = sim.pod_status(dom).unwrap().cache;
    // The first `cache` pages touched are backed, whatever current says.
    sim.zero_pages(dom, 0x300..0x300 + cache).unwrap();
    assert_eq!(current(&sim, dom), MEMORY as i64);
    assert_eq!(sim.pod_status(dom).unwrap().cache, 0);
    assert_eq!(sim.crashed(dom), None);
    assert_eq!(
        sim.write_page(dom, RAM - 1, 1),
        Err(SimError::DomainCrashed)
    );
    assert_eq!(sim.crashed(dom), Some(DomainCrash::PodOutOfMemory));
    assert_eq!(
        sim.pod_status(dom).unwrap().crashed.unwrap().to_string(),
        "domain crashed: PoD out of memory"
    );
    // It runs no more.
    assert_eq!(current(&sim, dom), -3);
    assert_eq!(sim.read_page(dom, 0), None);
}

#[test]
fn a_decrease_of_real_pages_while_in_debt_moves_them_into_the_cache() {
    let (sim, dom) = pod_guest(0);
    sim.write_page(dom, 0x200, 0xaa).unwrap();
    // One 2 MiB extent over the image's last 256 real pages and 256 entries: the pages are
    // stolen for the cache, the entries removed, current unchanged.
    assert_eq!(call(&sim, dom, DECREASE, 9, &[0x200]), 1);
    assert_eq!(current(&sim, dom), MEMORY as i64);
    let status = sim.pod_status(dom).unwrap();
    assert_eq!(
        (
            status.counters.pages_stolen,
            status.counters.entries_decreased
        ),
        (256, 256)
    );
    assert_eq!(status.cache, MEMORY - 0x200 - SPECIAL + 256);
    assert_eq!(sim.is_populated(dom, 0x200), Some(false));
    // Repopulating it takes host memory, which this host has none of.
    assert_eq!(call(&sim, dom, POPULATE, 0, &[0x200]), 0);
}
