//! The golden output of ballast-idl-gen (`idl-gen/tests/golden/sample.rs`, checked in) compiles
//! against the support module and works end to end: many arguments of every type, explicit
//! padding, bools, enums, read and read-write leases, empty requests and replies.

mod harness;

/// The generated code names `crate::support`.
mod support {
    pub use ballast_interfaces::support::*;
}

#[allow(dead_code)]
mod sample {
    include!("../../idl-gen/tests/golden/sample.rs");
}

use ballast_interfaces::support::{Answer, CallError, ProtocolError, ReadLease, ReadWriteLease};
use ballast_ipc::{Badge, EndpointId, Sys};
use harness::{lease, message, Grants, Loopback};
use sample::{
    ConfigureEverythingReply, ConfigureEverythingRequest, ConfigureEverythingResponder, Mode,
    Priority, ReadBlockReply, ReadBlockResponder, ResetResponder, SampleDeviceClient,
    SampleDeviceError, SampleDeviceOp, SampleDeviceServer, SetModeReply, SetModeReplyBody,
    SetModeRequest, SetModeResponder, TrickyNamesReply, TrickyNamesResponder, WriteBlockResponder,
};
use zerocopy::IntoBytes;

const CLIENT: Badge = Badge(1);

/// A tiny block device: 8-byte blocks kept in memory.
#[derive(Debug, Default)]
struct Device {
    mode: Option<Mode>,
    generation: u64,
    blocks: Vec<[u8; 8]>,
    resets: u32,
}

impl SampleDeviceServer for Device {
    fn reset(&mut self, _sys: &mut dyn Sys, _badge: Badge, reply: ResetResponder) -> Answer {
        self.resets += 1;
        self.blocks.clear();
        reply.ok().into()
    }

    fn configure_everything(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        mode: u8,
        base: u64,
        enabled: bool,
        width: u16,
        height: u32,
        strict: bool,
        reply: ConfigureEverythingResponder,
    ) -> Answer {
        if mode > 3 {
            return reply.err(SampleDeviceError::Unsupported).into();
        }
        self.generation = base + u64::from(width) * u64::from(height) + u64::from(mode);
        let accepted = enabled && !strict;
        reply
            .ok(ConfigureEverythingReply {
                accepted,
                generation: self.generation,
            })
            .into()
    }

    fn read_block(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        block: u64,
        buffer: ReadWriteLease,
        reply: ReadBlockResponder,
    ) -> Answer {
        let (Some(data), Ok(buffer)) = (self.blocks.get(block as usize), buffer.bytes(sys)) else {
            return reply.err(SampleDeviceError::Unsupported).into();
        };
        let n = buffer.len().min(8);
        buffer[..n].copy_from_slice(&data[..n]);
        reply
            .ok(ReadBlockReply {
                bytes_read: n as u32,
            })
            .into()
    }

    fn write_block(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        block: u64,
        sync: bool,
        data: ReadLease,
        reply: WriteBlockResponder,
    ) -> Answer {
        let Ok(data) = data.bytes(sys) else {
            return reply.err(SampleDeviceError::Unsupported).into();
        };
        if !sync || data.len() != 8 {
            return reply.err(SampleDeviceError::Busy).into();
        }
        let index = block as usize;
        if self.blocks.len() <= index {
            self.blocks.resize(index + 1, [0; 8]);
        }
        self.blocks[index].copy_from_slice(data);
        reply.ok().into()
    }

    fn tricky_names(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        op: u8,
        body: u8,
        lease: u8,
        status: u8,
        error: u8,
        token: bool,
        answer: u8,
        responder: u8,
        bytes: u8,
        server: u8,
        message: u8,
        endpoint: u8,
        permissions: u8,
        call: u8,
        arg_token: ReadLease,
        reply: TrickyNamesResponder,
    ) -> Answer {
        let args = [
            op,
            body,
            lease,
            status,
            error,
            answer,
            responder,
            bytes,
            server,
            message,
            endpoint,
            permissions,
            call,
        ];
        let weighted: u16 = args
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u16 + 1) * u16::from(*v))
            .sum();
        let Ok(leased) = arg_token.bytes(sys) else {
            return reply.err(SampleDeviceError::Unsupported).into();
        };
        let leased: u16 = leased.iter().map(|b| u16::from(*b)).sum();
        let sum = weighted + leased + u16::from(token) * 1000;
        reply.ok(TrickyNamesReply { sum }).into()
    }

    fn set_mode(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        mode: Mode,
        priority: Priority,
        reply: SetModeResponder,
    ) -> Answer {
        let previous = self.mode.replace(mode).unwrap_or(Mode::Idle);
        reply.ok(SetModeReply { previous, priority }).into()
    }
}

fn system() -> (Loopback<Device>, SampleDeviceClient) {
    let grants = SampleDeviceOp::ALL
        .iter()
        .map(|op| (CLIENT, sample::INTERFACE_ID, *op as u16))
        .collect();
    let mut lb = Loopback::new(
        Device::default(),
        sample::dispatch::<Device>,
        Grants(grants),
        CLIENT,
    );
    lb.kernel.share(1, CLIENT, 32, true);
    (lb, SampleDeviceClient::new(EndpointId(2)))
}

