//! The control agent's and the test client's protection domains: one binary, run by the root task
//! for both (the boot-info page says which component a PD is). In the product (without the
//! feature `hil-test`), the control agent balloons to the boot target, reports the books and
//! serves as the memory-server app does, and the test client blocks ([`product`]). Under
//! `hil-test` (`ballast hil --kernel sel4`), both play, through real
//! IPC to the memory server's PD, what the static images' HIL components phase plays on the
//! static runtime: the control agent first times the raw seL4 round trip to the memory server
//! against the generated one ([`costs`]), then makes the seed's policy the server's; the test
//! client, once told go, times borrowing and giving back one frame, borrows and returns frames,
//! borrows below 4 GiB (answered late) and dies holding them ([`testclient`]); the control agent waits for that to be over, then moves the balloon target
//! 64 MiB down and back up under both policies, each move checked against the books and Xen's
//! count ([`control`]). Each logs `check` lines and a verdict for the host. Under
//! `scenario=isolation` the test client's last act is to try Xen without a capability and to
//! write into the memory server's memory, and the control agent's, after its verdict, to execute
//! `hvc` ([`isolation`]). Under `scenario=server-death` the memory server's PD dies holding the
//! control agent's first call, and both find their calls answered `ServerRestarted`
//! ([`server_death`]).
#![no_std]
#![no_main]

#[cfg(feature = "hil-test")]
mod control;
#[cfg(feature = "hil-test")]
mod costs;
#[cfg(feature = "hil-test")]
mod isolation;
#[cfg(not(feature = "hil-test"))]
mod product;
#[cfg(feature = "hil-test")]
mod server_death;
#[cfg(feature = "hil-test")]
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
        #[cfg(feature = "hil-test")]
        Some(Kind::ControlAgent) => control::run(&pd),
        #[cfg(feature = "hil-test")]
        Some(Kind::DriverClient) => testclient::run(&pd),
        #[cfg(not(feature = "hil-test"))]
        Some(Kind::ControlAgent) => product::control(&pd),
        #[cfg(not(feature = "hil-test"))]
        Some(Kind::DriverClient) => product::test_client(),
        _ => {
            defmt::error!(
                "pd={=str}: the driver plays a control agent or a test client",
                pd.name
            );
            die()
        }
    }
}
