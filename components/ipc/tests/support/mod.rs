//! The handlers and composition both runtime test suites run unchanged: a demo server (echo,
//! per-badge counters, deferred replies, timers, leases, forwarding), a second server behind it,
//! and a pinger component that lends its own region when notified.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ballast_ipc::{
    Badge, ComponentId, ComponentKind, EndpointId, Handler, IncomingCall, IpcError,
    LeaseDescriptor, LeaseId, MessageHeader, NotificationBits, ReplyToken, Sys, TablesBuilder,
};
use zerocopy::{FromBytes, IntoBytes};

pub const INTERFACE: u16 = 0x0d30;
pub const VERSION: u16 = 1;

pub const OP_ECHO: u16 = 1;
/// Body: u32 to add to the caller's counter. Reply: the counter as u64.
pub const OP_ADD: u16 = 2;
/// Deferred until the server is notified with [`RELEASE`].
pub const OP_HOLD: u16 = 3;
/// Body: u64 deadline. Deferred until the timer fires; reply: the time then, u64.
pub const OP_SLEEP: u16 = 4;
/// Sums the lease's bytes (u64), then scribbles over the slice it was given.
pub const OP_SUM: u16 = 5;
/// Body: one byte to fill the (writable) lease with.
pub const OP_FILL: u16 = 6;
/// Body: a whole request, passed on to the server's first endpoint; reply: its reply.
pub const OP_FORWARD: u16 = 7;

/// The notification bit that releases held calls.
pub const RELEASE: NotificationBits = NotificationBits(1);
/// The notification bit that makes the pinger call.
pub const PING: NotificationBits = NotificationBits(2);

/// Every client's call endpoint to the demo server.
pub const CALL: EndpointId = EndpointId(0);
/// Every client's notification capability to the demo server.
pub const SIGNAL_SERVER: EndpointId = EndpointId(1);
/// Every client's notification capability to the pinger.
pub const SIGNAL_PINGER: EndpointId = EndpointId(2);

pub const REGION_BYTES: u32 = 256;
pub const PINGER_BADGE: Badge = Badge(50);
const PINGER_REGION: LeaseId = LeaseId(1000);

