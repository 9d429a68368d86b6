//! The one search for a ring of calls (a component that could end up waiting on itself): a
//! depth-first search over component indices and an iterator of call edges, allocating nothing.
//! The manifest's validation, the host runtimes' checked tables and the static runtime all use it.

/// One component's record in a search. The caller provides one per component, so that the search
/// allocates nothing: the record at index `i` holds component `i`'s state and the search path's
/// step at depth `i`.
#[derive(Clone, Copy, Debug)]
pub struct Visit {
    state: State,
    step: Step,
}

impl Visit {
    /// A record before any search.
    pub const NEW: Visit = Visit {
        state: State::Unseen,
        step: Step {
            component: 0,
            next_edge: 0,
        },
    };
}

impl Default for Visit {
    fn default() -> Visit {
        Visit::NEW
    }
}

/// Where the search stands with a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Unseen,
    /// On the search path, at this depth.
    OnPath(usize),
    Done,
}

/// One step of the search path: a component and the position, in the edge iterator, of the next
/// edge to try from it.
#[derive(Clone, Copy, Debug)]
struct Step {
    component: usize,
    next_edge: usize,
}

/// A depth-first search for rings of calls, resumable: each [`CycleFinder::next_cycle`] returns
/// the next edge that closes a ring, in search order (roots by index, then each component's edges
/// in iterator order), so that a caller may stop at the first or report every one.
#[derive(Debug)]
pub struct CycleFinder<'v, I> {
    edges: I,
    visits: &'v mut [Visit],
    depth: usize,
    next_root: usize,
}

impl<'v, I: Iterator<Item = (usize, usize)> + Clone> CycleFinder<'v, I> {
    /// Search the components `0..visits.len()` for rings of `edges`, each `(caller, callee)`. An
    /// edge naming a component outside that range is skipped (callers check their ids first).
    pub fn new(edges: I, visits: &'v mut [Visit]) -> CycleFinder<'v, I> {
        visits.fill(Visit::NEW);
        CycleFinder {
            edges,
            visits,
            depth: 0,
            next_root: 0,
        }
    }

    /// The next edge that closes a ring of calls, with the ring; `None` once the search is over.
    pub fn next_cycle(&mut self) -> Option<Cycle<'_>> {
        loop {
            if self.depth == 0 {
                let root = (self.next_root..self.visits.len())
                    .find(|&c| self.visits[c].state == State::Unseen)?;
                // `root` indexes `visits`, so one past it is at most its length.
                self.next_root = root.saturating_add(1);
                self.enter(root);
            }
            // A depth of 0 started a new root just above, so the path is not empty.
            let top = self.depth.saturating_sub(1);
            let Step {
                component: from,
                next_edge,
            } = self.visits[top].step;
            let next = self
                .edges
                .clone()
                .enumerate()
                .skip(next_edge)
                .find(|&(_, (caller, _))| caller == from);
            let Some((edge, (_, callee))) = next else {
                self.visits[from].state = State::Done;
                self.depth = top;
                continue;
            };
            // `edge` counts items of `edges`, which fit in memory: one past it cannot wrap.
            self.visits[top].step.next_edge = edge.saturating_add(1);
            match self.visits.get(callee).map(|visit| visit.state) {
                Some(State::Unseen) => self.enter(callee),
                Some(State::OnPath(start)) => {
                    return Some(Cycle {
                        edge,
                        ring: &self.visits[start..self.depth],
                    });
                }
                Some(State::Done) | None => {}
            }
        }
    }

    /// Put `component` on the search path.
    fn enter(&mut self, component: usize) {
        self.visits[component].state = State::OnPath(self.depth);
        self.visits[self.depth].step = Step {
            component,
            next_edge: 0,
        };
        // Each component enters the path at most once, so the depth stays within `visits`.
        self.depth = self.depth.saturating_add(1);
    }
}

/// A ring of calls the search found.
#[derive(Clone, Copy, Debug)]
pub struct Cycle<'v> {
    edge: usize,
    ring: &'v [Visit],
}

impl Cycle<'_> {
    /// The edge that closes the ring: its position in the edge iterator.
    pub fn closing_edge(&self) -> usize {
        self.edge
    }

    /// The ring's components in call order, from the one the closing edge calls to the one that
    /// makes it.
    pub fn components(&self) -> impl Iterator<Item = usize> + '_ {
        self.ring.iter().map(|visit| visit.step.component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ring of `edges` over `count` components, as (closing edge, ring).
    fn rings(count: usize, edges: &[(usize, usize)]) -> Vec<(usize, Vec<usize>)> {
        let mut visits = vec![Visit::NEW; count];
        let mut finder = CycleFinder::new(edges.iter().copied(), &mut visits);
        let mut found = Vec::new();
        while let Some(cycle) = finder.next_cycle() {
            found.push((cycle.closing_edge(), cycle.components().collect()));
        }
        found
    }

    #[test]
    fn a_diamond_is_no_ring() {
        assert_eq!(rings(4, &[(0, 1), (0, 2), (1, 3), (2, 3)]), []);
        assert_eq!(rings(3, &[]), []);
    }

    #[test]
    fn a_ring_comes_back_in_call_order_with_its_closing_edge() {
        let edges = [(0, 2), (2, 1), (1, 0), (3, 0)];
        assert_eq!(rings(4, &edges), [(2, vec![0, 2, 1])]);
        assert_eq!(rings(2, &[(1, 1)]), [(0, vec![1])]);
    }

    #[test]
    fn the_search_goes_on_after_a_ring_and_finds_every_closing_edge() {
        let edges = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 0)];
        assert_eq!(
            rings(3, &edges),
            [(1, vec![0, 1]), (3, vec![1, 2]), (4, vec![0, 1, 2])]
        );
    }

    #[test]
    fn edges_outside_the_components_are_skipped() {
        assert_eq!(rings(2, &[(0, 5), (5, 0), (0, 1)]), []);
    }

    #[test]
    fn a_finder_starts_afresh_on_used_visits() {
        let mut visits = [Visit::NEW; 2];
        let ring = [(0, 1), (1, 0)];
        assert!(CycleFinder::new(ring.iter().copied(), &mut visits)
            .next_cycle()
            .is_some());
        let line = [(0, 1)];
        assert!(CycleFinder::new(line.iter().copied(), &mut visits)
            .next_cycle()
            .is_none());
    }
}
