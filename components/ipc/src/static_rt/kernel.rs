//! The static runtime's state apart from the handlers, all in fixed arrays: per-component liveness,
//! notification word and timer; region memory the image placed; the calls delivered and not yet
//! answered (with their answers, until the waiting caller takes them); and the clock.

use crate::kernel::{Badge, IpcError, LeaseDescriptor, LeaseId, NotificationBits, MESSAGE_BYTES};
use crate::tables::{ComponentId, EndpointKind, Tables};

use super::tables::{capability, region_index};
use super::{Clock, StaticError};

/// A message as the runtime keeps it: at most [`MESSAGE_BYTES`], inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    len: usize,
    bytes: [u8; MESSAGE_BYTES],
}

impl Message {
    /// A copy of `bytes`; `None` if longer than [`MESSAGE_BYTES`].
    pub fn copy_of(bytes: &[u8]) -> Option<Message> {
        let mut message = Message {
            len: bytes.len(),
            bytes: [0; MESSAGE_BYTES],
        };
        message.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(message)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A component's kernel state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ComponentState {
    pub alive: bool,
    pub bits: u32,
    pub timer: Option<u64>,
}

/// A call delivered to a server and not yet taken back by its caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outstanding {
    pub token: u64,
    pub server: ComponentId,
    pub caller: ComponentId,
    pub badge: Badge,
    pub lease: Option<LeaseDescriptor>,
    /// The answer, once the server gave it.
    pub answer: Option<Result<Message, IpcError>>,
}

pub(crate) struct Kernel<
    't,
    'r,
    C,
    const COMPONENTS: usize,
    const REGIONS: usize,
    const CALLS: usize,
> {
    pub tables: Tables<'t>,
    pub clock: C,
    pub components: [ComponentState; COMPONENTS],
    /// Parallel to `tables.regions`.
    pub regions: [Option<&'r mut [u8]>; REGIONS],
    /// The copy a read-only lease is handed out as.
    pub scratch: &'r mut [u8],
    pub calls: [Option<Outstanding>; CALLS],
    pub next_token: u64,
}

impl<C, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize>
    Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    pub fn is_alive(&self, component: ComponentId) -> bool {
        self.components
            .get(component.index())
            .is_some_and(|c| c.alive)
    }

    /// Record a call delivered to `server`; `None` when the table of outstanding calls is full.
    pub fn open_call(
        &mut self,
        server: ComponentId,
        caller: ComponentId,
        badge: Badge,
        lease: Option<LeaseDescriptor>,
    ) -> Option<u64> {
        let slot = self.calls.iter_mut().find(|slot| slot.is_none())?;
        let token = self.next_token;
        // One token per call: a `u64` count of calls cannot reach 2^64.
        self.next_token = self.next_token.saturating_add(1);
        *slot = Some(Outstanding {
            token,
            server,
            caller,
            badge,
            lease,
            answer: None,
        });
        Some(token)
    }

    fn call_mut(&mut self, token: u64) -> Option<&mut Outstanding> {
        self.calls
            .iter_mut()
            .flatten()
            .find(|call| call.token == token)
    }

    /// `server` answers the call of `token`; dropped if the token is not its or already used.
    pub fn answer(&mut self, server: ComponentId, token: u64, answer: Result<Message, IpcError>) {
        if let Some(call) = self
            .call_mut(token)
            .filter(|c| c.server == server && c.answer.is_none())
        {
            call.answer = Some(answer);
        }
    }

    /// The answer to `token`, if given (the call is then closed).
    pub fn take_answer(&mut self, token: u64) -> Option<Result<Message, IpcError>> {
        let slot = self
            .calls
            .iter_mut()
            .find(|slot| slot.is_some_and(|c| c.token == token && c.answer.is_some()))?;
        slot.take().and_then(|call| call.answer)
    }

    /// Forget the call of `token`: its caller stopped waiting; a later answer is dropped.
    pub fn abandon(&mut self, token: u64) {
        for slot in &mut self.calls {
            if slot.is_some_and(|c| c.token == token) {
                *slot = None;
            }
        }
    }

    /// Whether `client` lends `region` in a call not yet taken back.
    pub fn lends(&self, client: ComponentId, region: u16) -> bool {
        self.calls.iter().flatten().any(|call| {
            call.caller == client && call.lease.is_some_and(|lease| lease.region == region)
        })
    }

    /// The bytes of one region, by id.
    pub fn region(&mut self, id: LeaseId) -> Option<&mut [u8]> {
        let index = region_index(&self.tables, id)?;
        self.regions.get_mut(index)?.as_deref_mut()
    }

    /// Raise `bits` (never the timer bit) on the component `from` may signal through `endpoint`.
    pub fn signal(
        &mut self,
        from: ComponentId,
        endpoint: crate::kernel::EndpointId,
        bits: NotificationBits,
    ) -> Result<(), IpcError> {
        if !self.is_alive(from) {
            return Err(IpcError::ServerDied);
        }
        let to = capability(&self.tables, from, endpoint)
            .filter(|c| c.kind == EndpointKind::Notify)
            .ok_or(IpcError::NoSuchEndpoint)?
            .server;
        let target = self
            .components
            .get_mut(to.index())
            .filter(|c| c.alive)
            .ok_or(IpcError::ServerDied)?;
        target.bits |= bits.0 & !NotificationBits::TIMER.0;
        Ok(())
    }

    /// The earliest timer of a live component.
    pub fn next_deadline(&self) -> Option<u64> {
        self.components
            .iter()
            .filter(|c| c.alive)
            .filter_map(|c| c.timer)
            .min()
    }
}

impl<C: Clock, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize>
    Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    /// Raise the timer bit of every live component whose deadline has passed.
    pub fn expire_timers(&mut self) {
        let now = self.clock.now_ns();
        for component in &mut self.components {
            if component.alive && component.timer.is_some_and(|t| t <= now) {
                component.timer = None;
                component.bits |= NotificationBits::TIMER.0;
            }
        }
    }
}

/// Where each region's memory goes: the slices given, in table order, each exactly its size.
pub(crate) fn place_regions<'r, const REGIONS: usize>(
    tables: &Tables<'_>,
    memory: impl IntoIterator<Item = (LeaseId, &'r mut [u8])>,
) -> Result<[Option<&'r mut [u8]>; REGIONS], StaticError> {
    let mut regions: [Option<&'r mut [u8]>; REGIONS] = [const { None }; REGIONS];
    for (id, bytes) in memory {
        let index = region_index(tables, id).ok_or(StaticError::UnknownRegion)?;
        if u32::try_from(bytes.len()).ok() != Some(tables.regions[index].size) {
            return Err(StaticError::RegionSizeMismatch);
        }
        let slot = regions.get_mut(index).ok_or(StaticError::TooManyRegions)?;
        if slot.replace(bytes).is_some() {
            return Err(StaticError::DuplicateRegionMemory);
        }
    }
    if regions[..tables.regions.len()].iter().any(Option::is_none) {
        return Err(StaticError::MissingRegionMemory);
    }
    Ok(regions)
}
