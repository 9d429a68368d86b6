//! What a driver learns from the deterministic runtime: one step's record, a whole run's
//! report, an invariant that failed, and the read-only view a step hook inspects.

use std::any::Any;

use crate::kernel::LeaseId;
use crate::tables::ComponentId;

use super::trace::TraceEntry;
use super::world::World;
use super::SimHandler;

/// Which component ran in a step, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// Steps before this one.
    pub step: u64,
    /// The component whose handler ran.
    pub component: ComponentId,
    /// The simulated clock during the step.
    pub now_ns: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// Steps run.
    pub steps: u64,
    /// Whether it stopped because nothing was left to run (else it hit its step limit).
    pub idle: bool,
}

/// A step hook's check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    /// The step after which it failed.
    pub step: u64,
    /// What the hook said.
    pub message: String,
}

/// The system between two steps, as a step hook sees it.
pub struct StepView<'a> {
    world: &'a World,
    handlers: &'a [Option<Box<dyn SimHandler>>],
    record: StepRecord,
}

impl core::fmt::Debug for StepView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StepView")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl<'a> StepView<'a> {
    pub(crate) fn new(
        world: &'a World,
        handlers: &'a [Option<Box<dyn SimHandler>>],
        record: StepRecord,
    ) -> StepView<'a> {
        StepView {
            world,
            handlers,
            record,
        }
    }

    /// The step just run.
    pub fn record(&self) -> StepRecord {
        self.record
    }

    /// The handler of `component`, if it is a `T`.
    pub fn handler<T: Any>(&self, component: ComponentId) -> Option<&T> {
        downcast(self.handlers, component)
    }

    /// A region's bytes.
    pub fn region(&self, id: LeaseId) -> Option<&[u8]> {
        let index = self.world.tables.region_index(id)?;
        self.world.regions.get(index).map(Vec::as_slice)
    }

    /// Everything that happened so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.world.trace
    }
}

pub(crate) fn downcast<T: Any>(
    handlers: &[Option<Box<dyn SimHandler>>],
    component: ComponentId,
) -> Option<&T> {
    let handler = handlers.get(component.index())?.as_ref()?;
    handler.as_any().downcast_ref()
}