#[test]
fn padding_is_explicit_and_zero() {
    let request = ConfigureEverythingRequest::new(0xff, u64::MAX, true, u16::MAX, u32::MAX, true);
    let bytes = request.as_bytes();
    assert_eq!(bytes.len(), 32);
    assert_eq!(&bytes[1..8], &[0; 7], "padding after `mode`");
    assert_eq!(bytes[17], 0, "padding after `enabled`");
    assert_eq!(&bytes[25..32], &[0; 7], "tail padding after `strict`");
}

#[test]
fn many_arguments_round_trip() {
    let (mut lb, client) = system();
    let reply = client.configure_everything(&mut lb, 2, 1000, true, 3, 5, false);
    assert_eq!(
        reply,
        Ok(ConfigureEverythingReply {
            accepted: true,
            generation: 1017
        })
    );
    let reply = client.configure_everything(&mut lb, 9, 0, true, 0, 0, false);
    assert_eq!(
        reply,
        Err(CallError::Interface(SampleDeviceError::Unsupported))
    );
}

#[test]
fn leases_in_both_directions_and_empty_messages() {
    let (mut lb, client) = system();
    lb.kernel.regions.get_mut(&1).unwrap().bytes[..8].copy_from_slice(b"ballast!");
    assert_eq!(
        client.write_block(&mut lb, 2, true, lease(1, 0, 8, false)),
        Ok(())
    );
    assert_eq!(
        client.read_block(&mut lb, 2, lease(1, 16, 8, true)),
        Ok(ReadBlockReply { bytes_read: 8 })
    );
    assert_eq!(&lb.kernel.regions[&1].bytes[16..24], b"ballast!");
    assert_eq!(client.reset(&mut lb), Ok(()));
    assert_eq!(lb.server.resets, 1);
    assert_eq!(
        client.read_block(&mut lb, 2, lease(1, 16, 8, false)),
        Err(CallError::Protocol(ProtocolError::LeaseNotWritable))
    );
}

#[test]
fn the_server_died_variant_is_the_one_marked_in_the_idl() {
    let (mut lb, client) = system();
    lb.server_dead = true;
    assert_eq!(
        client.reset(&mut lb),
        Err(CallError::Interface(SampleDeviceError::Restarted))
    );
    assert_eq!(SampleDeviceError::Restarted as u16, 0x7fff);
}

#[test]
fn arguments_named_like_generated_locals_arrive_in_place() {
    let (mut lb, client) = system();
    lb.kernel.regions.get_mut(&1).unwrap().bytes[..3].copy_from_slice(&[5, 6, 7]);
    // Argument i (from 1) is i, so the weighted sum tells any swap apart: sum of i*i for 1..=13.
    let reply = client.tricky_names(
        &mut lb,
        1,
        2,
        3,
        4,
        5,
        true,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        lease(1, 0, 3, false),
    );
    assert_eq!(
        reply,
        Ok(TrickyNamesReply {
            sum: 819 + 18 + 1000
        })
    );
}

#[test]
fn enums_travel_as_their_integers_and_round_trip() {
    let (mut lb, client) = system();
    let request = SetModeRequest::new(Mode::Turbo, Priority::High);
    assert_eq!(request.as_bytes(), &[200, 0, 0, 0, 0, 0, 1, 0][..]);
    assert_eq!(
        client.set_mode(&mut lb, Mode::Turbo, Priority::High),
        Ok(SetModeReply {
            previous: Mode::Idle,
            priority: Priority::High
        })
    );
    assert_eq!(
        client.set_mode(&mut lb, Mode::Busy, Priority::Low),
        Ok(SetModeReply {
            previous: Mode::Turbo,
            priority: Priority::Low
        })
    );
    for mode in Mode::ALL {
        assert_eq!(Mode::try_from(u8::from(mode)), Ok(mode));
    }
    assert_eq!(Mode::try_from(0), Err(0), "zero is reserved");
    assert_eq!(Priority::try_from(2), Err(2));
}

#[test]
fn an_unknown_enum_value_is_a_bad_argument_and_changes_nothing() {
    let (mut lb, _) = system();
    for (mode, priority) in [(0u8, 1u32), (3, 1), (1, 0), (1, 0x10001)] {
        let mut body = SetModeRequest::new(Mode::Idle, Priority::Low)
            .as_bytes()
            .to_vec();
        body[0] = mode;
        body[4..8].copy_from_slice(&priority.to_ne_bytes());
        let op = SampleDeviceOp::SetMode as u16;
        let bytes = message(sample::INTERFACE_ID, op, sample::VERSION, &body);
        let (_, outcome) = lb.deliver(CLIENT, &bytes, None);
        assert_eq!(
            outcome,
            Err(ProtocolError::BadArgument),
            "{mode} {priority}"
        );
    }
    assert_eq!(lb.server.mode, None, "the server never ran");
}

#[test]
fn a_reply_with_an_unknown_enum_value_does_not_decode() {
    let good = SetModeReplyBody::new(&SetModeReply {
        previous: Mode::Busy,
        priority: Priority::Low,
    });
    assert!(good.decode().is_some());
    let mut bytes = good.as_bytes().to_vec();
    bytes[0] = 7;
    let bad = <SetModeReplyBody as zerocopy::FromBytes>::read_from_bytes(&bytes).unwrap();
    assert_eq!(bad.decode(), None);
}
