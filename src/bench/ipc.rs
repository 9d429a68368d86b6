//! One IPC round trip on the host runtime (an external client calling an echo handler) against
//! the floor: a bare ping-pong over two std channels between two threads. Batches of each
//! alternate in the same run; the median batch of each counts.

use std::hint::black_box;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ballast_ipc::host::{ClientHandle, HostRuntime};
use ballast_ipc::{
    Badge, ComponentKind, EndpointId, Handler, IncomingCall, NotificationBits, Sys, TablesBuilder,
};

use super::options::Size;

const MESSAGE: [u8; 16] = [7; 16];

/// Answers every call with its own message.
struct Echo;

impl Handler for Echo {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        sys.reply(call.reply, call.message);
    }

    fn notified(&mut self, _sys: &mut dyn Sys, _bits: NotificationBits) {}

    fn client_died(&mut self, _sys: &mut dyn Sys, _badge: Badge) {}
}

/// Both sides, per round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ipc {
    /// Round trips per batch.
    pub per_batch: u32,
    /// Batches of each side.
    pub batches: u32,
    /// Median time of a runtime call.
    pub runtime_call: Duration,
    /// Median time of a bare channel ping-pong.
    pub floor: Duration,
}

impl Ipc {
    /// Runtime call over the floor.
    pub fn ratio(&self) -> f64 {
        self.runtime_call.as_secs_f64() / self.floor.as_secs_f64().max(1e-12)
    }
}

/// The floor: a thread echoing what it receives.
struct PingPong {
    to_echo: Option<Sender<[u8; 16]>>,
    from_echo: Receiver<[u8; 16]>,
    echo: Option<JoinHandle<()>>,
}

impl PingPong {
    fn start() -> PingPong {
        let (to_echo, inbox) = channel::<[u8; 16]>();
        let (outbox, from_echo) = channel::<[u8; 16]>();
        let echo = thread::spawn(move || {
            while let Ok(message) = inbox.recv() {
                if outbox.send(message).is_err() {
                    break;
                }
            }
        });
        PingPong {
            to_echo: Some(to_echo),
            from_echo,
            echo: Some(echo),
        }
    }

    fn round_trip(&mut self) -> Result<(), String> {
        let lost = || "the echo thread stopped".to_string();
        self.to_echo
            .as_ref()
            .ok_or_else(lost)?
            .send(black_box(MESSAGE))
            .map_err(|_| lost())?;
        black_box(self.from_echo.recv().map_err(|_| lost())?);
        Ok(())
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        self.to_echo.take();
        if let Some(echo) = self.echo.take() {
            // The echo thread only ends by its channel closing; a panic there has been printed.
            let _ = echo.join();
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn time_batch(
    per_batch: u32,
    mut once: impl FnMut() -> Result<(), String>,
) -> Result<Duration, String> {
    let started = Instant::now();
    for _ in 0..per_batch {
        once()?;
    }
    Ok(started.elapsed() / per_batch)
}

fn echo_runtime() -> Result<(HostRuntime, ClientHandle, EndpointId), String> {
    let mut builder = TablesBuilder::new();
    let server = builder.component("echo", ComponentKind::Handler);
    let client = builder.component("bench", ComponentKind::External);
    let endpoint = builder.endpoint(client, server, Badge(1));
    let composition = builder
        .build()
        .map_err(|e| format!("echo composition refused: {e:?}"))?;
    let mut runtime = HostRuntime::start(
        composition,
        vec![(server, Box::new(Echo) as Box<dyn Handler + Send>)],
    )
    .map_err(|e| format!("host runtime refused: {e:?}"))?;
    let handle = runtime
        .client(client)
        .map_err(|e| format!("no client handle: {e:?}"))?;
    Ok((runtime, handle, endpoint))
}

/// Measure with the size's number of round trips.
pub fn measure(size: Size) -> Result<Ipc, String> {
    let (per_batch, batches) = match size {
        Size::Small => (2_000, 5),
        Size::Full => (20_000, 15),
    };
    let (_runtime, mut handle, endpoint) = echo_runtime()?;
    let mut floor = PingPong::start();
    let mut reply = [0u8; ballast_ipc::MESSAGE_BYTES];
    let mut call = || {
        handle
            .call(endpoint, black_box(&MESSAGE), None, &mut reply)
            .map(|len| {
                black_box(len);
            })
            .map_err(|e| format!("echo call failed: {e:?}"))
    };
    time_batch(per_batch / 10, &mut call)?;
    time_batch(per_batch / 10, || floor.round_trip())?;
    let mut calls = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..batches {
        calls.push(time_batch(per_batch, &mut call)?);
        floors.push(time_batch(per_batch, || floor.round_trip())?);
    }
    Ok(Ipc {
        per_batch,
        batches,
        runtime_call: median(calls),
        floor: median(floors),
    })
}
