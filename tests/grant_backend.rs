//! The backend driver component `ballast-grant-backend` through the real components
//! (`manifests/sim-grants.toml` on the deterministic runtime over xen-sim): a frontend domain
//! grants pages holding the handshake's pattern and offers them; the backend borrows frames, maps
//! the grants into them in one batch, checks every word, answers into each page, unmaps and gives
//! the frames back. Then every mode and failure the dom0 run plays on real Xen: a revoked
//! reference, a granting domain the manifest does not list, a frame the backend did not borrow, a
//! give-back while mapped, and the backend dying with its grants mapped. After each round nothing
//! is mapped, nothing is lent, and the frontend's pages hold what the round says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ballast::composition::SIM_GRANTS;
use ballast::system::{self, MemoryHandler};
use ballast_balloon_client::Balloon;
use ballast_grant_backend::{Backend, GrantedFrames, Served};
use ballast_grant_offer::{answer, pattern, Answer, Mode, Offer, Outcome, WORDS_PER_PAGE};
use ballast_ipc::deterministic::{DeterministicRuntime, SimHandler};
use ballast_ipc::{Badge, ComponentId, EndpointId, Handler, IncomingCall, NotificationBits, Sys};
use ballast_xen_sim::{DomId, DomainConfig, XenSim};

mod doorbell;
use doorbell::{with_doorbell, DOORBELL};

const STEP_LIMIT: u64 = 1_000_000;
/// The doorbell bit that makes the backend serve the offer in its mailbox.
const OFFER: NotificationBits = NotificationBits(1);
/// The frontend's domain: the one the manifest lets the backend map from.
const FRONTEND: DomId = DomId(2);

/// The frontend's granted pages, as the test keeps them: xen-sim models one word per page, the
/// handshake needs 512, so the words live here, keyed by grant reference, and the backend reaches
/// them through the mapping xen-sim records at its gfn.
#[derive(Debug, Default)]
struct FrontendPages {
    words: HashMap<u32, Vec<u64>>,
}

/// The backend's frame access: a gfn reaches the frontend page whose grant xen-sim maps there.
struct SimFrames {
    xen: XenSim,
    guest: DomId,
    pages: Arc<Mutex<FrontendPages>>,
}

impl GrantedFrames for SimFrames {
    fn read(&self, gfn: u64, index: usize) -> Option<u64> {
        let (_, grant_ref) = self.xen.grant_mapped_at(self.guest, gfn)?;
        let pages = self.pages.lock().unwrap();
        pages.words.get(&grant_ref)?.get(index).copied()
    }

    fn write(&mut self, gfn: u64, index: usize, word: u64) -> Option<()> {
        let (_, grant_ref) = self.xen.grant_mapped_at(self.guest, gfn)?;
        let mut pages = self.pages.lock().unwrap();
        *pages.words.get_mut(&grant_ref)?.get_mut(index)? = word;
        Some(())
    }
}

/// The backend component: serves the offer in the mailbox when rung, leaves what it served.
struct PlayedBackend {
    backend: Backend,
    frames: SimFrames,
    mailbox: Arc<Mutex<(Option<Offer>, Option<Served>)>>,
}

