//! The shared host pool (whole extents or nothing, one guest starving another; freed frames
//! merge and come back in the buddy allocator's order, their contents with them) and the P2M's
//! 2 MiB superpages (intact at boot, shattered by any 4 KiB removal, re-formed by an aligned
//! order-9 populate).

mod common;

use ballast_xen_sim::{DomId, DomainConfig, HostConfig, XenSim};
use common::*;

#[test]
fn an_extent_is_allocated_whole_or_not_at_all() {
    let sim = XenSim::new(HostConfig {
        free_pages: 511,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..0, 1 << 20));
    assert_eq!(call(&sim, d, POPULATE, 9, &[0]), 0);
    assert_eq!(sim.host_free_pages(), 511);
    assert_eq!(sim.tot_pages(d), Some(0));
    assert_eq!(call(&sim, d, POPULATE, 0, &run(0, 600)), 511);
    assert_eq!(sim.host_free_pages(), 0);
    assert_eq!(sim.populated_count(d, 0..600), Some(511));
    assert_eq!(call(&sim, d, INCREASE, 0, &[0]), 0);
}

#[test]
fn one_guest_growing_starves_another() {
    let sim = XenSim::new(HostConfig {
        free_pages: 1024,
        ..HostConfig::default()
    });
    let greedy = sim.create_domain(DomainConfig::domu(0..512, 1 << 20));
    let victim = sim.create_domain(DomainConfig::domu(0..512, 1 << 20));
    assert_eq!(call(&sim, greedy, POPULATE, 9, &[512, 1024]), 2);
    assert_eq!(call(&sim, victim, POPULATE, 0, &[600]), 0);
    assert_eq!(call(&sim, greedy, DECREASE, 0, &[700]), 1);
    assert_eq!(call(&sim, victim, POPULATE, 0, &[600, 601]), 1);
    assert_eq!(
        (sim.tot_pages(greedy), sim.tot_pages(victim)),
        (Some(1535), Some(513))
    );
    assert_eq!(sim.host_free_pages(), 0);
}

#[test]
fn aligned_boot_ram_starts_as_intact_superpages() {
    let sim = XenSim::new(HostConfig::default());
    let d = sim.create_domain(DomainConfig {
        ram: vec![0..1536, 2048..2100],
        max_pages: 4096,
        max_order: 9,
    });
    assert_eq!(sim.superpage_intact(d, 0), Some(true));
    assert_eq!(sim.superpage_intact(d, 2), Some(true));
    assert_eq!(sim.superpage_intact(d, 3), Some(false));
    assert_eq!(sim.superpage_intact(d, 4), Some(false));
    assert_eq!(sim.counters(d).unwrap().superpages_intact, 3);
    let unaligned = sim.create_domain(DomainConfig::domu(100..1100, 4096));
    assert_eq!(sim.superpage_intact(unaligned, 0), Some(false));
    assert_eq!(sim.superpage_intact(unaligned, 1), Some(true));
    assert_eq!(sim.superpage_intact(unaligned, 2), Some(false));
}

#[test]
fn removing_4k_shatters_and_an_aligned_superpage_populate_reforms() {
    let sim = XenSim::new(HostConfig {
        free_pages: 4096,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..2048, 8192));
    assert_eq!(call(&sim, d, DECREASE, 0, &[513]), 1);
    assert_eq!(sim.superpage_intact(d, 1), Some(false));
    assert_eq!(call(&sim, d, POPULATE, 0, &[513]), 1);
    assert_eq!(sim.superpage_intact(d, 1), Some(false));
    assert_eq!(sim.populated_count(d, 512..1024), Some(512));

    assert_eq!(call(&sim, d, DECREASE, 9, &[512]), 1);
    assert_eq!(sim.populated_count(d, 512..1024), Some(0));
    assert_eq!(call(&sim, d, POPULATE, 9, &[512]), 1);
    assert_eq!(sim.superpage_intact(d, 1), Some(true));

    assert_eq!(call(&sim, d, DECREASE, 9, &[1024]), 1);
    assert_eq!(call(&sim, d, POPULATE, 9, &[1024 + 256]), 1);
    assert_eq!(sim.superpage_intact(d, 2), Some(false));
    assert_eq!(sim.superpage_intact(d, 3), Some(false));

    let c = sim.counters(d).unwrap();
    assert_eq!(
        (
            c.superpages_intact,
            c.superpages_shattered,
            c.superpages_formed
        ),
        (2, 2, 1)
    );
    assert_eq!((c.extents_decreased, c.extents_populated), (3, 3));
    assert_eq!(
        (c.pages_released, c.pages_populated),
        (1 + 512 + 512, 1 + 512 + 512)
    );
}

