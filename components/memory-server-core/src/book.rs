//! The lending book: which frames are lent to which client (the lent-run table), each client's
//! account (quota, lent, waiting), and the queue of deferred requests, with the lent frames
//! counted per kind of region. It checks ownership and quotas (the lesson of XSA-300); where
//! frames come from is the core's business.

use ballast_xen::{FrameRun, Gfn};
use heapless::Vec;

use crate::balloon::InvariantViolation;
use crate::lent_table::{ClientId, LentRun, LentTable, Ticket};
use crate::page_map::{PageMap, Place};
use crate::pending::{AllocRequest, Pending, PendingQueue, PendingState};
use crate::regions::{Region, RegionKind};
use crate::storage::Storage;

/// Most runs one grant may have; the glue sizes reply buffers with it.
pub const MAX_GRANT_RUNS: usize = 16;

/// Why a lending request was refused. C-like, nonzero; a refused request changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LendError {
    /// The client id is not below the configured number of clients.
    UnknownClient = 1,
    /// Zero frames asked for, or an empty or wrapping run given back.
    Empty = 2,
    /// `max_runs` is 0 or above [`MAX_GRANT_RUNS`], or more runs given back than that.
    BadRunCount = 3,
    /// The request would take the client past its quota.
    QuotaExceeded = 4,
    /// Not even an empty balloon could meet the request.
    NeverSatisfiable = 5,
    /// The deferred-request queue is full.
    QueueFull = 6,
    /// The lent-run table is full.
    TableFull = 7,
    /// A frame given back is not lent (never lent, or already given back).
    NotLent = 8,
    /// A frame given back is lent to another client.
    NotOwner = 9,
    /// Runs given back overlap each other.
    OverlappingRuns = 10,
    /// A deferred request timed out before frames could be found.
    TimedOut = 11,
    /// The client holds as many lent runs as it may (`max_lent_runs_per_client`): the grant, or
    /// a give-back that splits a run, would take it past them. Giving back whole runs makes room.
    RunLimit = 12,
}

/// A client's account: its quota and what it holds or waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAccount {
    /// Most frames it may hold lent or requested at once.
    pub quota: u64,
    /// Frames lent to it.
    pub lent: u64,
    /// Frames its deferred requests still wait for.
    pub waiting: u64,
    /// Lent runs it holds: entries of the shared lent-run table.
    pub runs: usize,
}

/// A deferred request whose reply is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    /// Its ticket.
    pub ticket: Ticket,
    /// Who asked.
    pub client: ClientId,
    /// Runs written to the caller's buffer, or why none were.
    pub result: Result<usize, LendError>,
}

/// A planned grant: runs found, not yet recorded.
pub(crate) type Plan = Vec<FrameRun, MAX_GRANT_RUNS>;

/// The parts of `run` that can be lent (in RAM or the lending range), cut at region seams, each
/// with its region. (Lent runs hold no reserved frame: plans are made of ballooned runs and
/// lending space, and a run given back must be one lent.)
fn lendable_pieces(
    run: FrameRun,
    pages: &PageMap<impl Storage>,
) -> impl Iterator<Item = (FrameRun, &Region)> {
    pages.pieces(run)
}

/// Frames counted by the kind of region each lies in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    /// Frames in RAM, boot-extra regions included.
    ram: u64,
    /// Frames of the lending range.
    lending: u64,
}

impl Tally {
    /// This tally plus every lendable frame of `run`, each counted in the region it lies in
    /// (a run crossing a seam is split there); `None` on overflow.
    fn add(self, run: FrameRun, pages: &PageMap<impl Storage>) -> Option<Tally> {
        lendable_pieces(run, pages).try_fold(self, |tally, (piece, region)| {
            Some(match region.kind {
                RegionKind::Lending => Tally {
                    lending: tally.lending.checked_add(piece.frames)?,
                    ..tally
                },
                _ => Tally {
                    ram: tally.ram.checked_add(piece.frames)?,
                    ..tally
                },
            })
        })
    }

