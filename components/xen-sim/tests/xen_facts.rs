//! Every answer of docs/XEN-BEHAVIOUR.md (measured on Xen 4.17), checked value for value against
//! the simulator's raw `memory_op` entry.

mod common;

use ballast_xen::abi::{DOMID_IO, DOMID_SELF, DOMID_XEN};
use ballast_xen::mem_flags::XENMEMF_POPULATE_ON_DEMAND;
use ballast_xen::{Gfn, MemFlags};
use ballast_xen_sim::{DomainConfig, ExtentList, HostConfig, MemoryOpArg, XenSim, BALLOONED_READ};
use common::*;

#[test]
fn reservation_ops_answer_counts_never_errnos_for_bad_arguments() {
    let (sim, d) = facts_host();
    for op in [INCREASE, DECREASE, POPULATE] {
        assert_eq!(
            sim.memory_op(d, op, MemoryOpArg::BadPointer),
            0,
            "bad struct pointer, op {op}"
        );
        assert_eq!(
            sim.memory_op(d, op | (5 << 6), MemoryOpArg::BadPointer),
            5,
            "bad struct pointer keeps start"
        );
        for domid in [DOMID_IO, DOMID_XEN, 0x1234] {
            assert_eq!(
                call_with(&sim, d, op, 0, 0, 0, domid, &[40000]),
                0,
                "domid {domid:#x}, op {op}"
            );
        }
    }
    assert_eq!(call_list(&sim, d, DECREASE, 0, ExtentList::Bad, 4), 0);
    assert_eq!(call_list(&sim, d, POPULATE, 0, ExtentList::Bad, 4), 0);
    assert_eq!(call_list(&sim, d, DECREASE, 0, ExtentList::Null, 4), 0);
    assert_eq!(call_list(&sim, d, POPULATE, 0, ExtentList::Null, 4), 0);
    assert_eq!(sim.tot_pages(d), Some(32768));
}

#[test]
fn the_own_domid_and_domid_self_are_the_same_target() {
    let (sim, d) = facts_host();
    assert_eq!(call_with(&sim, d, DECREASE, 0, 0, 0, d.0, &[1]), 1);
    assert_eq!(call_with(&sim, d, POPULATE, 0, 0, 0, DOMID_SELF, &[1]), 1);
    assert_eq!(sim.tot_pages(d), Some(32768));
}

#[test]
fn reservation_queries_answer_errnos() {
    let (sim, d) = facts_host();
    assert_eq!(query(&sim, d, 3, DOMID_SELF), 32768);
    assert_eq!(query(&sim, d, 3, d.0), 32768);
    assert_eq!(query(&sim, d, 4, DOMID_SELF), 65536);
    assert_eq!(query(&sim, d, 4, d.0), 65536);
    assert_eq!(sim.memory_op(d, 3, MemoryOpArg::BadPointer), -14);
    assert_eq!(sim.memory_op(d, 4, MemoryOpArg::BadPointer), -14);
    assert_eq!(query(&sim, d, 3, 0x1234), -3);
    assert_eq!(query(&sim, d, 4, DOMID_IO), -3);
    assert_eq!(query(&sim, d, 3 | (1 << 6), DOMID_SELF), -22);
}

#[test]
fn other_domains_are_out_of_reach_unless_privileged() {
    let (sim, d) = facts_host();
    let other = sim.create_domain(DomainConfig::domu(0..100, 200));
    assert_eq!(query(&sim, d, 3, other.0), -1);
    assert_eq!(call_with(&sim, d, DECREASE, 0, 0, 0, other.0, &[5]), 0);
    sim.set_privileged(d, true).unwrap();
    assert_eq!(query(&sim, d, 3, other.0), 100);
    assert_eq!(call_with(&sim, d, DECREASE, 0, 0, 0, other.0, &[5]), 1);
    assert_eq!(
        (sim.tot_pages(other), sim.tot_pages(d)),
        (Some(99), Some(32768))
    );
}

#[test]
fn unknown_commands_are_enosys_and_max_ram_page_answers() {
    let (sim, d) = facts_host();
    assert_eq!(sim.memory_op(d, 63, MemoryOpArg::BadPointer), -38);
    assert_eq!(sim.memory_op(d, 5, MemoryOpArg::Domid(DOMID_SELF)), -38);
    assert_eq!(
        sim.memory_op(d, 2, MemoryOpArg::BadPointer),
        (1 << 20) + 32768
    );
    assert_eq!(sim.memory_op(d, 2 | (1 << 6), MemoryOpArg::BadPointer), -22);
    assert_eq!(sim.counters(d).unwrap().other_calls, 4);
}