#[test]
fn populating_4k_into_an_intact_superpage_shatters_it() {
    let sim = XenSim::new(HostConfig {
        free_pages: 16,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..512, 1024));
    assert_eq!(call(&sim, d, POPULATE, 0, &[10]), 1);
    assert_eq!(sim.superpage_intact(d, 0), Some(false));
    assert_eq!(sim.leaked_pages(d), Some(1));
    assert_eq!(sim.counters(d).unwrap().superpages_shattered, 1);
}

#[test]
fn pages_are_conserved_between_the_pool_and_the_domains() {
    let sim = XenSim::new(HostConfig {
        free_pages: 3000,
        ..HostConfig::default()
    });
    let a = sim.create_domain(DomainConfig::domu(0..1024, 4096));
    let b = sim.create_domain(DomainConfig::domu(0..512, 4096));
    let total = || sim.host_free_pages() + sim.tot_pages(a).unwrap() + sim.tot_pages(b).unwrap();
    let before = total();
    call(&sim, a, DECREASE, 9, &[0, 512]);
    call(&sim, b, POPULATE, 9, &[512, 1024, 1536]);
    call(&sim, a, POPULATE, 0, &[1, 1, 2]);
    call(&sim, b, INCREASE, 0, &[0, 0]);
    call(&sim, b, DECREASE, 0, &run(500, 30));
    assert_eq!(total(), before);
    sim.destroy_domain(b).unwrap();
    assert_eq!(sim.host_free_pages() + sim.tot_pages(a).unwrap(), before);
}

/// A 64 MiB guest on a host with 256 MiB free, its boot memory above the free pool.
fn buddy_host() -> (XenSim, DomId) {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 16,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..0x4000, 0x8000));
    (sim, d)
}

#[test]
fn a_2_mib_populate_after_a_2_mib_decrease_gets_the_whole_block_back_contents_and_all() {
    let (sim, d) = buddy_host();
    let block = sim.machine_frame(d, 0x1000).expect("boot memory");
    assert_eq!(block % 512, 0, "2 MiB-aligned gfns on 2 MiB-aligned frames");
    for page in [0, 7, 511] {
        sim.write_page(d, 0x1000 + page, 0x100 + page).unwrap();
    }
    assert_eq!(call(&sim, d, DECREASE, 9, &[0x1000]), 1);
    // Populated elsewhere, the extent lands on the same frames, and the old contents with them.
    assert_eq!(call(&sim, d, POPULATE, 9, &[0x6000]), 1);
    assert_eq!(sim.machine_frame(d, 0x6000), Some(block));
    for page in [0, 7, 511] {
        assert_eq!(sim.read_page(d, 0x6000 + page), Some(0x100 + page));
    }
    assert_eq!(sim.read_page(d, 0x6001), Some(0));
}

#[test]
fn pages_freed_one_by_one_merge_and_come_back_as_one_superpage() {
    let (sim, d) = buddy_host();
    let block = sim.machine_frame(d, 0x2000).expect("boot memory");
    let pages: Vec<u64> = (0x2000..0x2200).collect();
    assert_eq!(call(&sim, d, DECREASE, 0, &pages), 512);
    assert_eq!(call(&sim, d, POPULATE, 9, &[0x7000]), 1);
    assert_eq!(sim.machine_frame(d, 0x7000), Some(block));
    assert_eq!(sim.machine_frame(d, 0x71ff), Some(block + 511));
}

#[test]
fn stale_contents_follow_the_frame_when_a_freed_block_is_split() {
    let (sim, d) = buddy_host();
    let block = sim.machine_frame(d, 0x1000).expect("boot memory");
    sim.write_page(d, 0x11ff, 0xf00d).unwrap();
    sim.write_page(d, 0x11fe, 0xbeef).unwrap();
    assert_eq!(call(&sim, d, DECREASE, 9, &[0x1000]), 1);
    // 4 KiB extents take the freed block from its top down.
    assert_eq!(call(&sim, d, POPULATE, 0, &[0x6000, 0x6001]), 2);
    assert_eq!(sim.machine_frame(d, 0x6000), Some(block + 511));
    assert_eq!(sim.machine_frame(d, 0x6001), Some(block + 510));
    assert_eq!(sim.read_page(d, 0x6000), Some(0xf00d));
    assert_eq!(sim.read_page(d, 0x6001), Some(0xbeef));
    // What is left of the block is no longer whole: a 2 MiB extent comes from the pool instead.
    assert_eq!(call(&sim, d, POPULATE, 9, &[0x7000]), 1);
    assert_ne!(sim.machine_frame(d, 0x7000), Some(block));
    assert_eq!(sim.read_page(d, 0x7000), Some(0));
}