impl Handler for PlayedBackend {
    fn protected(&mut self, _: &mut dyn Sys, _: IncomingCall<'_>) {}

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        if !bits.contains(OFFER) {
            return;
        }
        let offer = self.mailbox.lock().unwrap().0.take();
        if let Some(offer) = offer {
            let served = self.backend.serve(sys, &mut self.frames, &offer);
            self.mailbox.lock().unwrap().1 = Some(served);
        }
    }

    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

/// The system of `sim-grants.toml` with the played backend, rung by the toolstack component.
struct System {
    runtime: DeterministicRuntime,
    xen: XenSim,
    guest: DomId,
    memory: ComponentId,
    backend: ComponentId,
    toolstack: ComponentId,
    doorbell: EndpointId,
    mailbox: Arc<Mutex<(Option<Offer>, Option<Served>)>>,
    pages: Arc<Mutex<FrontendPages>>,
    rounds: u32,
}

impl System {
    fn new(seed: u64) -> System {
        let composition = &SIM_GRANTS;
        let parts = system::build(composition, None, seed).unwrap();
        let id = |name: &str| composition.component(name).unwrap().id;
        let (backend, toolstack, gateway) = (id("backend"), id("toolstack"), id("gateway"));
        let balloon_cap = (parts.map.clients.iter())
            .find(|cap| cap.name == "backend")
            .unwrap()
            .clone();
        let (to_gateway, _) = composition.capability(backend, gateway).unwrap();
        let (grants, _) = composition.lease(backend, gateway).unwrap();
        let checked = with_doorbell(&composition.ipc, toolstack, backend, true);
        let (xen, guest, memory) = (parts.map.xen.clone(), parts.map.dom, parts.map.memory);
        let pages = Arc::new(Mutex::new(FrontendPages::default()));
        let mailbox = Arc::new(Mutex::new((None, None)));
        let (region, size) = balloon_cap.region.unwrap();
        let played = PlayedBackend {
            backend: Backend::new(
                Balloon::new(balloon_cap.endpoint, region, size),
                to_gateway,
                grants,
            ),
            frames: SimFrames {
                xen: xen.clone(),
                guest,
                pages: pages.clone(),
            },
            mailbox: mailbox.clone(),
        };
        let (mut handlers, _) = parts.into_deterministic();
        handlers.push((
            ComponentId(backend),
            Box::new(played) as Box<dyn SimHandler>,
        ));
        let mut runtime = DeterministicRuntime::new(checked, handlers, seed).unwrap();
        let (hook_xen, hook_dom) = (xen.clone(), guest);
        runtime.set_step_hook(Box::new(move |view| {
            let server = (view.handler::<MemoryHandler>(memory)).ok_or("no memory server")?;
            (server.core())
                .check_invariant(hook_xen.tot_pages(hook_dom))
                .map_err(|violation| format!("{violation:?}"))
        }));
        let frontend = xen.create_domain(DomainConfig::domu(0..0x1000, 0x1000));
        assert_eq!(frontend, FRONTEND);
        System {
            runtime,
            xen,
            guest,
            memory,
            backend: ComponentId(backend),
            toolstack: ComponentId(toolstack),
            doorbell: DOORBELL,
            mailbox,
            pages,
            rounds: 0,
        }
    }

    /// The frontend grants `count` of its pages to the guest, filled with round `round`'s
    /// pattern; their references.
    fn grant(&mut self, round: u32, count: u32) -> Vec<u32> {
        let mut pages = self.pages.lock().unwrap();
        (0..count)
            .map(|page| {
                let gfn = 0x100 + u64::from(self.rounds) * 0x100 + u64::from(page);
                let grant_ref = self
                    .xen
                    .grant_access(FRONTEND, gfn, self.guest, false)
                    .unwrap();
                let words = (0..WORDS_PER_PAGE).map(|word| pattern(round, page, word));
                pages.words.insert(grant_ref, words.collect());
                grant_ref
            })
            .collect()
    }

    /// Serve an offer of `refs` from `granter` in `mode`: what the backend left.
    fn serve(&mut self, round: u32, mode: Mode, granter: u16, refs: &[u32]) -> Served {
        self.rounds += 1;
        let offer = Offer {
            round,
            mode,
            granter,
            refs: refs.iter().copied().collect(),
        };
        self.mailbox.lock().unwrap().0 = Some(offer);
        (self.runtime)
            .notify(self.toolstack, self.doorbell, OFFER)
            .unwrap();
        self.settle();
        self.mailbox
            .lock()
            .unwrap()
            .1
            .take()
            .expect("the backend served the offer")
    }

    fn settle(&mut self) {
        let report = self.runtime.run_until_idle(STEP_LIMIT).unwrap();
        assert!(report.idle, "the system did not settle");
    }

    /// Frames the memory server has lent.
    fn lent(&mut self) -> u64 {
        let server = self.runtime.handler::<MemoryHandler>(self.memory).unwrap();
        server.core().stats().lent_pages
    }

    /// Whether every page of `refs` holds round `round`'s pattern, answered or not.
    fn pages_hold(&self, round: u32, refs: &[u32], answered: bool) -> bool {
        let pages = self.pages.lock().unwrap();
        (0u32..).zip(refs).all(|(page, grant_ref)| {
            let words = &pages.words[grant_ref];
            (0..WORDS_PER_PAGE).all(|word| {
                let expected = if answered && word == ballast_grant_offer::ANSWER_WORD {
                    answer(round, page)
                } else {
                    pattern(round, page, word)
                };
                words[word] == expected
            })
        })
    }