/// A request: header then body.
pub fn request(op: u16, body: &[u8]) -> Vec<u8> {
    let header = MessageHeader {
        interface: INTERFACE,
        op_or_status: op,
        version: VERSION,
        body_len: body.len() as u16,
    };
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

/// A reply's status and body.
pub fn parse_reply(bytes: &[u8]) -> (u16, Vec<u8>) {
    let (header, body) = MessageHeader::read_from_prefix(bytes).expect("reply has a header");
    (
        header.op_or_status,
        body[..usize::from(header.body_len)].to_vec(),
    )
}

pub fn u64_body(body: &[u8]) -> u64 {
    u64::from_le_bytes(body.try_into().expect("an u64 body"))
}

/// A lease descriptor.
pub fn lease(region: LeaseId, writable: bool, offset: u32, len: u32) -> LeaseDescriptor {
    LeaseDescriptor {
        region: region.0,
        writable: u16::from(writable),
        offset,
        len,
        reserved: 0,
    }
}

/// What the handlers saw, for tests to inspect from outside any runtime.
#[derive(Debug, Default)]
pub struct Observed {
    pub held: usize,
    /// The demo server's counters, summed.
    pub total: u64,
    pub died: Vec<Badge>,
    pub notified: Vec<u32>,
    pub pinger_sums: Vec<Result<u64, u16>>,
}

#[derive(Clone, Debug, Default)]
pub struct Probe(Arc<Mutex<Observed>>);

impl Probe {
    pub fn get(&self) -> MutexGuard<'_, Observed> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A reply with `status` (0 ok, else an error code) and `body`.
pub fn reply_bytes(status: u16, body: &[u8]) -> Vec<u8> {
    let header = MessageHeader {
        interface: INTERFACE,
        op_or_status: status,
        version: VERSION,
        body_len: body.len() as u16,
    };
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

/// The status a failed kernel operation is reported as.
pub fn status_of(error: IpcError) -> u16 {
    error as u16
}

/// The demo server.
#[derive(Debug, Default)]
pub struct DemoServer {
    probe: Probe,
    counters: BTreeMap<Badge, u64>,
    held: Vec<ReplyToken>,
    sleeping: Vec<(u64, ReplyToken)>,
}

impl DemoServer {
    pub fn new(probe: Probe) -> DemoServer {
        DemoServer {
            probe,
            ..DemoServer::default()
        }
    }

    /// The sum of every caller's counter.
    pub fn total(&self) -> u64 {
        self.counters.values().sum()
    }

    fn serve(
        &mut self,
        sys: &mut dyn Sys,
        call: &IncomingCall<'_>,
        op: u16,
        body: &[u8],
    ) -> Result<Vec<u8>, IpcError> {
        match op {
            OP_ECHO => Ok(body.to_vec()),
            OP_ADD => {
                let amount = u32::read_from_bytes(body).map_err(|_| IpcError::MessageTooLong)?;
                let counter = self.counters.entry(call.badge).or_default();
                *counter += u64::from(amount);
                let reply = counter.to_le_bytes().to_vec();
                self.probe.get().total = self.total();
                Ok(reply)
            }
            OP_SUM => {
                let lease = call.lease.ok_or(IpcError::BadLease)?;
                let bytes = sys.lease_bytes(call.badge, &lease)?;
                let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
                bytes.fill(0xee);
                Ok(sum.to_le_bytes().to_vec())
            }
            OP_FILL => {
                let lease = call.lease.ok_or(IpcError::BadLease)?;
                let value = *body.first().ok_or(IpcError::MessageTooLong)?;
                sys.lease_bytes(call.badge, &lease)?.fill(value);
                Ok(Vec::new())
            }
            OP_FORWARD => {
                let mut reply = [0u8; 128];
                let len = sys.call(CALL, body, None, &mut reply)?;
                Ok(reply[..len].to_vec())
            }
            _ => Err(IpcError::NoSuchEndpoint),
        }
    }
}

impl Handler for DemoServer {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        let Ok((header, rest)) = MessageHeader::read_from_prefix(call.message) else {
            sys.reply(
                call.reply,
                &reply_bytes(status_of(IpcError::MessageTooLong), &[]),
            );
            return;
        };
        let body = rest
            .get(..usize::from(header.body_len))
            .unwrap_or(rest)
            .to_vec();
        match header.op_or_status {
            OP_HOLD => {
                self.held.push(call.reply);
                self.probe.get().held = self.held.len();
            }
            OP_SLEEP => {
                let deadline = u64::read_from_bytes(&body[..]).unwrap_or(0);
                let earliest = self
                    .sleeping
                    .iter()
                    .map(|(d, _)| *d)
                    .chain([deadline])
                    .min()
                    .unwrap_or(deadline);
                self.sleeping.push((deadline, call.reply));
                sys.set_timer(earliest);
            }
            op => {
                let reply = match self.serve(sys, &call, op, &body) {
                    Ok(body) => reply_bytes(0, &body),
                    Err(error) => reply_bytes(status_of(error), &[]),
                };
                sys.reply(call.reply, &reply);
            }
        }
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        self.probe.get().notified.push(bits.0);
        if bits.contains(RELEASE) {
            let released = self.held.len() as u32;
            for token in self.held.drain(..) {
                sys.reply(token, &reply_bytes(0, &released.to_le_bytes()));
            }
            self.probe.get().held = 0;
        }
        if bits.contains(NotificationBits::TIMER) {
            let now = sys.now_ns();
            let (due, later): (Vec<_>, Vec<_>) =
                self.sleeping.drain(..).partition(|(d, _)| *d <= now);
            self.sleeping = later;
            for (_, token) in due {
                sys.reply(token, &reply_bytes(0, &now.to_le_bytes()));
            }
            if let Some(next) = self.sleeping.iter().map(|(d, _)| *d).min() {
                sys.set_timer(next);
            }
        }
    }

    fn client_died(&mut self, _sys: &mut dyn Sys, badge: Badge) {
        self.counters.remove(&badge);
        self.probe.get().died.push(badge);
    }
}

/// A component that, when pinged, fills its own region and lends it to the demo server to sum.
#[derive(Debug, Default)]
pub struct Pinger {
    probe: Probe,
}

impl Pinger {
    pub fn new(probe: Probe) -> Pinger {
        Pinger { probe }
    }
}

impl Handler for Pinger {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        sys.reply(
            call.reply,
            &reply_bytes(status_of(IpcError::NoSuchEndpoint), &[]),
        );
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        if !bits.contains(PING) {
            return;
        }
        let Some(region) = sys.own_region(PINGER_REGION) else {
            self.probe.get().pinger_sums.push(Err(0));
            return;
        };
        region[..10].fill(3);
        let mut reply = [0u8; 64];
        let lent = lease(PINGER_REGION, false, 0, 10);
        let outcome = match sys.call(CALL, &request(OP_SUM, &[]), Some(lent), &mut reply) {
            Ok(len) => match parse_reply(&reply[..len]) {
                (0, body) => Ok(u64_body(&body)),
                (status, _) => Err(status),
            },
            Err(error) => Err(status_of(error)),
        };
        self.probe.get().pinger_sums.push(outcome);
    }

    fn client_died(&mut self, _sys: &mut dyn Sys, _badge: Badge) {}
}

/// The test system: a demo server, a second demo server behind it (its first endpoint), a
/// pinger, and external clients. Client `i` calls with badge `100 + i`, owns region `i`
/// (shared writable with the server), region `100 + i` (shared read-only) and region `200 + i`
/// (not shared).
#[derive(Debug)]
pub struct Demo {
    /// The tables, built and checked once here; each runtime takes them its way.
    pub builder: TablesBuilder,
    pub server: ComponentId,
    pub backend: ComponentId,
    pub pinger: ComponentId,
    pub clients: Vec<ComponentId>,
}

pub fn client_badge(i: usize) -> Badge {
    Badge(100 + i as u32)
}

pub fn writable_region(i: usize) -> LeaseId {
    LeaseId(i as u16)
}

pub fn read_only_region(i: usize) -> LeaseId {
    LeaseId(100 + i as u16)
}

pub fn private_region(i: usize) -> LeaseId {
    LeaseId(200 + i as u16)
}

pub fn demo(clients: usize) -> Demo {
    let mut builder = TablesBuilder::new();
    let server = builder.component("server", ComponentKind::Handler);
    let backend = builder.component("backend", ComponentKind::Handler);
    let pinger = builder.component("pinger", ComponentKind::Handler);
    assert_eq!(builder.endpoint(server, backend, Badge(1)), CALL);
    assert_eq!(builder.endpoint(pinger, server, PINGER_BADGE), CALL);
    builder
        .region(PINGER_REGION, REGION_BYTES, pinger)
        .share(PINGER_REGION, server, false);
    let clients = (0..clients)
        .map(|i| {
            let client = builder.component(&format!("client{i}"), ComponentKind::External);
            assert_eq!(builder.endpoint(client, server, client_badge(i)), CALL);
            assert_eq!(builder.notification(client, server, RELEASE), SIGNAL_SERVER);
            assert_eq!(builder.notification(client, pinger, PING), SIGNAL_PINGER);
            builder
                .region(writable_region(i), REGION_BYTES, client)
                .share(writable_region(i), server, true);
            builder
                .region(read_only_region(i), REGION_BYTES, client)
                .share(read_only_region(i), server, false);
            builder.region(private_region(i), REGION_BYTES, client);
            client
        })
        .collect();
    builder.build().expect("the demo tables are valid");
    Demo {
        builder,
        server,
        backend,
        pinger,
        clients,
    }
}
