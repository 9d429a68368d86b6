//! The memory server's protection domain: the composition's memory server over the RAM the
//! boot-info page names (mapped in its RAM window, scrubbed there), served on the seL4 runtime;
//! its batches go to the gateway PD over IPC, the frame lists in the region they share.
#![no_std]
#![no_main]

use ballast_sel4_pd_rt::entry::die;
use ballast_sel4_pd_rt::system::{self, MemoryParts, MEMORY_REPLIES};
use ballast_sel4_pd_rt::Pd;

ballast_sel4_pd_rt::pd_main!(main);

fn main(pd: Pd) -> ! {
    let refused = match MemoryParts::of(&pd) {
        Ok(mut parts) => match system::memory_server(&mut parts) {
            Ok(mut server) => {
                defmt::info!("pd={=str} ram_runs={=u16}", pd.name, pd.boot.ram_run_count);
                system::serve::<MEMORY_REPLIES>(&pd, &mut server)
            }
            Err(error) => error,
        },
        Err(error) => error,
    };
    defmt::error!(
        "pd={=str} memory server refused: {=str}",
        pd.name,
        refused.describe()
    );
    die()
}