    /// Nothing mapped, nothing lent.
    fn clean(&mut self) -> bool {
        self.xen.grant_mappings(self.guest) == 0 && self.lent() == 0
    }
}

/// Run `test` on a thread with a large stack: the deterministic runtime nests each call's
/// handlers on the caller's stack (backend -> memory server -> gateway), which an unoptimised
/// build's frames outgrow within the test harness's 2 MiB.
fn on_a_large_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(test)
        .unwrap()
        .join()
        .unwrap();
}

fn answered(served: Served) -> Answer {
    match served {
        Served::Answered(answer) => answer,
        Served::HoldingGrants { .. } => panic!("the backend still holds its grants"),
    }
}

fn name(text: &str) -> ballast_grant_offer::Name {
    ballast_grant_offer::Name::try_from(text).unwrap()
}

#[test]
fn a_round_of_256_grants_is_borrowed_mapped_checked_answered_and_given_back() {
    on_a_large_stack(|| {
        let mut system = System::new(1);
        for (round, count) in [(1, 1), (2, 256)] {
            let refs = system.grant(round, count);
            let answer = answered(system.serve(round, Mode::Check, FRONTEND.0, &refs));
            assert_eq!(answer.outcome, Outcome::Ok, "round {round}");
            assert_eq!(
                (answer.pages, answer.mapped, answer.checked),
                (count, count, count)
            );
            assert!(system.pages_hold(round, &refs, true), "every page answered");
            assert!(system.clean());
        }
    });
}

#[test]
fn a_revoked_reference_fails_alone_and_the_rest_is_unmapped_and_given_back() {
    on_a_large_stack(|| {
        let mut system = System::new(2);
        let refs = system.grant(3, 4);
        system.xen.end_grant_access(FRONTEND, refs[2]).unwrap();
        let answer = answered(system.serve(3, Mode::Check, FRONTEND.0, &refs));
        assert!(
            matches!(answer.outcome, Outcome::GrantStatus { index: 2, status } if status < 0),
            "{:?}",
            answer.outcome
        );
        assert_eq!(answer.mapped, 3);
        assert!(
            system.pages_hold(3, &refs, false),
            "nothing answered on a failed round"
        );
        assert!(system.clean());
    });
}

#[test]
fn the_gateway_refuses_a_foreign_granter_and_a_frame_not_borrowed_before_xen() {
    on_a_large_stack(|| {
        let mut system = System::new(3);
        let refs = system.grant(4, 1);
        let answer = answered(system.serve(4, Mode::Check, 7, &refs));
        assert_eq!(answer.outcome, Outcome::Refused(name("DomainNotAllowed")));
        assert!(system.pages_hold(4, &refs, false));
        assert!(system.clean());
        let refs = system.grant(5, 1);
        let answer = answered(system.serve(5, Mode::UnlentFrame, FRONTEND.0, &refs));
        assert_eq!(answer.outcome, Outcome::Refused(name("FrameNotLent")));
        assert!(system.pages_hold(5, &refs, false));
        assert!(system.clean());
    });
}

#[test]
fn a_give_back_while_mapped_is_refused_and_the_frames_stay_lent_until_unmapped() {
    on_a_large_stack(|| {
        let mut system = System::new(4);
        let refs = system.grant(6, 4);
        let answer = answered(system.serve(6, Mode::GiveBackMapped, FRONTEND.0, &refs));
        assert_eq!(
            answer.outcome,
            Outcome::GiveBackRefused(name("FrameMapped"))
        );
        assert_eq!(answer.checked, 4);
        assert!(system.pages_hold(6, &refs, true));
        assert!(system.clean(), "unmapped, then given back");
    });
}

#[test]
fn a_backend_dying_with_its_grants_mapped_leaves_nothing_mapped_or_lent() {
    on_a_large_stack(|| {
        let mut system = System::new(5);
        let refs = system.grant(7, 4);
        let served = system.serve(7, Mode::DieMapped, FRONTEND.0, &refs);
        let Served::HoldingGrants { round: 7, loan } = served else {
            panic!("the backend should hold its grants: {served:?}");
        };
        assert_eq!(loan.frames(), 4);
        assert_eq!(system.xen.grant_mappings(system.guest), 4);
        system.runtime.kill(system.backend).unwrap();
        system.settle();
        // A return the gateway refused while the mappings stood is retried on the server's timer.
        for _ in 0..10 {
            if system.clean() {
                break;
            }
            system.runtime.advance_time(1_000_000_000);
            system.settle();
        }
        assert!(
            system.clean(),
            "the gateway unmapped and the memory server took the frames back"
        );
        for refs in refs {
            assert_eq!(system.xen.grant_in_use(FRONTEND, refs), Some(0));
        }
    });
}
