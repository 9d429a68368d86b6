//! One call and its reply on the host runtime (an external client thread calling an echo
//! server thread), against the floor: a bare ping-pong over two std channels between two
//! threads, measured in the same run.

use std::hint::black_box;
use std::sync::mpsc::channel;
use std::thread;

use ballast_ipc::host::HostRuntime;
use ballast_ipc::{
    Badge, ComponentKind, Handler, IncomingCall, NotificationBits, Sys, TablesBuilder,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// Answers every call with its own message.
struct Echo;

impl Handler for Echo {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        sys.reply(call.reply, call.message);
    }

    fn notified(&mut self, _sys: &mut dyn Sys, _bits: NotificationBits) {}

    fn client_died(&mut self, _sys: &mut dyn Sys, _badge: Badge) {}
}

const MESSAGE: [u8; 16] = [7; 16];

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_trip");

    let (to_server, server_inbox) = channel::<[u8; 16]>();
    let (to_client, client_inbox) = channel::<[u8; 16]>();
    let echo = thread::spawn(move || {
        while let Ok(message) = server_inbox.recv() {
            if to_client.send(message).is_err() {
                break;
            }
        }
    });
    group.bench_function("bare_channel_ping_pong", |b| {
        b.iter(|| {
            to_server
                .send(black_box(MESSAGE))
                .expect("echo thread alive");
            black_box(client_inbox.recv().expect("echo thread alive"))
        })
    });
    drop(to_server);
    echo.join().expect("echo thread");

    let mut builder = TablesBuilder::new();
    let server = builder.component("echo", ComponentKind::Handler);
    let client = builder.component("bench", ComponentKind::External);
    let endpoint = builder.endpoint(client, server, Badge(1));
    let tables = builder.build().expect("valid");
    let mut runtime = HostRuntime::start(
        tables,
        vec![(server, Box::new(Echo) as Box<dyn Handler + Send>)],
    )
    .expect("starts");
    let mut handle = runtime.client(client).expect("external");
    let mut reply = [0u8; 128];
    group.bench_function("host_runtime_call", |b| {
        b.iter(|| {
            handle
                .call(endpoint, black_box(&MESSAGE), None, &mut reply)
                .expect("echo alive")
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
