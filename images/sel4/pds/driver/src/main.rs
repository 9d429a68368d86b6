//! The scenario's protection domains: one binary, run by the root task for the control agent and
//! for the test client (the boot-info page says which component a PD is). Both play, through real
//! IPC to the memory server's PD, what the static images' HIL components phase plays on the
//! static runtime: the control agent makes the seed's policy the server's; the test client
//! borrows and returns frames, borrows below 4 GiB (answered late) and dies holding them
//! ([`testclient`]); the control agent waits for that to be over, then moves the balloon target
//! 64 MiB down and back up under both policies, each move checked against the books and Xen's
//! count ([`control`]). Each logs `check` lines and a verdict for the host. Under
//! `scenario=isolation` the test client's last act is to try Xen without a capability and to
//! write into the memory server's memory, and the control agent's, after its verdict, to execute
//! `hvc` ([`isolation`]).
#![no_std]
#![no_main]

mod control;
mod isolation;
mod testclient;

use ballast_sel4_pd_rt::entry::die;
use ballast_sel4_pd_rt::system::COMPOSITION;
use ballast_sel4_pd_rt::Pd;
use ballast_system::Kind;

ballast_sel4_pd_rt::pd_main!(main);

fn main(pd: Pd) -> ! {
    let kind = COMPOSITION
        .components
        .get(usize::from(pd.component))
        .map(|component| component.kind);
    match kind {
        Some(Kind::ControlAgent) => control::run(&pd),
        Some(Kind::DriverClient) => testclient::run(&pd),
        _ => {
            defmt::error!(
                "pd={=str}: the driver plays a control agent or a test client",
                pd.name
            );
            die()
        }
    }
}
