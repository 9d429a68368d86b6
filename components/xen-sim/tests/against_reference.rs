//! Property test: the simulator's chunked P2M, machine-frame runs, buddy pool and sparse contents
//! behave exactly like a naive model that keeps every 4 KiB page and machine frame apart, over
//! random operation sequences on a small guest (answers, accounting, every gfn's state, machine
//! frame and content, which follows the frame, every chunk's superpage state).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ballast_xen_sim::{DomId, DomainConfig, HostConfig, XenSim, BALLOONED_READ, CHUNK_FRAMES};
use common::*;
use proptest::prelude::*;

const SPACE: u64 = 4 * CHUNK_FRAMES;
const BOOT: u64 = 3 * CHUNK_FRAMES;
const HOST_FREE: u64 = 700;
const MAX_PAGES: u64 = BOOT + 400;
/// The first free frame of a host whose low 16 MiB are taken (`HostConfig`'s default).
const POOL_BASE: u64 = 4096;

/// One page per entry, no cleverness: every gfn's machine frame, every free machine frame,
/// contents by machine frame. Which free block an allocation takes is the simulator's choice (its
/// buddy order is unit-tested in `host_pool`); the model checks that the choice was a whole,
/// aligned, free block, and that it exists exactly when the model has one.
#[derive(Debug)]
struct Reference {
    populated: BTreeSet<u64>,
    mfn_of: BTreeMap<u64, u64>,
    contents: BTreeMap<u64, u64>,
    free: BTreeSet<u64>,
    intact: BTreeSet<u64>,
    tot: u64,
    leaked: u64,
}

impl Reference {
    /// The model of domain `d` of `sim` as just booted: its boot frames read from the simulator.
    fn new(sim: &XenSim, d: DomId) -> Reference {
        Reference {
            populated: (0..BOOT).collect(),
            mfn_of: (0..BOOT)
                .map(|gfn| (gfn, sim.machine_frame(d, gfn).expect("boot memory")))
                .collect(),
            contents: BTreeMap::new(),
            free: (POOL_BASE..POOL_BASE + HOST_FREE).collect(),
            intact: (0..BOOT / CHUNK_FRAMES).collect(),
            tot: BOOT,
            leaked: 0,
        }
    }

    fn decrease(&mut self, order: u32, gfns: &[u64]) -> i64 {
        for (i, gfn) in gfns.iter().enumerate() {
            for page in *gfn..*gfn + (1 << order) {
                if !self.populated.remove(&page) {
                    return i as i64;
                }
                self.intact.remove(&(page / CHUNK_FRAMES));
                let mfn = self
                    .mfn_of
                    .remove(&page)
                    .expect("a populated gfn has a frame");
                self.free.insert(mfn);
                self.tot -= 1;
            }
        }
        gfns.len() as i64
    }

    /// Whether a whole aligned block of `2^order` frames is free.
    fn has_free_block(&self, order: u32) -> bool {
        let n = 1u64 << order;
        self.free
            .iter()
            .filter(|mfn| mfn.is_multiple_of(n))
            .any(|mfn| (*mfn..*mfn + n).all(|m| self.free.contains(&m)))
    }

    /// What one populate extent at `gfn` should answer; if 1, take the block the simulator mapped
    /// there (`mfn`), checking it was whole, aligned and free.
    fn populate_one(
        &mut self,
        order: u32,
        gfn: u64,
        mfn: impl FnOnce() -> Option<u64>,
    ) -> Result<i64, String> {
        let n = 1u64 << order;
        if self.tot + n > MAX_PAGES || !self.has_free_block(order) {
            return Ok(0);
        }
        let mfn = mfn().ok_or("no frame behind a populated gfn")?;
        if !mfn.is_multiple_of(n) || !(mfn..mfn + n).all(|m| self.free.remove(&m)) {
            return Err(format!(
                "order {order} took frames {mfn:#x}.. that were not a free block"
            ));
        }
        for j in 0..n {
            let page = gfn + j;
            if !self.populated.insert(page) {
                self.leaked += 1;
            }
            self.mfn_of.insert(page, mfn + j);
            if order < 9 || !gfn.is_multiple_of(CHUNK_FRAMES) {
                self.intact.remove(&(page / CHUNK_FRAMES));
            }
        }
        if order >= 9 && gfn.is_multiple_of(CHUNK_FRAMES) {
            self.intact
                .extend(gfn / CHUNK_FRAMES..(gfn + n) / CHUNK_FRAMES);
        }
        self.tot += n;
        Ok(1)
    }

