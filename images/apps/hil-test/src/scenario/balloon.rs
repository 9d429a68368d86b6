//! The `balloon` scenario: ballast's Xen backend against real Xen, step by step.
//!
//! 1. Headroom (where the platform asks for it: a dom0less domU boots at its maximum): give Xen
//!    some RAM first, so the domain sits below its maximum, and take it back at the very end.
//! 2. Balloon 64 MiB down and back up with 2 MiB extents, then with 4 KiB extents (the seed's 512
//!    frames per call), scrubbing first and checking `current_reservation` after every call, and
//!    that reading a ballooned frame does what the platform's Xen does (all ones on x86-64 PVH;
//!    a data abort on arm64, where Xen's stage 2 has nothing there; not tried under seL4, where
//!    that abort would end the reading protection domain: logged as not probed).
//! 3. Show why ballast scrubs: a scrubbed frame comes back zero; an unscrubbed one shows what Xen
//!    returns (on Xen 4.17, x86-64 and arm64 alike, its old contents).
//! 4. Populate past `maximum_reservation` and recover exactly from the short count (after growing
//!    by 100 pages first, so that the headroom is not a whole number of superpages).
//! 5. Time 128 MiB (scrub, release, repopulate; one line each) under both policies, each run
//!    twice, in the order the command line asks (`first=`, the 2 MiB policy by default): the first
//!    policy's first run is the first time these frames leave the domain since boot; the other
//!    policy then runs on the same frames (`ballast hil --timings` alternates the order between
//!    boots).

use ballast_xen::{ExtentOrder, Gfn, Hypervisor, ReservationOp, SUPERPAGE_ORDER};

use super::ledger::{Granularity, Ledger, Pass, Policy, LIST_CAPACITY, SEED, SUPERPAGES};
use ballast_frame_access::{FrameError, FrameMemory, FrameRun, Read, WORDS_PER_PAGE};
use ballast_ipc::static_rt::Clock;

use super::{BalloonedFrame, Checks, Layout, Platform, PolicyOrder, Readings, RunOptions};

const MIB: u64 = 1 << 20;
const PAGE_BYTES: u64 = 4096;
/// What the functional rounds balloon.
const ROUND_FRAMES: u64 = 64 * MIB / PAGE_BYTES;
/// What the timed rounds balloon.
const TIMED_FRAMES: u64 = 128 * MIB / PAGE_BYTES;
/// Written into frames to see whether it survives a trip through Xen.
const PATTERN: u64 = 0x5ca1_ab1e_d00d_f00d;
/// Pages populated at the top of the hole before the over-maximum calls.
const PRE_GROWN_PAGES: u64 = 100;

/// Run the scenario; returns its checks.
pub fn run<H: Hypervisor, M: FrameMemory, C: Clock>(
    xen: &mut H,
    memory: &mut M,
    clock: &C,
    (layout, platform): (Layout, Platform),
    options: RunOptions,
) -> Checks {
    let mut checks = Checks::default();
    checks.context = "balloon";
    let hold = || crate::phases::hold("step", crate::phases::STEP_HOLD_NS, clock);
    let after_step: Option<&dyn Fn()> = match options.readings {
        Readings::AtPhases => None,
        Readings::EveryStep => Some(&hold),
    };
    let mut ledger = Ledger::new(xen, after_step);
    let start = ledger.current();
    let maximum = ledger.maximum();
    defmt::info!("reservation current={=u64} maximum={=u64}", start, maximum);
    checks.expect("reservation_known", start > 0 && maximum >= start);
    let slices = (
        layout.free.slice(0, platform.headroom_frames),
        layout.free.slice(platform.headroom_frames, ROUND_FRAMES),
        layout
            .free
            .slice(platform.headroom_frames + ROUND_FRAMES, TIMED_FRAMES),
    );
    let (Some(headroom), Some(rounds), Some(timed)) = slices else {
        checks.expect("free_ram_for_scenario", false);
        return checks;
    };
    if headroom.frames > 0 {
        checks.context = "headroom";
        checks.expect("scrubbed", memory.fill(headroom, 0).is_ok());
        let given = ledger.pass(
            ReservationOp::Decrease,
            SUPERPAGES,
            headroom,
            Granularity::EveryCall,
        );
        checks.expect("headroom_released", all_done(given));
    }
    let below = ledger.current();
    for policy in [SUPERPAGES, SEED] {
        let trip = Trip {
            policy,
            range: rounds,
            start: below,
            ballooned: platform.ballooned_frame,
        };
        round_trip(&mut ledger, memory, &mut checks, trip);
    }
    scrub_before_release(&mut ledger, memory, &mut checks, rounds);
    beyond_maximum(&mut ledger, &mut checks, layout.hole, maximum);
    let policies = match options.order {
        PolicyOrder::BallastFirst => [SUPERPAGES, SEED],
        PolicyOrder::SeedFirst => [SEED, SUPERPAGES],
    };
    for policy in policies {
        for run in ["first", "repeat"] {
            timed_round_trip(&mut ledger, memory, clock, &mut checks, policy, run, timed);
        }
    }
    if headroom.frames > 0 {
        checks.context = "headroom";
        let back = ledger.pass(
            ReservationOp::Populate,
            SUPERPAGES,
            headroom,
            Granularity::EveryCall,
        );
        checks.expect("headroom_repopulated", all_done(back));
    }
    checks.context = "balloon";
    checks.expect_eq("reservation_restored", ledger.current(), start);
    checks
}

