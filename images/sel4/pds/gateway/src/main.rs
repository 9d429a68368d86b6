//! The hypercall gateway's protection domain: the composition's gateway (its caller table from
//! the manifest, the memory server owning the RAM the boot-info page names) over the PD's
//! hypercall capabilities, served on the seL4 runtime. The only PD that can reach Xen.
#![no_std]
#![no_main]

use ballast_sel4_pd_rt::entry::die;
use ballast_sel4_pd_rt::system::{self, GATEWAY_REPLIES};
use ballast_sel4_pd_rt::Pd;

ballast_sel4_pd_rt::pd_main!(main);

fn main(pd: Pd) -> ! {
    match system::gateway(&pd) {
        Ok(mut gateway) => system::serve::<GATEWAY_REPLIES>(&pd, &mut gateway),
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
