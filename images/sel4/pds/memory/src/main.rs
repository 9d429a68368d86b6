//! The memory server's protection domain: the composition's memory server over the RAM the
//! boot-info page names (mapped in its RAM window, scrubbed there), served on the seL4 runtime;
//! its batches go to the gateway PD over IPC, the frame lists in the region they share. Built with
//! feature `hil-test` (`ballast hil --kernel sel4`), it first plays the HIL test app's Xen-facts
//! phase through the gateway PD, with its own badge and region (`ballast_sel4_pd_rt::xen_facts`),
//! and builds the server after it, then answers the control agent's cost round trips (raw, through
//! the generated dispatch to a handler that only answers, and through the server's own handler,
//! taking turns: `ballast_sel4_pd_rt::costs`) before it serves; under `scenario=server-death` it
//! measures nothing and dies holding the control agent's first call instead ([`server_death`]).
#![no_std]
#![no_main]

use ballast_sel4_pd_rt::entry::die;
use ballast_sel4_pd_rt::system::{self, MemoryParts, MEMORY_REPLIES};
use ballast_sel4_pd_rt::Pd;
use ballast_system::AssemblyError;

#[cfg(feature = "hil-test")]
mod server_death;

ballast_sel4_pd_rt::pd_main!(main);

fn main(pd: Pd) -> ! {
    let mut parts = MemoryParts::of(&pd).unwrap_or_else(|error| refused(&pd, error));
    let mut runtime = system::server::<MEMORY_REPLIES>(&pd);
    #[cfg(feature = "hil-test")]
    ballast_sel4_pd_rt::xen_facts::play(&pd, &mut parts, &mut runtime.sys());
    match system::memory_server(&mut parts) {
        Ok(mut server) => {
            defmt::info!("pd={=str} ram_runs={=u16}", pd.name, pd.boot.ram_run_count);
            #[cfg(feature = "hil-test")]
            if server_death::chosen(&pd) {
                let stats = server.core().stats();
                let books = (stats.current_pages, stats.total_pages);
                let mut dying = server_death::DiesMidRequest::new(&pd, &mut server, books);
                system::serve(&pd, &mut runtime, &mut dying)
            } else {
                respond_to_costs(&pd, &mut runtime, &mut server);
            }
            system::serve(&pd, &mut runtime, &mut server)
        }
        Err(error) => refused(&pd, error),
    }
}

/// Answer the control agent's cost round trips, if it holds a capability to this server.
#[cfg(feature = "hil-test")]
fn respond_to_costs(
    pd: &Pd,
    runtime: &mut system::PdServer<MEMORY_REPLIES>,
    server: &mut system::PdMemoryServer<'_>,
) {
    use ballast_sel4_pd_rt::system::COMPOSITION;
    let control = COMPOSITION.first_of(ballast_system::Kind::ControlAgent);
    match control.and_then(|control| COMPOSITION.capability(control.id, pd.component)) {
        Some((_, badge)) => {
            let mut standin = ballast_sel4_pd_rt::costs::AnswerStats::new(pd);
            ballast_sel4_pd_rt::costs::respond(runtime, (&mut standin, server), badge);
        }
        None => defmt::error!("pd={=str} no control agent calls it: no costs", pd.name),
    }
}

/// Log why the memory server could not be built, and die.
fn refused(pd: &Pd, error: AssemblyError) -> ! {
    defmt::error!(
        "pd={=str} memory server refused: {=str}",
        pd.name,
        error.describe()
    );
    die()
}
