//! The backend driver of the composition, played by the app in its place (its capabilities, its
//! badges, its regions): the manifest's driver client that may map grants. Each grant offer the
//! toolstack agent relays is served by `ballast-grant-backend` over the frames of the lending
//! range (`backend_frames`, the image's mapping of it). In mode `die-mapped` the backend stops
//! holding its grants and the app kills it on the static runtime: the gateway unmaps what it
//! left mapped and the memory server takes the frames back, which the app checks by reading
//! each frame (one that still held the granter's page would read its pattern; an unmapped,
//! unpopulated frame reads all ones). A dead backend answers every later offer `error:BackendDead`.
//! After each round the gateway's own grant counters for it are logged (`gateway phase=grant_round`).

use core::cell::Cell;

use ballast_balloon_client::Balloon;
use ballast_frame_access::{FrameMemory, Read};
use ballast_grant_backend::{Backend, GrantedFrames, Served, GRANT_REGION_BYTES};
use ballast_grant_offer::{Answer, Name, Offer, Outcome};
use ballast_hypercall::Counters;
use ballast_ipc::{static_rt, ComponentId};
use ballast_system::Kind;
use ballast_xen::Gfn;

use crate::composition::{self, COMPOSITION};
use crate::system::{GrantFigures, Runtime, SetupError};

/// A word of a frame nothing backs (PVH Xen emulates it): the frame holds no grant.
const UNBACKED_WORD: u64 = u64::MAX;

/// The backend's frame access, through the image's [`FrameMemory`].
#[derive(Debug)]
struct Frames<B: FrameMemory>(B);

impl<B: FrameMemory> GrantedFrames for Frames<B> {
    fn read(&self, gfn: u64, index: usize) -> Option<u64> {
        match self.0.read(Gfn(gfn), index) {
            Ok(Read::Word(word)) => Some(word),
            Ok(Read::Aborted(_)) | Err(_) => None,
        }
    }

    fn write(&mut self, gfn: u64, index: usize, word: u64) -> Option<()> {
        self.0.write(Gfn(gfn), index, word).ok()
    }
}

/// The backend component, its frames, and the gateway's grant counters.
#[derive(Debug)]
pub struct Driver<'f, B: FrameMemory> {
    id: ComponentId,
    backend: Backend,
    frames: Frames<B>,
    alive: bool,
    figures: &'f Cell<GrantFigures>,
}

/// Log what the gateway counted for `op` during a round: `after` less `before`.
fn log_gateway_op(round: u32, op: &str, before: &Counters, after: &Counters) {
    defmt::info!(
        "gateway phase=grant_round round={=u32} op={=str} calls={=u64} hypercalls={=u64} entries={=u64} done={=u64} refusals={=u64}",
        round,
        op,
        after.calls.saturating_sub(before.calls),
        after.hypercalls.saturating_sub(before.hypercalls),
        after.grant_entries.saturating_sub(before.grant_entries),
        after.grant_entries_done.saturating_sub(before.grant_entries_done),
        after.rejections.total().saturating_sub(before.rejections.total())
    );
}

/// An answer that is only an outcome (nothing was borrowed): `error:<what>`.
pub fn outcome_only(offer: &Offer, what: &str) -> Answer {
    let mut name = Name::new();
    let _ = name.push_str(what);
    Answer::before_any_step(offer.round, offer.refs.len() as u32, Outcome::Error(name))
}

impl<'f, B: FrameMemory> Driver<'f, B> {
    /// The composition's backend (the driver client holding a gateway capability) over
    /// `frames`, logging the gateway's grant counters from `figures` after each round; `None`
    /// if the manifest has none.
    pub fn new(
        frames: B,
        figures: &'f Cell<GrantFigures>,
    ) -> Result<Option<Driver<'f, B>>, SetupError> {
        let memory = composition::component(Kind::MemoryServer)?;
        let gateway = composition::component(Kind::HypercallGateway)?;
        let found = COMPOSITION
            .components
            .iter()
            .filter(|component| component.kind == Kind::DriverClient)
            .map(|component| ComponentId(component.id))
            .find(|&id| composition::endpoint(id, gateway).is_ok());
        let Some(id) = found else {
            return Ok(None);
        };
        let (to_memory, _) = composition::endpoint(id, memory)?;
        let (to_gateway, _) = composition::endpoint(id, gateway)?;
        let (runs, runs_len) = COMPOSITION
            .lease(id.0, memory.0)
            .ok_or(SetupError::Wiring)?;
        let (grants, grants_len) = COMPOSITION
            .lease(id.0, gateway.0)
            .ok_or(SetupError::Wiring)?;
        if (grants_len as usize) < GRANT_REGION_BYTES {
            defmt::error!(
                "the backend's grant region holds {=u32} bytes, a batch needs {=usize}",
                grants_len,
                GRANT_REGION_BYTES
            );
            return Err(SetupError::Capacity);
        }
        let balloon = Balloon::new(to_memory, runs, runs_len);
        Ok(Some(Driver {
            id,
            backend: Backend::new(balloon, to_gateway, grants),
            frames: Frames(frames),
            alive: true,
            figures,
        }))
    }

    /// Serve `offer` as the backend (kill it if the offer asked it to die holding its grants),
    /// and log the gateway's grant counters for the round.
    pub fn serve<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        offer: &Offer,
    ) -> Answer {
        let before = self.figures.get();
        let answer = self.serve_round(rt, offer);
        let after = self.figures.get();
        log_gateway_op(offer.round, "grant_map", &before.map, &after.map);
        log_gateway_op(offer.round, "grant_unmap", &before.unmap, &after.unmap);
        answer
    }

    fn serve_round<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        offer: &Offer,
    ) -> Answer {
        if !self.alive {
            return outcome_only(offer, "BackendDead");
        }
        let served = match rt.external(self.id) {
            Ok(mut sys) => self.backend.serve(&mut sys, &mut self.frames, offer),
            Err(_) => return outcome_only(offer, "BackendUnreachable"),
        };
        match served {
            Served::Answered(answer) => answer,
            Served::HoldingGrants { round, loan } => {
                let frames = loan.frames() as u32;
                if rt.kill(self.id).is_err() {
                    return outcome_only(offer, "KillRefused");
                }
                self.alive = false;
                defmt::warn!(
                    "backend at=killed round={=u32} frames={=u32} (grants mapped)",
                    round,
                    frames
                );
                let unmapped = loan
                    .gfns()
                    .filter(|&gfn| self.frames.read(gfn, 0) == Some(UNBACKED_WORD))
                    .count() as u32;
                let pages = offer.refs.len() as u32;
                let died = Outcome::Died { unmapped };
                Answer {
                    mapped: frames,
                    ..Answer::before_any_step(round, pages, died)
                }
            }
        }
    }
}
