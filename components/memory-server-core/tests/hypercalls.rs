//! Ballooning a 4 GiB guest down to 1 GiB and back with both policies, counting hypercalls:
//! the seed needs 512 calls per GiB each way, ballast a handful.

mod common;

use ballast_memory_server_core::{BalloonCore, BpState, Config, FrameRun, Policy, Stats};
use ballast_xen_sim::{DomainConfig, HostConfig, XenSim};
use common::{FlakyGateway, SimScrubber};

const GIB: u64 = 1 << 18;

/// Hypercalls (reservation calls, probes) to go 4 GiB -> 1 GiB, then 1 GiB -> 4 GiB.
fn round_trip(policy: Policy) -> (Stats, Stats) {
    let ram = [FrameRun::span(0, 4 * GIB)];
    let config = Config::new(&ram, policy);
    let sim = XenSim::new(HostConfig {
        free_pages: 4 * GIB,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(0..4 * GIB, 4 * GIB));
    let mut port = FlakyGateway::new(sim.hypervisor(dom));
    let mut scrubber = SimScrubber {
        sim: sim.clone(),
        dom,
    };
    let mut words = vec![0u64; config.bitmap_words().unwrap()];
    let mut core = BalloonCore::<&mut [u64], 4, 1, 1>::new(&config, &mut words).unwrap();
    let mut run = |core: &mut BalloonCore<&mut [u64], 4, 1, 1>, target: u64| {
        core.set_target(target);
        let mut now = 0;
        for _ in 0..10_000 {
            let outcome = core.balloon_step(&mut port, &mut scrubber, now);
            assert_eq!(outcome.state, BpState::Done);
            match outcome.next_run_ns {
                Some(next) => now = next,
                None => break,
            }
        }
        assert_eq!(sim.tot_pages(dom), Some(target));
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        core.stats()
    };
    let down = run(&mut core, GIB);
    let up = run(&mut core, 4 * GIB);
    assert_eq!(sim.leaked_pages(dom), Some(0));
    (down, up)
}

#[test]
fn ballast_needs_a_handful_of_hypercalls_where_the_seed_needs_512_per_gib() {
    let (seed_down, seed_up) = round_trip(Policy::Seed);
    let (ballast_down, ballast_up) = round_trip(Policy::Ballast);
    let seed = (seed_down.counters, seed_up.counters);
    let ballast = (ballast_down.counters, ballast_up.counters);
    println!(
        "4 GiB -> 1 GiB -> 4 GiB: seed {} + {} reservation calls, ballast {} + {} reservation calls \
         ({} + {} hypercalls with probes)",
        seed.0.reservation_calls,
        seed.1.reservation_calls - seed.0.reservation_calls,
        ballast.0.reservation_calls,
        ballast.1.reservation_calls - ballast.0.reservation_calls,
        ballast.0.hypercalls(),
        ballast.1.hypercalls() - ballast.0.hypercalls(),
    );
    assert_eq!(seed.0.reservation_calls, 3 * 512);
    assert_eq!(seed.1.reservation_calls, 2 * 3 * 512);
    assert_eq!(seed.1.released_extents[0], 3 * GIB);
    assert_eq!(ballast.0.released_extents[9], 3 * 512);
    assert_eq!(ballast.1.populated_extents[9], 3 * 512);
    assert_eq!(ballast.0.reservation_calls, 3);
    assert_eq!(ballast.1.reservation_calls, 6);
}
