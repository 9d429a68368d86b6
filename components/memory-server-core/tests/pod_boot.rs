//! Property test of the start on populate-on-demand: for random RAM sizes, image sizes, boot
//! reservations, special-page counts and policies, the start leaves Xen's PoD entries no more
//! than its cache, touches nothing, scrubs nothing, and leaves the books equal to Xen's count;
//! a target reached afterwards moves Xen's count frame for frame.

use ballast_memory_server_core::{BalloonCore, Config, FrameRun, HypervisorPort, Policy};
use ballast_xen_sim::{DomainConfig, HostConfig, PodBoot, XenSim};
use proptest::prelude::*;

type Core<'a> = BalloonCore<&'a mut [u64], 8, 2, 2>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn start_leaves_entries_within_the_cache_and_the_books_exact(
        ram in 64u64..6000,
        image_share in 0u64..100,
        special in 0u64..24,
        backed_share in 0u64..=100,
        superpages in any::<bool>(),
        target_share in 0u64..=100,
    ) {
        let image = ram * image_share / 400;
        let lowest = image + special;
        // The toolstack builds on PoD only with `memory` below `maxmem`.
        let target_pages = lowest + (ram - 1 - lowest) * backed_share / 100;
        let sim = XenSim::new(HostConfig { free_pages: 1 << 16, ..HostConfig::default() });
        let boot = PodBoot {
            target_pages,
            real_ram: core::iter::once(0..image).collect(),
            special: core::iter::once(ram + 4096..ram + 4096 + special).collect(),
        };
        let dom = sim
            .try_create_pod_domain(DomainConfig::domu(0..ram, ram + special), &boot)
            .unwrap();
        let mut hv = sim.hypervisor(dom);
        let ram_runs = [FrameRun::span(0, ram)];
        let reserved = [FrameRun::span(0, image)];
        let policy = if superpages { Policy::Ballast } else { Policy::Seed };
        let mut config = Config::new(&ram_runs, policy);
        if image > 0 {
            config.reserved = &reserved;
        }
        let mut words = vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();

        let pod = sim.pod_status(dom).unwrap();
        prop_assert!(pod.entries <= pod.cache, "{pod}");
        prop_assert_eq!(pod.counters.demand_populated, 0);
        prop_assert_eq!(sim.crashed(dom), None);
        let xen = sim.tot_pages(dom).unwrap();
        prop_assert_eq!(core.check_invariant(Some(xen)), Ok(()));
        let stats = core.stats();
        prop_assert_eq!(stats.counters.scrubbed_frames, 0);
        prop_assert_eq!(
            xen as i64,
            stats.current_pages as i64 + core.domain_offset()
        );
        let deficit = ram - target_pages;
        prop_assert_eq!(stats.counters.boot_deficit, deficit);
        // Released: the deficit, the special pages' worth and one (Xen's count then falls),
        // and at most as many again as the last settling batch overshoots; unless RAM ran out.
        let released = stats.counters.boot_unscrubbed_frames;
        prop_assert!(released <= deficit + 2 * special + 2, "{released}");
        prop_assert!(released > deficit + special || stats.current_pages == image);

        // Any target afterwards is reached with Xen following frame for frame.
        let target = image + (ram - image) * target_share / 100;
        core.set_target(target);
        let mut scrub = Scrub { sim: sim.clone(), dom };
        let mut now = 0;
        for _ in 0..500 {
            let outcome = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, now);
            prop_assert_eq!(core.check_invariant(sim.tot_pages(dom)), Ok(()));
            match outcome.next_run_ns {
                Some(next) => now = next.max(now),
                None => break,
            }
        }
        let pod = sim.pod_status(dom).unwrap();
        prop_assert!(pod.entries <= pod.cache, "{pod}");
        prop_assert_eq!(sim.crashed(dom), None);
        prop_assert_eq!(core.stats().current_pages, target);
    }
}

/// Zeroes frames in the simulated guest (each store into a PoD entry backs it from the cache).
struct Scrub {
    sim: XenSim,
    dom: ballast_xen_sim::DomId,
}

impl ballast_memory_server_core::FrameScrubber for Scrub {
    fn scrub(&mut self, first: ballast_xen::Gfn, frames: u64) {
        self.sim
            .zero_pages(self.dom, first.0..first.0 + frames)
            .unwrap();
    }
}
