//! The hypercall gateway's protection domain: the composition's gateway (its caller table from
//! the manifest, the memory server owning the RAM the boot-info page names) over the PD's
//! hypercall capabilities, served on the seL4 runtime. The only PD that can reach Xen. Built with
//! feature `hil-test`, it also lets the memory server name the hole the Xen-facts phase populates
//! past the maximum (`ballast_sel4_pd_rt::xen_facts::hole`).
#![no_std]
#![no_main]

use ballast_sel4_pd_rt::entry::die;
use ballast_sel4_pd_rt::system::{self, GATEWAY_REPLIES};
use ballast_sel4_pd_rt::Pd;

ballast_sel4_pd_rt::pd_main!(main);

fn main(pd: Pd) -> ! {
    match system::gateway(&pd) {
        Ok(mut gateway) => {
            let mut runtime = system::server::<GATEWAY_REPLIES>(&pd);
            system::serve(&pd, &mut runtime, &mut gateway)
        }
        Err(error) => {
            defmt::error!(
                "pd={=str} gateway refused: {=str}",
                pd.name,
                error.describe()
            );
            die()
        }
    }
}
