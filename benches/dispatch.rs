//! Dispatch of Balloon calls through the memory server of `manifests/sim.toml` on the
//! deterministic runtime: a driver client borrows one frame (`alloc_unpopulated`, granted from
//! the lending range without a hypercall) and gives it back (`free_unpopulated`).

use std::hint::black_box;

use ballast::composition::SIM;
use ballast::system;
use ballast_interfaces::balloon;
use ballast_interfaces::runs;
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::{CheckedTables, LeaseDescriptor};
use ballast_system::Policy;
use criterion::{criterion_group, criterion_main, Criterion};

fn dispatch(c: &mut Criterion) {
    let composition = &SIM;
    let parts = system::build(composition, Some(Policy::Ballast), 1).expect("sim.toml runs");
    let ipc = CheckedTables::from_tables(&composition.ipc).expect("valid tables");
    let (handlers, map) = parts.into_deterministic();
    let mut runtime = DeterministicRuntime::new(ipc, handlers, 1).expect("runtime starts");
    let client = map
        .clients
        .first()
        .expect("sim.toml has a driver client")
        .clone();
    let (region, len) = client.region.expect("the client lends a region");
    let lease = |writable: bool| LeaseDescriptor {
        region: region.0,
        writable: u16::from(writable),
        offset: 0,
        len,
        reserved: 0,
    };
    let call = |runtime: &mut DeterministicRuntime, request: &[u8], writable: bool| {
        let id = runtime
            .submit_call(
                client.component,
                client.endpoint,
                request,
                Some(lease(writable)),
            )
            .expect("the memory server is reachable");
        runtime.run_until_idle(1_000).expect("invariants hold");
        runtime
            .take_reply(id)
            .expect("answered")
            .expect("delivered")
    };
    let alloc = balloon::encode_alloc_unpopulated(1, u64::MAX);
    c.bench_function("balloon_alloc_and_free_one_frame", |b| {
        b.iter(|| {
            let reply = call(&mut runtime, &alloc, true);
            let body = balloon::decode_alloc_unpopulated(&reply).expect("granted");
            let bytes = runtime.region(region).expect("own region");
            let loan = runs::read(bytes, body.runs as usize)
                .expect("runs")
                .to_vec();
            let written = runs::write(bytes, loan.into_iter()).expect("fits");
            let reply = call(
                &mut runtime,
                &balloon::encode_free_unpopulated(written as u32),
                false,
            );
            black_box(balloon::decode_free_unpopulated(&reply))
        })
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
