//! A stand-in server's protection domain: it serves the Echo interface to the test client, which
//! the manifest grants `sum` only, an op whose lease is read-only, so the root task maps the
//! region the test client lends it read-only here (`ballast_sel4_plan`'s region mappings). It
//! sums the lent bytes through the runtime. Built with feature `hil-test` and booted with
//! `scenario=isolation` (`ballast hil --kernel sel4 --scenario isolation`), it is the server built
//! to try: while the call is in hand (the lease outstanding) it writes straight into the lent
//! bytes where they are mapped, past the runtime's read-only copy. The store is a VM fault: the
//! root task logs it, restarts the thread for its last rites, and the test client's call
//! fails with `ServerRestarted`. Were the mapping writable, the store would go through, and the
//! PD says so with a failing check before it dies.
#![no_std]
#![no_main]

use ballast_interfaces::echo::{
    self, EchoError, EchoResponder, EchoServer, FillResponder, ReleaseResponder, SumReply,
    SumResponder, WaitResponder,
};
use ballast_interfaces::support::{Answer, ReadLease, ReadWriteLease};
use ballast_ipc::{Badge, Handler, IncomingCall, NotificationBits, Sys};
use ballast_sel4_pd_rt::entry::{die, write_forbidden_and_die};
use ballast_sel4_pd_rt::system::{self, COMPOSITION, IMMEDIATE_REPLIES};
use ballast_sel4_pd_rt::Pd;
use ballast_system::ManifestPermissions;

ballast_sel4_pd_rt::pd_main!(main);

fn main(pd: Pd) -> ! {
    let mut runtime = system::server::<IMMEDIATE_REPLIES>(&pd);
    let mut handler = StandIn {
        permissions: ManifestPermissions::new(&COMPOSITION, pd.component),
        server: Summer {
            pd,
            tries_writing: cfg!(feature = "hil-test")
                && pd.command_line().value("scenario") == Some("isolation"),
        },
    };
    system::serve(&pd, &mut runtime, &mut handler)
}

/// The generated dispatch of Echo with the manifest's permissions, over [`Summer`].
struct StandIn {
    permissions: ManifestPermissions,
    server: Summer,
}

impl Handler for StandIn {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        // A call dispatch rejects (an op the manifest does not grant) has been answered with its
        // protocol error.
        let _ = echo::dispatch(&mut self.server, sys, call, &self.permissions);
    }

    fn notified(&mut self, _sys: &mut dyn Sys, _bits: NotificationBits) {}

    fn client_died(&mut self, _sys: &mut dyn Sys, _badge: Badge) {}
}

/// Sums a read-only lease; refuses every other op (the manifest grants none of them, so dispatch
/// refuses them first).
struct Summer {
    pd: Pd,
    /// Whether it is the server built to try (feature `hil-test`, `scenario=isolation`).
    tries_writing: bool,
}

impl EchoServer for Summer {
    fn echo(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        _value: u32,
        _flag: bool,
        reply: EchoResponder,
    ) -> Answer {
        reply.err(EchoError::Refused).into()
    }

    fn sum(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        bytes: ReadLease,
        reply: SumResponder,
    ) -> Answer {
        if self.tries_writing {
            try_writing(&self.pd, &bytes)
        }
        match bytes.bytes(sys) {
            Ok(lent) => {
                let total = lent.iter().map(|&byte| u64::from(byte)).sum();
                reply.ok(SumReply { total }).into()
            }
            Err(_) => reply.err(EchoError::Refused).into(),
        }
    }

    fn fill(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        _byte: u8,
        _target: ReadWriteLease,
        reply: FillResponder,
    ) -> Answer {
        reply.err(EchoError::Refused).into()
    }

    fn wait(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        _note: ReadWriteLease,
        reply: WaitResponder,
    ) -> Answer {
        reply.err(EchoError::Refused).into()
    }

    fn release(&mut self, _sys: &mut dyn Sys, _badge: Badge, reply: ReleaseResponder) -> Answer {
        reply.err(EchoError::Refused).into()
    }
}

/// The stand-in's try: write into the first lent word where the root task mapped the lent region
/// in this PD, while the call is in hand; logs the address and whether the plan maps it
/// read-only first. The PD faults there (or, were the write allowed, says so and dies).
fn try_writing(pd: &Pd, lease: &ReadLease) -> ! {
    let descriptor = lease.descriptor();
    let mapping =
        (pd.plan.region_mappings(pd.component)).find(|mapping| mapping.region == descriptor.region);
    let Some(mapping) = mapping else {
        defmt::error!(
            "check context=isolation name=lent_region_mapped ok=false region={=u16}",
            descriptor.region
        );
        die()
    };
    let address = mapping.address + u64::from(descriptor.offset);
    defmt::info!(
        "check context=isolation name=lease_mapped_read_only ok={=bool}",
        !mapping.writable
    );
    defmt::info!(
        "write_into_read_only_lease address={=u64:#x} region={=u16} len={=u32}",
        address,
        descriptor.region,
        descriptor.len
    );
    write_forbidden_and_die(address, || {
        defmt::error!(
            "check context=isolation name=read_only_lease_write_faulted ok=false address={=u64:#x}",
            address
        );
    })
}
