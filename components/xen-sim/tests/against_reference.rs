//! Property test: the simulator's chunked P2M, stack-shaped pool and sparse contents behave
//! exactly like a naive model that keeps every 4 KiB page apart, over random operation
//! sequences on a small guest (answers, accounting, every gfn's state and content, every chunk's
//! superpage state).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ballast_xen_sim::{DomainConfig, HostConfig, XenSim, BALLOONED_READ, CHUNK_FRAMES};
use common::*;
use proptest::prelude::*;

const SPACE: u64 = 4 * CHUNK_FRAMES;
const BOOT: u64 = 3 * CHUNK_FRAMES;
const HOST_FREE: u64 = 700;
const MAX_PAGES: u64 = BOOT + 400;

/// One page per entry, no cleverness.
#[derive(Debug)]
struct Reference {
    populated: BTreeSet<u64>,
    contents: BTreeMap<u64, u64>,
    pool: Vec<u64>,
    intact: BTreeSet<u64>,
    tot: u64,
    leaked: u64,
}

impl Reference {
    fn new() -> Reference {
        Reference {
            populated: (0..BOOT).collect(),
            contents: BTreeMap::new(),
            pool: vec![0; HOST_FREE as usize],
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
                self.pool.push(self.contents.remove(&page).unwrap_or(0));
                self.tot -= 1;
            }
        }
        gfns.len() as i64
    }

    fn populate(&mut self, order: u32, gfns: &[u64]) -> i64 {
        let n = 1u64 << order;
        for (i, gfn) in gfns.iter().enumerate() {
            if self.tot + n > MAX_PAGES || (self.pool.len() as u64) < n {
                return i as i64;
            }
            let taken = self.pool.split_off(self.pool.len() - n as usize);
            for (j, word) in taken.into_iter().enumerate() {
                let page = gfn + j as u64;
                if !self.populated.insert(page) {
                    self.leaked += 1;
                }
                if word == 0 {
                    self.contents.remove(&page);
                } else {
                    self.contents.insert(page, word);
                }
                if order < 9 || gfn % CHUNK_FRAMES != 0 {
                    self.intact.remove(&(page / CHUNK_FRAMES));
                }
            }
            if order >= 9 && gfn % CHUNK_FRAMES == 0 {
                self.intact
                    .extend(gfn / CHUNK_FRAMES..(gfn + n) / CHUNK_FRAMES);
            }
            self.tot += n;
        }
        gfns.len() as i64
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
        let mut model = Reference::new();
        for step in steps {
            match step {
                Step::Decrease(order, gfns) => {
                    prop_assert_eq!(call(&sim, d, DECREASE, order, &gfns), model.decrease(order, &gfns));
                }
                Step::Populate(order, gfns) => {
                    prop_assert_eq!(call(&sim, d, POPULATE, order, &gfns), model.populate(order, &gfns));
                }
                Step::Write(gfn, word) => {
                    let written = sim.write_page(d, gfn, word).is_ok();
                    prop_assert_eq!(written, model.populated.contains(&gfn));
                    if written && word != 0 {
                        model.contents.insert(gfn, word);
                    } else if written {
                        model.contents.remove(&gfn);
                    }
                }
            }
            prop_assert_eq!(sim.tot_pages(d), Some(model.tot));
            prop_assert_eq!(sim.leaked_pages(d), Some(model.leaked));
            prop_assert_eq!(sim.host_free_pages(), model.pool.len() as u64);
        }
        for gfn in 0..SPACE {
            let populated = model.populated.contains(&gfn);
            prop_assert_eq!(sim.is_populated(d, gfn), Some(populated), "gfn {}", gfn);
            let expected = if populated { model.contents.get(&gfn).copied().unwrap_or(0) } else { BALLOONED_READ };
            prop_assert_eq!(sim.read_page(d, gfn), Some(expected), "content of gfn {}", gfn);
        }
        for chunk in 0..SPACE / CHUNK_FRAMES {
            prop_assert_eq!(sim.superpage_intact(d, chunk), Some(model.intact.contains(&chunk)), "chunk {}", chunk);
        }
        prop_assert_eq!(sim.populated_count(d, 0..SPACE), Some(model.populated.len() as u64));
    }
}