/// One functional round: `range` down and back up under `policy`, from `start` pages.
struct Trip {
    policy: Policy,
    range: FrameRun,
    start: u64,
    ballooned: BalloonedFrame,
}

/// Scrub, balloon the trip's range down, read the holes, balloon it back up.
fn round_trip<H: Hypervisor, M: FrameMemory>(
    ledger: &mut Ledger<'_, H>,
    memory: &mut M,
    checks: &mut Checks,
    trip: Trip,
) {
    let Trip {
        policy,
        range,
        start,
        ballooned,
    } = trip;
    checks.context = policy.name;
    checks.expect("scrubbed", memory.fill(range, 0).is_ok());
    let down = ledger.pass(
        ReservationOp::Decrease,
        policy,
        range,
        Granularity::EveryCall,
    );
    checks.expect_eq("released_every_extent", down.done, down.requested);
    let released = down.done * policy.order.frames();
    checks.expect_eq("current_after_release", ledger.current(), start - released);
    probe_ballooned(memory, checks, policy.name, range, ballooned);
    let released_range = FrameRun::new(range.first, released);
    let up = ledger.pass(
        ReservationOp::Populate,
        policy,
        released_range,
        Granularity::EveryCall,
    );
    checks.expect_eq("repopulated_every_extent", up.done, up.requested);
    checks.expect_eq("current_after_repopulate", ledger.current(), start);
    defmt::info!(
        "hypercalls policy={=str} bytes={=u64} decrease={=u32} populate={=u32}",
        policy.name,
        range.frames * PAGE_BYTES,
        down.calls,
        up.calls
    );
}

/// Read the first word of the range's first frame and the last word of its last, both ballooned
/// now, and check that the platform's Xen answers as it does; where the platform says a read is
/// not probed, log each frame as not probed instead.
fn probe_ballooned<M: FrameMemory>(
    memory: &M,
    checks: &mut Checks,
    policy: &str,
    range: FrameRun,
    ballooned: BalloonedFrame,
) {
    let last = range.frame(range.frames - 1);
    for (gfn, word) in [(range.frame(0), 0), (last, WORDS_PER_PAGE - 1)] {
        let (check, as_expected) = match ballooned {
            BalloonedFrame::NotProbed => {
                defmt::info!(
                    "ballooned policy={=str} gfn={=u64:#x} probed=false",
                    policy,
                    gfn.0
                );
                continue;
            }
            BalloonedFrame::ReadsAllOnes => (
                "ballooned_frame_reads_all_ones",
                read_ballooned(memory, policy, gfn, word) == Ok(Read::Word(u64::MAX)),
            ),
            BalloonedFrame::ReadAborts { syndrome_class } => (
                "ballooned_frame_read_aborts",
                matches!(
                    read_ballooned(memory, policy, gfn, word),
                    Ok(Read::Aborted(syndrome)) if syndrome >> 26 == syndrome_class
                ),
            ),
        };
        checks.expect(check, as_expected);
    }
}

