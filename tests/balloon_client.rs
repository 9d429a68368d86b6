//! A driver component written with `ballast-balloon-client`, composed with the real memory
//! server and gateway of the default manifest on the deterministic runtime: it borrows frames,
//! finds them unpopulated in Xen, gives them back, and gets a refused loan handed back intact.

use std::sync::{Arc, Mutex};

use ballast::composition::SIM;
use ballast::system::{self, MemoryHandler};
use ballast_balloon_client::{Balloon, FrameLoan};
use ballast_interfaces::balloon::BalloonError;
use ballast_interfaces::support::CallError;
use ballast_ipc::deterministic::{DeterministicRuntime, SimHandler};
use ballast_ipc::{Badge, ComponentId, Handler, IncomingCall, NotificationBits, Sys};

mod doorbell;
use doorbell::{with_doorbell, DOORBELL};

const BORROW: NotificationBits = NotificationBits(1);
const GIVE_BACK: NotificationBits = NotificationBits(2);
const GIVE_BACK_FORGED: NotificationBits = NotificationBits(4);

#[derive(Debug, Default)]
struct Seen {
    loans: Vec<Vec<u64>>,
    errors: Vec<String>,
    returned_after_refusal: Option<u64>,
}

struct Driver {
    balloon: Balloon,
    loans: Vec<FrameLoan>,
    seen: Arc<Mutex<Seen>>,
}

impl Handler for Driver {
    fn protected(&mut self, _: &mut dyn Sys, _: IncomingCall<'_>) {}

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        let mut seen = self.seen.lock().unwrap();
        if bits.contains(BORROW) {
            match self.balloon.borrow(sys, 300, u64::MAX) {
                Ok(loan) => {
                    seen.loans.push(loan.gfns().collect());
                    self.loans.push(loan);
                }
                Err(error) => seen.errors.push(format!("{error:?}")),
            }
        }
        if bits.contains(GIVE_BACK) {
            while let Some(loan) = self.loans.pop() {
                if let Err((_, error)) = self.balloon.give_back(sys, loan) {
                    seen.errors.push(format!("{error:?}"));
                }
            }
        }
        if bits.contains(GIVE_BACK_FORGED) {
            // Borrow, then try to give back twice: the second is refused and hands the loan back.
            let loan = self.balloon.borrow(sys, 8, u64::MAX).unwrap();
            let runs: Vec<_> = loan.runs().to_vec();
            self.balloon.give_back(sys, loan).unwrap();
            let copy = forge(&runs);
            match self.balloon.give_back(sys, copy) {
                Err((returned, CallError::Interface(BalloonError::NotLent))) => {
                    seen.returned_after_refusal = Some(returned.frames());
                }
                other => seen.errors.push(format!("double free answered {other:?}")),
            }
        }
    }

    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

/// A loan for frames this driver no longer holds (what a buggy or hostile driver would send).
fn forge(runs: &[ballast_interfaces::runs::WireRun]) -> FrameLoan {
    FrameLoan::from_runs(runs).expect("at most 16 runs")
}

#[test]
fn a_driver_borrows_unpopulated_frames_and_gives_them_back() {
    let parts = system::build(&SIM, None, 7).unwrap();
    let blkback = SIM.component("blkback").unwrap().id;
    let toolstack = SIM.component("toolstack").unwrap().id;
    let cap = parts
        .map
        .clients
        .iter()
        .find(|c| c.name == "blkback")
        .unwrap()
        .clone();
    let (xen, dom, memory) = (parts.map.xen.clone(), parts.map.dom, parts.map.memory);

    // The manifest's tables, with blkback run as a handler and a doorbell from the toolstack.
    let composition = with_doorbell(&SIM.ipc, toolstack, blkback, true);
    let doorbell = DOORBELL;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (region, size) = cap.region.unwrap();
    let driver = Driver {
        balloon: Balloon::new(cap.endpoint, region, size),
        loans: Vec::new(),
        seen: seen.clone(),
    };
    let (mut handlers, _) = parts.into_deterministic();
    handlers.push((
        ComponentId(blkback),
        Box::new(driver) as Box<dyn SimHandler>,
    ));
    let mut runtime = DeterministicRuntime::new(composition, handlers, 7).unwrap();

    let lent = |runtime: &DeterministicRuntime| {
        runtime
            .handler::<MemoryHandler>(memory)
            .unwrap()
            .core()
            .stats()
            .lent_pages
    };
    runtime
        .notify(ComponentId(toolstack), doorbell, BORROW)
        .unwrap();
    runtime.run_until_idle(10_000).unwrap();
    {
        let seen = seen.lock().unwrap();
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
        assert_eq!(seen.loans.len(), 1);
        assert_eq!(seen.loans[0].len(), 300);
        assert!(
            seen.loans[0]
                .iter()
                .all(|&gfn| xen.is_populated(dom, gfn) == Some(false)),
            "lent frames are holes"
        );
    }
    assert_eq!(lent(&runtime), 300);

    runtime
        .notify(ComponentId(toolstack), doorbell, GIVE_BACK)
        .unwrap();
    runtime.run_until_idle(10_000).unwrap();
    assert_eq!(lent(&runtime), 0);

    runtime
        .notify(ComponentId(toolstack), doorbell, GIVE_BACK_FORGED)
        .unwrap();
    runtime.run_until_idle(10_000).unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(
        seen.returned_after_refusal,
        Some(8),
        "the refused loan came back whole"
    );
    assert_eq!(lent(&runtime), 0);
    runtime
        .handler::<MemoryHandler>(memory)
        .unwrap()
        .core()
        .check_invariant(xen.tot_pages(dom))
        .unwrap();
}