    /// The tally of `runs`; `None` on overflow.
    fn of(
        runs: impl IntoIterator<Item = FrameRun>,
        pages: &PageMap<impl Storage>,
    ) -> Option<Tally> {
        runs.into_iter()
            .try_fold(Tally::default(), |tally, run| tally.add(run, pages))
    }

    /// All its frames; `None` on overflow.
    fn frames(self) -> Option<u64> {
        self.ram.checked_add(self.lending)
    }
}

/// A give-back checked and not yet made: the client's account, the tally of the runs, and the lent
/// counters after it (RAM, lending range, the client's).
type GiveBack = (usize, Tally, (u64, u64, u64));

/// Lent runs (at most `LENT`, at most `max_runs_per_client` of them one client's), client
/// accounts (`CLIENTS`) and deferred requests (`PENDING`).
#[derive(Debug)]
pub(crate) struct LendingBook<const LENT: usize, const CLIENTS: usize, const PENDING: usize> {
    lent: LentTable<LENT>,
    clients: [ClientAccount; CLIENTS],
    /// Most lent runs one client may hold.
    max_runs_per_client: usize,
    pending: PendingQueue<PENDING>,
    /// Lent frames in RAM.
    lent_ram: u64,
    /// Lent frames of the lending range.
    lent_lending: u64,
    /// How long a deferred request waits before it times out, in nanoseconds.
    pending_timeout_ns: u64,
}

impl<const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    LendingBook<LENT, CLIENTS, PENDING>
{
    /// An empty book whose clients all have `quota` and may hold `max_runs_per_client` runs.
    pub fn new(quota: u64, max_runs_per_client: usize, pending_timeout_ns: u64) -> Self {
        LendingBook {
            lent: LentTable::default(),
            clients: [ClientAccount {
                quota,
                lent: 0,
                waiting: 0,
                runs: 0,
            }; CLIENTS],
            max_runs_per_client,
            pending: PendingQueue::default(),
            lent_ram: 0,
            lent_lending: 0,
            pending_timeout_ns,
        }
    }

    /// The lent runs.
    pub fn lent(&self) -> &LentTable<LENT> {
        &self.lent
    }

    /// The client frame `gfn` is lent to.
    pub fn owner(&self, gfn: u64) -> Option<ClientId> {
        self.lent
            .overlapping(FrameRun::new(Gfn(gfn), 1))
            .next()
            .map(|r| r.client)
    }

    fn account(&self, client: ClientId) -> Result<usize, LendError> {
        let index = usize::from(client.0);
        if index < CLIENTS {
            Ok(index)
        } else {
            Err(LendError::UnknownClient)
        }
    }

    /// The account of `client`, if it is one.
    pub fn client(&self, client: ClientId) -> Option<&ClientAccount> {
        self.clients.get(usize::from(client.0))
    }

    /// Set how many frames `client` may hold lent or requested at once.
    pub fn set_quota(&mut self, client: ClientId, frames: u64) -> Result<(), LendError> {
        let index = self.account(client)?;
        self.clients[index].quota = frames;
        Ok(())
    }

    /// Lent frames in RAM.
    pub fn lent_ram(&self) -> u64 {
        self.lent_ram
    }

    /// Lent frames, RAM and lending range.
    pub fn lent_pages(&self) -> u64 {
        self.lent_ram.saturating_add(self.lent_lending)
    }

    /// Frames the deferred requests still wait for.
    pub fn waiting_frames(&self) -> u64 {
        self.clients.iter().map(|c| c.waiting).sum()
    }