#[test]
fn empty_and_huge_extent_counts_do_nothing() {
    let (sim, d) = facts_host();
    for op in [INCREASE, DECREASE, POPULATE] {
        assert_eq!(call(&sim, d, op, 0, &[]), 0);
        assert_eq!(call_list(&sim, d, op, 0, ExtentList::Null, 1 << 26), 0);
        assert_eq!(call_list(&sim, d, op, 0, ExtentList::Null, u64::MAX), 0);
    }
    let mut one = [Gfn(0)];
    assert_eq!(
        call_list(
            &sim,
            d,
            DECREASE,
            0,
            ExtentList::Frames(&mut one),
            (1 << 26) - 1
        ),
        1
    );
    assert_eq!(sim.tot_pages(d), Some(32767));
}

#[test]
fn the_continuation_starts_at_its_extent_and_returns_the_index_reached() {
    let (sim, d) = facts_host();
    assert_eq!(
        call_with(&sim, d, DECREASE, 2, 0, 0, DOMID_SELF, &[10, 11, 12, 13]),
        4
    );
    assert!(sim.is_populated(d, 10).unwrap() && sim.is_populated(d, 11).unwrap());
    assert!(!sim.is_populated(d, 12).unwrap() && !sim.is_populated(d, 13).unwrap());
    assert_eq!(
        call_with(&sim, d, POPULATE, 3, 0, 0, DOMID_SELF, &[10, 11, 12, 13]),
        4
    );
    assert_eq!(
        call_with(&sim, d, DECREASE, 4, 0, 0, DOMID_SELF, &[10, 11, 12, 13]),
        4
    );
    assert_eq!(
        call_with(&sim, d, DECREASE, 9, 0, 0, DOMID_SELF, &[10, 11, 12, 13]),
        9
    );
    assert_eq!(
        call_with(&sim, d, DECREASE, 1 << 40, 0, 0, DOMID_SELF, &[10]),
        1 << 40
    );
    assert_eq!(sim.tot_pages(d), Some(32767));
    assert_eq!(
        call_with(&sim, d, DECREASE, 1, 0, 0, DOMID_SELF, &[10, 11, 12, 13]),
        2
    );
}

#[test]
fn decrease_stops_at_the_first_hole() {
    let (sim, d) = facts_host();
    assert_eq!(call(&sim, d, DECREASE, 0, &[101]), 1);
    assert_eq!(call(&sim, d, DECREASE, 0, &[100, 101, 102]), 1);
    assert_eq!(sim.is_populated(d, 100), Some(false));
    assert_eq!(sim.is_populated(d, 102), Some(true));
    assert_eq!(sim.tot_pages(d), Some(32766));
}

#[test]
fn a_failed_superpage_decrease_keeps_the_pages_it_freed() {
    let (sim, d) = facts_host();
    assert_eq!(call(&sim, d, DECREASE, 0, &[1024 + 100]), 1);
    assert_eq!(sim.tot_pages(d), Some(32767));
    assert_eq!(call(&sim, d, DECREASE, 9, &[1024]), 0);
    assert_eq!(sim.tot_pages(d), Some(32767 - 100));
    assert_eq!(sim.populated_count(d, 1024..1536), Some(411));
    assert_eq!(sim.populated_count(d, 1024..1124), Some(0));
    let c = sim.counters(d).unwrap();
    assert_eq!(
        (c.pages_released, c.extents_decreased, c.short_calls),
        (101, 1, 1)
    );
}

#[test]
fn populating_past_the_maximum_stops_exactly_at_it() {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 20,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..32768, 32768 + 3));
    assert_eq!(call(&sim, d, POPULATE, 0, &run(40000, 5)), 3);
    assert_eq!(sim.populated_count(d, 40000..40005), Some(3));
    assert_eq!(sim.tot_pages(d), Some(32771));
    assert_eq!(call(&sim, d, POPULATE, 0, &[40003]), 0);
    assert_eq!(call(&sim, d, INCREASE, 0, &[0]), 0);
    assert_eq!(sim.host_free_pages(), (1 << 20) - 3);
    sim.set_max_pages(d, 32771 + 512).unwrap();
    assert_eq!(call(&sim, d, POPULATE, 9, &[1 << 20, 2 << 20]), 1);
}

