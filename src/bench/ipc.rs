//! One IPC round trip on the host runtime (an external client calling an echo handler) against
//! the floor: a bare ping-pong over two std channels between two threads. Batches of each
//! alternate in the same run (which side goes first alternates too); each pair of batches gives
//! a ratio, and the figure is the median ratio with the smallest and largest.

use std::hint::black_box;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ballast_ipc::host::{ClientHandle, HostRuntime};
use ballast_ipc::{
    Badge, ComponentKind, EndpointId, Handler, IncomingCall, NotificationBits, Sys, TablesBuilder,
};

use super::options::Size;
use crate::spread::Spread;

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
#[derive(Debug, Clone, PartialEq)]
pub struct Ipc {
    /// Round trips per batch.
    pub per_batch: u32,
    /// Each pair of batches: the time of one runtime call and of one bare ping-pong.
    pub pairs: Vec<(Duration, Duration)>,
}

impl Ipc {
    /// Runtime call over the floor, over the pairs.
    pub fn ratio(&self) -> Spread {
        Spread::of(
            (self.pairs.iter())
                .map(|(call, floor)| call.as_secs_f64() / floor.as_secs_f64().max(1e-12)),
        )
    }

    /// A runtime call, microseconds, over the pairs.
    pub fn runtime_call_us(&self) -> Spread {
        Spread::of(self.pairs.iter().map(|(call, _)| call.as_secs_f64() * 1e6))
    }

    /// A bare ping-pong, microseconds, over the pairs.
    pub fn floor_us(&self) -> Spread {
        Spread::of(
            self.pairs
                .iter()
                .map(|(_, floor)| floor.as_secs_f64() * 1e6),
        )
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
    let mut pairs = Vec::new();
    for batch in 0..batches {
        let pair = if batch % 2 == 0 {
            let runtime = time_batch(per_batch, &mut call)?;
            (runtime, time_batch(per_batch, || floor.round_trip())?)
        } else {
            let bare = time_batch(per_batch, || floor.round_trip())?;
            (time_batch(per_batch, &mut call)?, bare)
        };
        pairs.push(pair);
    }
    Ok(Ipc { per_batch, pairs })
}