    /// What the waiting deferred requests ask for, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &AllocRequest> {
        self.pending.waiting().map(|p| &p.request)
    }

    /// Deferred requests not settled yet.
    pub fn waiting_requests(&self) -> usize {
        self.pending.waiting().count()
    }

    /// The earliest deadline of a waiting request.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pending.next_deadline()
    }

    /// Deferred request `index` (oldest first), in whatever state.
    pub fn deferred(&self, index: usize) -> Option<Pending> {
        self.pending.iter().nth(index).copied()
    }

    /// Lent runs `client` may still be granted before it reaches its limit (0 for no client).
    pub fn run_budget(&self, client: ClientId) -> usize {
        self.client(client).map_or(0, |account| {
            self.max_runs_per_client.saturating_sub(account.runs)
        })
    }

    /// Check that `client` may make `request`: a known client, a request well formed, within its
    /// quota, and a client below its run limit.
    pub fn admit(&self, client: ClientId, request: &AllocRequest) -> Result<(), LendError> {
        let index = self.account(client)?;
        if request.frames == 0 {
            return Err(LendError::Empty);
        }
        if request.max_runs == 0 || request.max_runs > MAX_GRANT_RUNS {
            return Err(LendError::BadRunCount);
        }
        let account = self.clients[index];
        if account
            .lent
            .saturating_add(account.waiting)
            .saturating_add(request.frames)
            > account.quota
        {
            return Err(LendError::QuotaExceeded);
        }
        if self.run_budget(client) == 0 {
            return Err(LendError::RunLimit);
        }
        Ok(())
    }

    /// Record a planned grant as lent to `client` (tagged with `ticket` until delivered). Each
    /// run is cut at region seams, each piece an entry of its own, and every frame charged to
    /// the region it lies in; if the pieces would take the client past its run limit, the table
    /// has no room, or a count would overflow, nothing changes.
    pub fn lend(
        &mut self,
        client: ClientId,
        plan: &Plan,
        ticket: Option<Ticket>,
        pages: &PageMap<impl Storage>,
    ) -> Result<(), LendError> {
        let index = self.account(client)?;
        let pieces: usize = plan
            .iter()
            .map(|run| lendable_pieces(*run, pages).count())
            .sum();
        if pieces > self.run_budget(client) {
            return Err(LendError::RunLimit);
        }
        if self.lent.free_slots() < pieces {
            return Err(LendError::TableFull);
        }
        let tally = Tally::of(plan.iter().copied(), pages).ok_or(LendError::QuotaExceeded)?;
        let (Some(lent_ram), Some(lent_lending), Some(client_lent)) = (
            self.lent_ram.checked_add(tally.ram),
            self.lent_lending.checked_add(tally.lending),
            tally
                .frames()
                .and_then(|frames| self.clients[index].lent.checked_add(frames)),
        ) else {
            return Err(LendError::QuotaExceeded);
        };
        for run in plan {
            for (piece, _) in lendable_pieces(*run, pages) {
                // Neither refusal can happen: the free entries were counted above, and a plan's
                // pieces lie in managed space, below `GFN_LIMIT`.
                self.lent
                    .insert(piece, client, ticket)
                    .map_err(|_| LendError::TableFull)?;
            }
        }
        self.lent_ram = lent_ram;
        self.lent_lending = lent_lending;
        self.clients[index].lent = client_lent;
        // `admit` kept the client's runs plus these within its run limit.
        self.clients[index].runs = self.clients[index].runs.saturating_add(pieces);
        Ok(())
    }

    /// Queue `request` of `client` until the worker can meet it or `now_ns` plus the timeout
    /// passes.
    pub fn defer(
        &mut self,
        client: ClientId,
        request: AllocRequest,
        now_ns: u64,
    ) -> Result<Ticket, LendError> {
        let index = self.account(client)?;
        let deadline = now_ns.saturating_add(self.pending_timeout_ns);
        let ticket = self
            .pending
            .push(client, request, deadline)
            .map_err(|_| LendError::QueueFull)?;
        // `admit` kept the client's lent and waiting frames plus these within its quota.
        self.clients[index].waiting = self.clients[index].waiting.saturating_add(request.frames);
        Ok(ticket)
    }

    /// Record `plan` as granted to the waiting request `entry`.
    pub fn grant(
        &mut self,
        entry: &Pending,
        plan: &Plan,
        pages: &PageMap<impl Storage>,
    ) -> Result<(), LendError> {
        self.lend(entry.client, plan, Some(entry.ticket), pages)?;
        // A waiting request's frames are in its client's `waiting` (added by `defer`).
        let account = &mut self.clients[usize::from(entry.client.0)];
        account.waiting = account.waiting.saturating_sub(entry.request.frames);
        if let Some(e) = self.pending.iter_mut().find(|p| p.ticket == entry.ticket) {
            e.state = PendingState::Granted;
        }
        Ok(())
    }

    /// Time out waiting requests whose deadline has passed. Returns how many.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let mut expired: usize = 0;
        for entry in self.pending.iter_mut() {
            if entry.state == PendingState::Waiting && now_ns >= entry.deadline_ns {
                entry.state = PendingState::TimedOut;
                // A waiting request's frames are in its client's `waiting` (added by `defer`).
                let account = &mut self.clients[usize::from(entry.client.0)];
                account.waiting = account.waiting.saturating_sub(entry.request.frames);
                // At most one per queued request.
                expired = expired.saturating_add(1);
            }
        }
        expired
    }

    /// The oldest deferred request whose reply is due, with its runs written to `out`
    /// (a granted request's frames now belong to the client outright).
    pub fn take_settled(&mut self, out: &mut [FrameRun; MAX_GRANT_RUNS]) -> Option<Settled> {
        let entry = self.pending.take_settled()?;
        let result = match entry.state {
            PendingState::Granted => {
                let mut runs: usize = 0;
                let granted = self.lent.iter().filter(|r| r.ticket == Some(entry.ticket));
                for (slot, lent) in out.iter_mut().zip(granted) {
                    *slot = lent.run;
                    // At most one per slot of `out`.
                    runs = runs.saturating_add(1);
                }
                self.lent.deliver(entry.ticket);
                Ok(runs)
            }
            _ => Err(LendError::TimedOut),
        };
        Some(Settled {
            ticket: entry.ticket,
            client: entry.client,
            result,
        })
    }

    /// Check that `runs` are well formed, disjoint and all lent to `client` and delivered.
    fn check_return(&self, client: ClientId, runs: &[FrameRun]) -> Result<(), LendError> {
        if runs.len() > MAX_GRANT_RUNS {
            return Err(LendError::BadRunCount);
        }
        for (i, run) in runs.iter().enumerate() {
            if !run.is_valid() {
                return Err(LendError::Empty);
            }
            if runs[..i].iter().any(|other| other.overlaps(run)) {
                return Err(LendError::OverlappingRuns);
            }
            let mut covered = run.start();
            for lent in self.lent.overlapping(*run) {
                if lent.client != client {
                    return Err(LendError::NotOwner);
                }
                if lent.run.start() > covered || lent.ticket.is_some() {
                    return Err(LendError::NotLent);
                }
                covered = lent.run.end();
            }
            if covered < run.end() {
                return Err(LendError::NotLent);
            }
        }
        Ok(())
    }

    /// Extra lent-table entries giving back `runs` would need (runs must be checked, disjoint).
    fn split_cost(&self, runs: &[FrameRun]) -> usize {
        let mut sorted: Vec<FrameRun, MAX_GRANT_RUNS> = runs.iter().copied().collect();
        sorted.sort_unstable_by_key(|r| r.start());
        let mut merged: Vec<FrameRun, MAX_GRANT_RUNS> = Vec::new();
        for run in sorted {
            match merged.last_mut() {
                // Checked runs end below 2^64, so two adjacent ones joined do too.
                Some(last) if last.end() == run.start() => {
                    last.frames = last.frames.saturating_add(run.frames);
                }
                _ => {
                    let _ = merged.push(run);
                }
            }
        }
        merged.iter().map(|r| self.lent.split_cost(*r)).sum()
    }

    /// The lent counters and `client`'s (account `index`) with `tally` taken out, or
    /// [`LendError::NotLent`] if they do not hold that much.
    fn uncharged(&self, index: usize, tally: Tally) -> Result<(u64, u64, u64), LendError> {
        match (
            self.lent_ram.checked_sub(tally.ram),
            self.lent_lending.checked_sub(tally.lending),
            tally
                .frames()
                .and_then(|frames| self.clients[index].lent.checked_sub(frames)),
        ) {
            (Some(ram), Some(lending), Some(client)) => Ok((ram, lending, client)),
            _ => Err(LendError::NotLent),
        }
    }

    /// Whether [`Self::give_back`] of `runs` from `client` would succeed, changing nothing: the
    /// account, the tally of the runs, and the counters after it.
    fn plan_give_back(
        &self,
        client: ClientId,
        runs: &[FrameRun],
        pages: &PageMap<impl Storage>,
    ) -> Result<GiveBack, LendError> {
        let index = self.account(client)?;
        self.check_return(client, runs)?;
        let splits = self.split_cost(runs);
        if splits > self.run_budget(client) {
            return Err(LendError::RunLimit);
        }
        if splits > self.lent.free_slots() {
            return Err(LendError::TableFull);
        }
        let tally = Tally::of(runs.iter().copied(), pages).ok_or(LendError::NotLent)?;
        Ok((index, tally, self.uncharged(index, tally)?))
    }

    /// Check that [`Self::give_back`] of `runs` from `client` would succeed, changing nothing.
    pub fn check_give_back(
        &self,
        client: ClientId,
        runs: &[FrameRun],
        pages: &PageMap<impl Storage>,
    ) -> Result<(), LendError> {
        self.plan_give_back(client, runs, pages).map(|_| ())
    }

    /// Take back `runs` from `client`. Every frame must be lent to it, and the runs it splits
    /// must leave it within its run limit; otherwise nothing changes and the error says why.
    /// Each frame is credited to the region it lies in (a run may cross a seam between regions).
    /// Returns the frames taken back.
    pub fn give_back(
        &mut self,
        client: ClientId,
        runs: &[FrameRun],
        pages: &PageMap<impl Storage>,
    ) -> Result<u64, LendError> {
        let (index, tally, (lent_ram, lent_lending, client_lent)) =
            self.plan_give_back(client, runs, pages)?;
        // Every entry a run touches is the client's (checked above): the table's change in
        // size is the change in the client's runs.
        let entries_before = self.lent.len();
        for run in runs {
            self.lent
                .remove_span(*run)
                .map_err(|_| LendError::TableFull)?;
        }
        self.lent_ram = lent_ram;
        self.lent_lending = lent_lending;
        let account = &mut self.clients[index];
        account.lent = client_lent;
        // Counts of table entries: their sum fits in memory.
        account.runs =
            (account.runs.saturating_add(self.lent.len())).saturating_sub(entries_before);
        Ok(tally.frames().unwrap_or(0))
    }

    /// Forget a dead client: its lent frames are unlent, except the delivered runs `keep`
    /// selects (they stay lent to it, in its account), and its deferred requests are dropped.
    /// Returns the frames unlent.
    pub fn forget(
        &mut self,
        client: ClientId,
        keep: impl Fn(&FrameRun) -> bool,
        pages: &PageMap<impl Storage>,
    ) -> Result<u64, LendError> {
        let index = self.account(client)?;
        let unlent = |r: &LentRun| r.client == client && (r.ticket.is_some() || !keep(&r.run));
        let theirs = self.lent.iter().filter(|r| unlent(r));
        let tally = Tally::of(theirs.map(|r| r.run), pages).ok_or(LendError::NotLent)?;
        let (lent_ram, lent_lending, client_lent) = self.uncharged(index, tally)?;
        let mut removed: usize = 0;
        // At most one per table entry.
        self.lent
            .remove_where(unlent, |_| removed = removed.saturating_add(1));
        self.lent_ram = lent_ram;
        self.lent_lending = lent_lending;
        let total = tally.frames().unwrap_or(0);
        self.pending.remove_client(client, |_| {});
        let account = &mut self.clients[index];
        account.lent = client_lent;
        account.waiting = 0;
        account.runs = account.runs.saturating_sub(removed);
        Ok(total)
    }

    /// The runs lent to `client` whose replies were delivered, in frame order.
    pub fn delivered(&self, client: ClientId) -> impl Iterator<Item = FrameRun> + '_ {
        (self.lent.iter())
            .filter(move |r| r.client == client && r.ticket.is_none())
            .map(|r| r.run)
    }

    /// Check the book against itself and the page map: lent runs sorted, disjoint, owned by a
    /// known client and unpopulated; counters matching the table and the queue; grant tags
    /// matching granted requests.
    pub fn check(&self, pages: &PageMap<impl Storage>) -> Result<(), InvariantViolation> {
        self.check_lent(pages)?;
        self.check_waiting()
    }

    fn check_lent(&self, pages: &PageMap<impl Storage>) -> Result<(), InvariantViolation> {
        let mut lent_ram: u64 = 0;
        let mut lent_lending: u64 = 0;
        let mut per_client = [0u64; CLIENTS];
        let mut runs_per_client = [0usize; CLIENTS];
        let mut previous_end = 0;
        for lent in self.lent.iter() {
            if !lent.run.is_valid() || lent.run.start() < previous_end {
                return Err(InvariantViolation::LentRunsOverlap);
            }
            previous_end = lent.run.end();
            let owner = per_client
                .get_mut(usize::from(lent.client.0))
                .ok_or(InvariantViolation::UnknownOwner)?;
            // The invariant's own sums saturate: a total past 2^64 cannot match the books, so it
            // is reported as a violation rather than wrapped into agreement.
            *owner = owner.saturating_add(lent.run.frames);
            let runs = &mut runs_per_client[usize::from(lent.client.0)];
            *runs = runs.saturating_add(1);
            if lent.ticket.is_some_and(|t| {
                !self
                    .pending
                    .iter()
                    .any(|p| p.ticket == t && p.state == PendingState::Granted)
            }) {
                return Err(InvariantViolation::GrantTags);
            }
            match pages.place(lent.run) {
                Place::Lending => lent_lending = lent_lending.saturating_add(lent.run.frames),
                Place::Ram { unpopulated: true } => {
                    lent_ram = lent_ram.saturating_add(lent.run.frames)
                }
                Place::Ram { unpopulated: false } => {
                    return Err(InvariantViolation::LentFramePopulated)
                }
                Place::Outside | Place::Reserved => {
                    return Err(InvariantViolation::LentOutsideManaged)
                }
            }
        }
        let clients_agree = self
            .clients
            .iter()
            .zip(per_client.iter().zip(runs_per_client))
            .all(|(c, (&lent, runs))| c.lent == lent && c.runs == runs);
        if lent_ram != self.lent_ram || lent_lending != self.lent_lending || !clients_agree {
            return Err(InvariantViolation::LentCount);
        }
        if lent_lending > pages.lending_frames() {
            return Err(InvariantViolation::Partition);
        }
        if runs_per_client
            .iter()
            .any(|&runs| runs > self.max_runs_per_client)
        {
            return Err(InvariantViolation::RunLimit);
        }
        Ok(())
    }

    fn check_waiting(&self) -> Result<(), InvariantViolation> {
        let mut per_client = [0u64; CLIENTS];
        for entry in self.pending.iter() {
            let slot = per_client
                .get_mut(usize::from(entry.client.0))
                .ok_or(InvariantViolation::UnknownOwner)?;
            match entry.state {
                PendingState::Waiting => *slot = slot.saturating_add(entry.request.frames),
                PendingState::Granted => {
                    let granted: u64 = self
                        .lent
                        .iter()
                        .filter(|r| r.ticket == Some(entry.ticket))
                        .map(|r| r.run.frames)
                        .sum();
                    if granted != entry.request.frames {
                        return Err(InvariantViolation::GrantTags);
                    }
                }
                PendingState::TimedOut => {}
            }
        }
        if self
            .clients
            .iter()
            .zip(per_client)
            .any(|(c, waiting)| c.waiting != waiting)
        {
            return Err(InvariantViolation::WaitingCount);
        }
        Ok(())
    }
}