#[test]
fn populating_a_populated_gfn_maps_a_fresh_page_and_leaks_the_old_one() {
    let (sim, d) = facts_host();
    sim.write_page(d, 7, 0xc0ffee).unwrap();
    assert_eq!(call(&sim, d, POPULATE, 0, &[7]), 1);
    assert_eq!(sim.read_page(d, 7), Some(0));
    assert_eq!(sim.tot_pages(d), Some(32769));
    assert_eq!(call(&sim, d, DECREASE, 0, &[7]), 1);
    assert_eq!(sim.tot_pages(d), Some(32768));
    assert_eq!(sim.leaked_pages(d), Some(1));
    assert_eq!(call(&sim, d, POPULATE, 0, &[40000, 40000]), 2);
    assert_eq!(sim.tot_pages(d), Some(32770));
    assert_eq!(sim.leaked_pages(d), Some(2));
    assert_eq!(sim.populated_count(d, 0..1 << 20), Some(32768));
}

#[test]
fn superpage_extents_need_no_alignment_and_respect_the_order_limit() {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 20,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig {
        ram: Vec::new(),
        max_pages: 1 << 20,
        max_order: 12,
    });
    assert_eq!(call(&sim, d, POPULATE, 9, &[100]), 1);
    assert_eq!(call(&sim, d, POPULATE, 12, &[100_001]), 1);
    assert_eq!(call(&sim, d, POPULATE, 13, &[200_000]), 0);
    assert_eq!(sim.populated_count(d, 0..1 << 20), Some(512 + 4096));
    assert_eq!(call(&sim, d, DECREASE, 12, &[100_001]), 1);
    assert_eq!(call(&sim, d, DECREASE, 13, &[100]), 0);
    assert_eq!(sim.tot_pages(d), Some(512));
    let domu = sim.create_domain(DomainConfig::domu(0..1024, 1 << 20));
    assert_eq!(call(&sim, domu, POPULATE, 10, &[4096]), 0);
    assert_eq!(call(&sim, domu, DECREASE, 10, &[0]), 0);
    assert_eq!(call(&sim, domu, INCREASE, 10, &[0]), 0);
    assert_eq!(sim.tot_pages(domu), Some(1024));
}

#[test]
fn a_hardware_domain_gets_order_17_but_no_host_has_contiguous_order_18() {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 20,
        ..HostConfig::default()
    });
    let d = sim
        .create_dom0(DomainConfig::dom0(0..0, 1 << 20))
        .expect("the first dom0");
    assert_eq!(call(&sim, d, POPULATE, 17, &[0]), 1);
    assert_eq!(call(&sim, d, POPULATE, 18, &[1 << 18]), 0);
    assert_eq!(call(&sim, d, INCREASE, 18, &[0]), 0);
    assert_eq!(call(&sim, d, DECREASE, 17, &[0]), 1);
    assert_eq!(sim.tot_pages(d), Some(0));
}

#[test]
fn freed_pages_come_back_with_their_old_contents() {
    let (sim, d) = facts_host();
    sim.write_page(d, 5, 0x1111).unwrap();
    assert_eq!(call(&sim, d, DECREASE, 0, &[5]), 1);
    assert_eq!(sim.read_page(d, 5), Some(BALLOONED_READ));
    assert_eq!(call(&sim, d, POPULATE, 0, &[5]), 1);
    assert_eq!(sim.read_page(d, 5), Some(0x1111));

    for page in [0, 1, 300, 511] {
        sim.write_page(d, 2048 + page, 0x2000 + page).unwrap();
    }
    assert_eq!(call(&sim, d, DECREASE, 9, &[2048]), 1);
    assert_eq!(sim.read_page(d, 2048 + 300), Some(BALLOONED_READ));
    assert_eq!(call(&sim, d, POPULATE, 9, &[2048]), 1);
    for page in [0, 1, 300, 511] {
        assert_eq!(sim.read_page(d, 2048 + page), Some(0x2000 + page));
    }
    assert_eq!(sim.read_page(d, 2048 + 2), Some(0));
}

#[test]
fn another_domain_gets_the_stale_page() {
    let sim = XenSim::new(HostConfig {
        free_pages: 16,
        ..HostConfig::default()
    });
    let a = sim.create_domain(DomainConfig::domu(0..8, 8));
    let b = sim.create_domain(DomainConfig::domu(0..0, 8));
    sim.write_page(a, 3, 0x5ec7e7).unwrap();
    assert_eq!(call(&sim, a, DECREASE, 0, &[3]), 1);
    assert_eq!(call(&sim, b, POPULATE, 0, &[1000]), 1);
    assert_eq!(sim.read_page(b, 1000), Some(0x5ec7e7));
}

