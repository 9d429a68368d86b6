//! One worker step of the balloon core, out and back, with a port that completes every call
//! and no scrubbing (only the core's bookkeeping): ballast's 2 MiB extents (order 9, 512
//! extents = 1 GiB a step) and the seed's 4 KiB extents (order 0, 512 frames a step).

use std::hint::black_box;

use ballast::bench::{CompletingPort, NoScrub};
use ballast_memory_server_core::{BalloonCore, Config, FrameRun, Policy};
use criterion::{criterion_group, criterion_main, Criterion};

/// A 16 GiB guest.
const FRAMES: u64 = 16 << 18;

fn step_pair(c: &mut Criterion, name: &str, policy: Policy) {
    let ram = [FrameRun::span(0, FRAMES)];
    let config = Config::new(&ram, policy);
    let mut storage = vec![0u64; config.bitmap_words().expect("valid layout")];
    let mut core =
        BalloonCore::<&mut [u64], 4, 1, 1>::new(&config, &mut storage).expect("valid layout");
    let mut port = CompletingPort::new(FRAMES);
    let mut now = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            core.set_target(0);
            let out = core.balloon_step(&mut port, &mut NoScrub, now);
            core.set_target(FRAMES);
            let back = core.balloon_step(&mut port, &mut NoScrub, now);
            now += 1;
            black_box((out.frames_moved, back.frames_moved))
        })
    });
    assert_eq!(core.stats().current_pages, FRAMES);
}

fn core_steps(c: &mut Criterion) {
    step_pair(c, "core_step_out_and_back_order9", Policy::Ballast);
    step_pair(c, "core_step_out_and_back_order0", Policy::Seed);
}

criterion_group!(benches, core_steps);
criterion_main!(benches);