    /// What gfn `gfn` reads as.
    fn read(&self, gfn: u64) -> u64 {
        match self.mfn_of.get(&gfn) {
            Some(mfn) => self.contents.get(mfn).copied().unwrap_or(0),
            None => BALLOONED_READ,
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Decrease(u32, Vec<u64>),
    Populate(u32, Vec<u64>),
    Write(u64, u64),
}

fn extent_list(order: u32) -> impl Strategy<Value = Vec<u64>> {
    let slots = SPACE >> order;
    let aligned = proptest::collection::vec((0..slots).prop_map(move |s| s << order), 1..6);
    let anywhere = proptest::collection::vec(0..SPACE - (1 << order), 1..6);
    prop_oneof![aligned, anywhere]
}

fn step() -> impl Strategy<Value = Step> {
    let order = prop_oneof![Just(0u32), Just(1), Just(9)];
    prop_oneof![
        order
            .clone()
            .prop_flat_map(|o| extent_list(o).prop_map(move |g| Step::Decrease(o, g))),
        order.prop_flat_map(|o| extent_list(o).prop_map(move |g| Step::Populate(o, g))),
        (0..SPACE, 0..4u64).prop_map(|(gfn, word)| Step::Write(gfn, word)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_simulator_matches_a_page_by_page_model(steps in proptest::collection::vec(step(), 1..40)) {
        let sim = XenSim::new(HostConfig { free_pages: HOST_FREE, ..HostConfig::default() });
        let d = sim.create_domain(DomainConfig::domu(0..BOOT, MAX_PAGES));
        let mut model = Reference::new(&sim, d);
        for step in steps {
            match step {
                Step::Decrease(order, gfns) => {
                    prop_assert_eq!(call(&sim, d, DECREASE, order, &gfns), model.decrease(order, &gfns));
                }
                Step::Populate(order, gfns) => {
                    // One extent a call, so that each extent's frames can be read before the next.
                    for gfn in gfns {
                        let answer = call(&sim, d, POPULATE, order, &[gfn]);
                        let expected = model.populate_one(order, gfn, || sim.machine_frame(d, gfn));
                        prop_assert_eq!(Ok(answer), expected);
                        if answer == 0 {
                            break;
                        }
                    }
                }
                Step::Write(gfn, word) => {
                    let written = sim.write_page(d, gfn, word).is_ok();
                    prop_assert_eq!(written, model.populated.contains(&gfn));
                    if let (true, Some(mfn)) = (written, model.mfn_of.get(&gfn)) {
                        model.contents.insert(*mfn, word);
                    }
                }
            }
            prop_assert_eq!(sim.tot_pages(d), Some(model.tot));
            prop_assert_eq!(sim.leaked_pages(d), Some(model.leaked));
            prop_assert_eq!(sim.host_free_pages(), model.free.len() as u64);
        }
        for gfn in 0..SPACE {
            let populated = model.populated.contains(&gfn);
            prop_assert_eq!(sim.is_populated(d, gfn), Some(populated), "gfn {}", gfn);
            prop_assert_eq!(sim.machine_frame(d, gfn), model.mfn_of.get(&gfn).copied(), "frame of gfn {}", gfn);
            prop_assert_eq!(sim.read_page(d, gfn), Some(model.read(gfn)), "content of gfn {}", gfn);
        }
        for chunk in 0..SPACE / CHUNK_FRAMES {
            prop_assert_eq!(sim.superpage_intact(d, chunk), Some(model.intact.contains(&chunk)), "chunk {}", chunk);
        }
        prop_assert_eq!(sim.populated_count(d, 0..SPACE), Some(model.populated.len() as u64));
    }
}