#[test]
fn increase_reservation_adds_gfnless_pages_and_takes_a_null_list() {
    let (sim, d) = facts_host();
    assert_eq!(call_list(&sim, d, INCREASE, 0, ExtentList::Null, 3), 3);
    let mut list = [Gfn(7), Gfn(8)];
    assert_eq!(
        call_list(&sim, d, INCREASE, 0, ExtentList::Frames(&mut list), 2),
        2
    );
    assert_eq!(list, [Gfn(7), Gfn(8)]);
    assert_eq!(sim.tot_pages(d), Some(32773));
    assert_eq!(sim.gfnless_pages(d), Some(5));
    assert_eq!(sim.populated_count(d, 0..1 << 20), Some(32768));
    assert_eq!(sim.host_free_pages(), (1 << 20) - 5);
}

#[test]
fn address_bits_limit_allocation_and_twelve_or_fewer_fail_the_call() {
    let (sim, d) = facts_host();
    for bits in [1, 12] {
        let flags = MemFlags::NONE.address_bits(bits).raw();
        assert_eq!(
            call_with(&sim, d, DECREASE, 0, 0, flags, DOMID_SELF, &[1]),
            0
        );
        assert_eq!(
            call_with(&sim, d, POPULATE, 0, 0, flags, DOMID_SELF, &[40000]),
            0
        );
    }
    let twenty = MemFlags::NONE.address_bits(20).raw();
    assert_eq!(
        call_with(&sim, d, DECREASE, 0, 0, twenty, DOMID_SELF, &[1, 2]),
        2
    );
    for bits in [13, 20] {
        let flags = MemFlags::NONE.address_bits(bits).raw();
        assert_eq!(
            call_with(&sim, d, POPULATE, 0, 0, flags, DOMID_SELF, &[1]),
            0
        );
    }
    for bits in [30, 32] {
        let flags = MemFlags::NONE.address_bits(bits).raw();
        assert_eq!(
            call_with(&sim, d, POPULATE, 0, 0, flags, DOMID_SELF, &[bits as u64]),
            1
        );
    }
    assert_eq!(sim.tot_pages(d), Some(32768));
}

#[test]
fn node_requests_follow_the_callers_privilege() {
    let (sim, d) = facts_host();
    let exact1 = MemFlags::NONE.node(1).exact_node().raw();
    let loose1 = MemFlags::NONE.node(1).raw();
    let exact0 = MemFlags::NONE.node(0).exact_node().raw();
    assert_eq!(
        call_with(&sim, d, POPULATE, 0, 0, exact0, DOMID_SELF, &[40000]),
        0
    );
    assert_eq!(
        call_with(&sim, d, POPULATE, 0, 0, loose1, DOMID_SELF, &[40000]),
        1
    );
    sim.set_privileged(d, true).unwrap();
    assert_eq!(
        call_with(&sim, d, POPULATE, 0, 0, exact0, DOMID_SELF, &[40001]),
        1
    );
    assert_eq!(
        call_with(&sim, d, POPULATE, 0, 0, exact1, DOMID_SELF, &[40002]),
        0
    );
    let bad_node = MemFlags::NONE.node(70).raw();
    assert_eq!(
        call_with(&sim, d, DECREASE, 0, 0, bad_node, DOMID_SELF, &[1]),
        0
    );
    assert_eq!(sim.tot_pages(d), Some(32770));
}

#[test]
fn populate_on_demand_on_oneself_does_nothing() {
    let (sim, d) = facts_host();
    assert_eq!(
        call_with(
            &sim,
            d,
            POPULATE,
            0,
            0,
            XENMEMF_POPULATE_ON_DEMAND,
            DOMID_SELF,
            &[40000]
        ),
        0
    );
    assert_eq!(sim.tot_pages(d), Some(32768));
}

#[test]
fn a_list_shorter_than_nr_extents_faults_where_it_ends() {
    let (sim, d) = facts_host();
    let mut frames = [Gfn(1), Gfn(2)];
    assert_eq!(
        call_list(&sim, d, DECREASE, 0, ExtentList::Frames(&mut frames), 5),
        2
    );
    assert_eq!(
        call_list(&sim, d, POPULATE, 0, ExtentList::Frames(&mut frames), 5),
        2
    );
    assert_eq!(sim.tot_pages(d), Some(32768));
}

#[test]
fn gfns_beyond_the_guest_physical_limit_are_holes_and_cannot_be_populated() {
    let (sim, d) = facts_host();
    let limit = ballast_xen_sim::GFN_LIMIT;
    assert_eq!(call(&sim, d, POPULATE, 0, &[limit]), 0);
    assert_eq!(call(&sim, d, POPULATE, 9, &[limit - 256]), 0);
    assert_eq!(call(&sim, d, DECREASE, 0, &[u64::MAX]), 0);
    assert_eq!(call(&sim, d, POPULATE, 0, &[limit - 1]), 1);
    assert_eq!(sim.tot_pages(d), Some(32769));
}
