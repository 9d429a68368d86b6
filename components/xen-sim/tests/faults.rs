//! Seeded fault injection: planned faults by call number, and random faults that replay from
//! their seed and only ever produce answers real Xen can give.

mod common;

use ballast_xen_sim::{DomId, DomainConfig, Fault, HostConfig, XenSim};
use common::*;

fn host(faults: Vec<Fault>) -> (XenSim, DomId) {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 16,
        faults,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..4096, 1 << 17));
    (sim, d)
}

#[test]
fn a_shortened_call_completes_exactly_its_prefix() {
    let (sim, d) = host(vec![
        Fault::Shorten {
            call: 1,
            completed: 2,
        },
        Fault::Shorten {
            call: 2,
            completed: 0,
        },
    ]);
    assert_eq!(call(&sim, d, DECREASE, 0, &run(0, 4)), 4);
    assert_eq!(call(&sim, d, POPULATE, 0, &run(0, 4)), 2);
    assert_eq!(sim.populated_count(d, 0..4), Some(2));
    assert_eq!(call(&sim, d, DECREASE, 0, &run(100, 4)), 0);
    assert_eq!(sim.populated_count(d, 100..104), Some(4));
    assert_eq!(call(&sim, d, POPULATE, 0, &[2, 3]), 2);
    let c = sim.counters(d).unwrap();
    assert_eq!((c.faulted_calls, c.short_calls), (2, 2));
    assert_eq!(sim.tot_pages(d), Some(4096));
}

#[test]
fn a_partial_extent_fault_leaves_the_pages_it_freed() {
    let (sim, d) = host(vec![Fault::PartialExtent {
        call: 0,
        completed: 1,
        pages: 37,
    }]);
    assert_eq!(call(&sim, d, DECREASE, 9, &[0, 512, 1024]), 1);
    assert_eq!(sim.populated_count(d, 0..512), Some(0));
    assert_eq!(sim.populated_count(d, 512..1024), Some(512 - 37));
    assert_eq!(sim.populated_count(d, 1024..1536), Some(512));
    assert_eq!(sim.tot_pages(d), Some(4096 - 512 - 37));
    assert_eq!(sim.superpage_intact(d, 1), Some(false));
}

#[test]
fn host_exhaustion_windows_fail_allocations_only() {
    let (sim, d) = host(vec![Fault::HostExhausted { calls: 1..3 }]);
    assert_eq!(call(&sim, d, DECREASE, 0, &run(0, 8)), 8);
    assert_eq!(call(&sim, d, POPULATE, 0, &run(0, 8)), 0);
    assert_eq!(call(&sim, d, DECREASE, 0, &run(8, 8)), 8);
    assert_eq!(call(&sim, d, POPULATE, 0, &run(0, 16)), 16);
    assert_eq!(sim.next_call(), 4);
}

#[test]
fn a_fragmented_host_still_gives_single_pages() {
    let (sim, d) = host(Vec::new());
    sim.inject(Fault::Fragmented {
        calls: sim.next_call()..sim.next_call() + 3,
    });
    assert_eq!(call(&sim, d, DECREASE, 9, &[0]), 1);
    assert_eq!(call(&sim, d, POPULATE, 9, &[0]), 0);
    assert_eq!(call(&sim, d, INCREASE, 1, &[0]), 0);
    assert_eq!(call(&sim, d, POPULATE, 0, &run(0, 512)), 512);
    assert_eq!(sim.superpage_intact(d, 0), Some(false));
}

/// A mixed workload; returns each call's answer and the final accounting.
fn workload(seed: u64, probability: f64) -> (Vec<i64>, u64, u64) {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 14,
        seed,
        random_fault_probability: probability,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..8192, 1 << 15));
    let before = sim.host_free_pages() + sim.tot_pages(d).unwrap();
    let mut answers = Vec::new();
    for round in 0..40u64 {
        let base = (round % 8) * 1024;
        let (op, order, gfns) = match round % 4 {
            0 => (DECREASE, 9, vec![base, base + 512]),
            1 => (POPULATE, 9, vec![base, base + 512]),
            2 => (DECREASE, 0, run(base, 64)),
            _ => (POPULATE, 0, run(base, 64)),
        };
        let populated_before = sim.populated_count(d, 0..1 << 20).unwrap();
        let done = call(&sim, d, op, order, &gfns);
        assert!(
            (0..=gfns.len() as i64).contains(&done),
            "a count within the list: {done}"
        );
        let populated_after = sim.populated_count(d, 0..1 << 20).unwrap();
        let extent = 1u64 << order;
        if op == POPULATE {
            assert!(populated_after <= populated_before + done as u64 * extent);
        } else {
            let freed = populated_before - populated_after;
            let whole = done as u64 * extent;
            assert!(
                freed >= whole && freed - whole < extent,
                "a failed extent frees less than itself"
            );
        }
        answers.push(done);
    }
    let t = sim.tot_pages(d).unwrap();
    assert_eq!(sim.host_free_pages() + t, before, "pages are conserved");
    assert_eq!(
        t,
        sim.populated_count(d, 0..1 << 20).unwrap() + sim.leaked_pages(d).unwrap()
    );
    (answers, t, sim.counters(d).unwrap().faulted_calls)
}

#[test]
fn random_faults_replay_from_the_seed_and_keep_the_books() {
    let (answers, tot, faulted) = workload(7, 0.3);
    assert_eq!(workload(7, 0.3), (answers.clone(), tot, faulted));
    assert!(
        faulted > 0 && faulted < 40,
        "{faulted} of 40 calls faulted at p = 0.3"
    );
    let (clean, _, none) = workload(7, 0.0);
    assert_eq!(none, 0);
    assert_ne!(answers, clean);
}
