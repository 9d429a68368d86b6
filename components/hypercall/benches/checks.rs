//! What the gateway's checks cost on a full batch of 512 extents: requests refused at their last
//! extent, so that every check runs over the whole list and nothing reaches Xen (alignment and
//! ownership; the repeat check on its sorting path), and a decrease plus populate round trip
//! through the gateway against the same round trip on the simulated Xen directly.

use std::hint::black_box;

use ballast_hypercall::{CallerGrant, CallerTable, FrameRun, Gateway, Limits};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_ipc::Badge;
use ballast_xen::{ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp, DOMID_SELF};
use ballast_xen_sim::{DomainConfig, HostConfig, SimHypervisor, XenSim};
use criterion::{criterion_group, criterion_main, Criterion};

const SERVER: Badge = Badge(1);
const BATCH: u64 = 512;
const RAM: u64 = 0x10_0000;

fn xen() -> SimHypervisor {
    let sim = XenSim::new(HostConfig {
        free_pages: 0x10_0000,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(0..RAM, RAM));
    sim.hypervisor(dom)
}

fn gateway() -> Gateway<Vec<u64>, SimHypervisor, 1, 8, 512> {
    let owned: Vec<FrameRun> = (0..8)
        .map(|i| FrameRun::checked(Gfn(0x1000 + i * 0x2_0000), 0x1_0000).expect("valid"))
        .collect();
    let grants = [CallerGrant {
        badge: SERVER,
        ops: &[
            HypercallOp::DecreaseReservation as u16,
            HypercallOp::PopulatePhysmap as u16,
        ],
        ranges: &owned,
    }];
    let limits = Limits {
        max_order: 9,
        max_frames_per_call: 512,
        own_domid: None,
    };
    let table = CallerTable::new(limits, &grants, &[]).expect("valid table");
    let bitmap = vec![0; ballast_hypercall::bitmap_words(&table) as usize];
    Gateway::new(xen(), table, bitmap, &owned).expect("fits")
}

/// 512 frames spread over all 8 owned ranges, ascending or interleaved across the ranges.
fn batch(ascending: bool) -> Vec<Gfn> {
    let mut frames: Vec<Gfn> = (0..BATCH)
        .map(|i| Gfn(0x1000 + (i % 8) * 0x2_0000 + i / 8))
        .collect();
    if ascending {
        frames.sort_unstable();
    }
    frames
}

fn checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("refused_at_the_last_extent");
    let mut gateway = gateway();
    let mut foreign = batch(true);
    let last = foreign.len() - 1;
    foreign[last] = Gfn(0);
    group.bench_function("decrease_not_owned", |b| {
        b.iter(|| {
            black_box(gateway.reservation(
                SERVER,
                ReservationOp::Decrease,
                0,
                0,
                DOMID_SELF,
                black_box(&mut foreign),
            ))
        })
    });
    for (name, ascending) in [("ascending", true), ("interleaved", false)] {
        let mut frames = batch(ascending);
        frames[last] = frames[0];
        group.bench_function(format!("populate_repeat_{name}"), |b| {
            b.iter(|| {
                black_box(gateway.reservation(
                    SERVER,
                    ReservationOp::Populate,
                    0,
                    0,
                    DOMID_SELF,
                    black_box(&mut frames),
                ))
            })
        });
    }
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("decrease_populate_512");
    let mut direct = xen();
    let mut frames = batch(true);
    group.bench_function("sim_direct", |b| {
        b.iter(|| {
            for op in [ReservationOp::Decrease, ReservationOp::Populate] {
                black_box(direct.reservation(op, ExtentOrder::PAGE, MemFlags::NONE, &mut frames));
            }
        })
    });
    let mut gateway = gateway();
    group.bench_function("through_gateway", |b| {
        b.iter(|| {
            for op in [ReservationOp::Decrease, ReservationOp::Populate] {
                black_box(gateway.reservation(SERVER, op, 0, 0, DOMID_SELF, &mut frames)).ok();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, checks, round_trip);
criterion_main!(benches);