/// Read word `word` of ballooned frame `gfn`, and log what came back.
fn read_ballooned<M: FrameMemory>(
    memory: &M,
    policy: &str,
    gfn: Gfn,
    word: usize,
) -> Result<Read, FrameError> {
    let read = memory.read(gfn, word);
    let (aborted, syndrome) = match read {
        Ok(Read::Aborted(syndrome)) => (true, syndrome),
        Ok(Read::Word(value)) => (false, value),
        Err(_) => (false, 0),
    };
    defmt::info!(
        "ballooned policy={=str} gfn={=u64:#x} aborted={=bool} esr_or_word={=u64:#x}",
        policy,
        gfn.0,
        aborted,
        syndrome
    );
    read
}

/// One frame scrubbed before release comes back zero; one released dirty shows what Xen returns.
fn scrub_before_release<H: Hypervisor, M: FrameMemory>(
    ledger: &mut Ledger<'_, H>,
    memory: &mut M,
    checks: &mut Checks,
    range: FrameRun,
) {
    checks.context = "scrub";
    let (Some(scrubbed), Some(dirty)) = (range.slice(0, 1), range.slice(1, 1)) else {
        checks.expect("frames_for_scrub", false);
        return;
    };
    let filled = memory
        .fill(scrubbed, PATTERN)
        .and(memory.fill(dirty, PATTERN))
        .and(memory.fill(scrubbed, 0));
    checks.expect("pattern_written_then_scrubbed", filled.is_ok());
    for frame in [scrubbed, dirty] {
        let mut list = [frame.frame(0)];
        let down = ledger.call(ReservationOp::Decrease, ExtentOrder::PAGE, &mut list);
        checks.expect_eq("released_one_frame", down.extents as u64, 1);
        let up = ledger.call(ReservationOp::Populate, ExtentOrder::PAGE, &mut list);
        checks.expect_eq("repopulated_one_frame", up.extents as u64, 1);
    }
    let scrubbed_zero = memory.holds_only(scrubbed.frame(0), 0).unwrap_or(false);
    defmt::info!(
        "scrubbed gfn={=u64:#x} reads_zero={=bool}",
        scrubbed.start(),
        scrubbed_zero
    );
    checks.expect("scrubbed_frame_returns_zero", scrubbed_zero);
    let first_word = match memory.read(dirty.frame(0), 0) {
        Ok(Read::Word(word)) => word,
        _ => 0,
    };
    let stale = memory.holds_only(dirty.frame(0), PATTERN).unwrap_or(false);
    defmt::info!(
        "unscrubbed gfn={=u64:#x} first_word={=u64:#x} stale_pattern={=bool}",
        dirty.start(),
        first_word,
        stale
    );
    checks.expect("dirty_frame_scrubbed_after", memory.fill(dirty, 0).is_ok());
}

/// Populate holes past the maximum: Xen completes a prefix; account exactly that prefix, fill the
/// remainder with 4 KiB extents, see one more refused, then give back exactly what was added.
fn beyond_maximum<H: Hypervisor>(
    ledger: &mut Ledger<'_, H>,
    checks: &mut Checks,
    hole: FrameRun,
    maximum: u64,
) {
    checks.context = "overmax";
    let before = ledger.current();
    let superpage = SUPERPAGE_ORDER.frames();
    let headroom = maximum
        .saturating_sub(before)
        .saturating_sub(PRE_GROWN_PAGES);
    let requested = headroom / superpage + 2;
    let needed = requested * superpage + superpage + PRE_GROWN_PAGES;
    let fits = requested as usize <= LIST_CAPACITY && hole.frames >= needed;
    let pre_grown = hole.slice(
        hole.frames - PRE_GROWN_PAGES.min(hole.frames),
        PRE_GROWN_PAGES,
    );
    let (true, Some(pre_grown)) = (
        checks.expect("hole_fits_headroom", headroom > 0 && fits),
        pre_grown,
    ) else {
        return;
    };
    let grown = ledger.pass(
        ReservationOp::Populate,
        SEED,
        pre_grown,
        Granularity::EveryCall,
    );
    checks.expect("pre_grown", all_done(grown));
    let mut list = [Gfn(0); LIST_CAPACITY];
    let superpages = &mut list[..requested as usize];
    for (index, slot) in superpages.iter_mut().enumerate() {
        *slot = hole.frame(index as u64 * superpage);
    }
    let big = overmax_call(ledger, maximum, SUPERPAGE_ORDER, superpages);
    checks.expect_eq("superpages_completed_to_maximum", big, headroom / superpage);
    let tail_first = hole.start() + big * superpage;
    let remainder = maximum.saturating_sub(ledger.current());
    let tail = (remainder + 1).min(LIST_CAPACITY as u64) as usize;
    for (index, slot) in list[..tail].iter_mut().enumerate() {
        *slot = Gfn(tail_first + index as u64);
    }
    let small = overmax_call(ledger, maximum, ExtentOrder::PAGE, &mut list[..tail]);
    checks.expect_eq("pages_completed_to_maximum", small, remainder);
    checks.expect(
        "remainder_not_whole_superpage",
        remainder > 0 && remainder < superpage,
    );
    checks.expect_eq("current_at_maximum", ledger.current(), maximum);
    let mut one_more = [Gfn(tail_first + small)];
    let refused = overmax_call(ledger, maximum, ExtentOrder::PAGE, &mut one_more);
    checks.expect_eq("one_more_refused", refused, 0);
    let returns = [
        (SUPERPAGES, hole.first, big * superpage),
        (SEED, Gfn(tail_first), small),
        (SEED, pre_grown.first, pre_grown.frames),
    ];
    let exact = returns.into_iter().all(|(policy, first, frames)| {
        let range = FrameRun::new(first, frames);
        all_done(ledger.pass(
            ReservationOp::Decrease,
            policy,
            range,
            Granularity::EveryCall,
        ))
    });
    checks.expect("released_exactly_what_was_added", exact);
    checks.expect_eq("current_after_recovery", ledger.current(), before);
}

fn overmax_call<H: Hypervisor>(
    ledger: &mut Ledger<'_, H>,
    maximum: u64,
    order: ExtentOrder,
    list: &mut [Gfn],
) -> u64 {
    let before = ledger.current();
    let done = ledger.call(ReservationOp::Populate, order, list).extents as u64;
    defmt::info!(
        "overmax maximum={=u64} before={=u64} order={=u8} requested={=usize} done={=u64}",
        maximum,
        before,
        order.get(),
        list.len(),
        done
    );
    done
}

fn all_done(pass: Pass) -> bool {
    pass.done == pass.requested
}

/// Scrub, release and repopulate `range` under `policy`, one timing line per operation.
fn timed_round_trip<H: Hypervisor, M: FrameMemory, C: Clock>(
    ledger: &mut Ledger<'_, H>,
    memory: &mut M,
    clock: &C,
    checks: &mut Checks,
    policy: Policy,
    run: &'static str,
    range: FrameRun,
) {
    checks.context = policy.name;
    let t0 = clock.now_ns();
    let scrubbed = memory.fill(range, 0).is_ok();
    let t1 = clock.now_ns();
    let down = ledger.pass(
        ReservationOp::Decrease,
        policy,
        range,
        Granularity::WholePass,
    );
    let t2 = clock.now_ns();
    let released = FrameRun::new(range.first, down.done * policy.order.frames());
    let up = ledger.pass(
        ReservationOp::Populate,
        policy,
        released,
        Granularity::WholePass,
    );
    let t3 = clock.now_ns();
    checks.expect(
        "timed_round_trip_complete",
        scrubbed && all_done(down) && all_done(up),
    );
    let bytes = range.frames * PAGE_BYTES;
    for (op, calls, from, to) in [
        ("scrub", 0, t0, t1),
        ("decrease", down.calls, t1, t2),
        ("populate", up.calls, t2, t3),
    ] {
        let micros = to.saturating_sub(from) / 1000;
        defmt::info!(
            "timing policy={=str} run={=str} op={=str} bytes={=u64} calls={=u32} ms={=u64}.{=u64:03}",
            policy.name,
            run,
            op,
            bytes,
            calls,
            micros / 1000,
            micros % 1000
        );
    }
}
