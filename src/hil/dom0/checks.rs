//! The host's checks of the dom0's report against the plan: xl accepted or refused each command
//! as it must; xenstore shows the target and static-max the command leaves; `xl list` and Xen's
//! own count show the target reached (within the 1 MiB xl adds), and the guest reports it under
//! `data/ballast/` (`status` `reached`, `target-pages` the target); below the floor, xl refuses or
//! the guest clamps or refuses it and says so under `data/ballast/` (`status` `clamped:<why>` with
//! `target-pages` reached, or `refused:<why>`); after the boot balloon-out Xen's
//! PoD entries equal its cache; `xl shutdown` makes the domain go away; and the domU writes its
//! PV console (`xl console` or xenconsoled's log of it shows a line). Also the table an admin
//! reads.

use super::plan::{Op, Outcome, Step, BELOW_FLOOR_MIB, UNREACHABLE_MIB};
use super::report::{DomReport, StepReport};

/// Whether `shown` MiB is within 1 MiB of `want`.
fn within_one(shown: u64, want: u64) -> bool {
    shown.abs_diff(want) <= 1
}

fn show(value: Option<u64>) -> String {
    value.map_or("-".into(), |value| value.to_string())
}

/// Every way the report falls short of the plan for a domU booted with `boot_mib`, one sentence
/// each.
pub fn problems(plan: &[Step], boot_mib: u64, report: &DomReport) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(what) = &report.failed {
        problems.push(format!("the dom0 could not go on: {what}"));
    }
    match report.created {
        Some((0, Some(_), _)) => {}
        Some((rc, _, _)) => problems.push(format!("xl create exited {rc}")),
        None => problems.push("no `xl create` in the dom0's report".into()),
    }
    match report.pod.iter().find(|pod| pod.when == "boot") {
        Some(pod) => match (pod.entries, pod.cache) {
            (Some(entries), Some(cache)) if entries == cache => {}
            (entries, cache) => problems.push(format!(
                "after boot Xen shows PoD entries={} cache={} (waited {} ms): the guest did not \
                 balloon out what Xen does not back",
                show(entries),
                show(cache),
                show(pod.ms)
            )),
        },
        None if report.created.is_some_and(|(rc, _, _)| rc == 0) => {
            problems.push("no PoD counters after boot in the dom0's report".into());
        }
        None => {}
    }
    let mut reservation_mib = boot_mib;
    let mut target_kib = Some(boot_mib * 1024);
    let mut missing = Vec::new();
    for (index, step) in plan.iter().enumerate() {
        let Some(seen) = report.steps.iter().find(|seen| seen.n == index + 1) else {
            missing.push(format!(
                "{} (xl {} {})",
                index + 1,
                step.op.name(),
                step.mib
            ));
            continue;
        };
        problems.extend(check_step(step, seen, target_kib, reservation_mib));
        reservation_mib = seen.xl_mib.unwrap_or(reservation_mib);
        target_kib = seen.target_kib.or(target_kib);
    }
    if !missing.is_empty() {
        problems.push(format!(
            "steps missing from the dom0's report: {}",
            missing.join(", ")
        ));
    }
    for unreadable in &report.unreadable {
        problems.push(format!("unreadable dom0 report line: {unreadable}"));
    }
    match report.shutdown {
        Some((_, true, _)) => {}
        Some((rc, false, ms)) => problems.push(format!(
            "the domain was still there after `xl shutdown -w` (exit {rc}, {} ms): destroyed",
            show(ms)
        )),
        None => problems.push("no `xl shutdown` in the dom0's report".into()),
    }
    if report.created.is_some_and(|(rc, _, _)| rc == 0)
        && report.console.is_empty()
        && report.console_log.is_empty()
    {
        problems.push(
            "the domU wrote nothing to its PV console: `xl console` and xenconsoled's log of it \
             are empty"
                .into(),
        );
    }
    if !report.done {
        problems.push("the dom0's /init did not reach its end".into());
    }
    problems
}

/// The problems of one step. `target_before_kib` is xenstore's target before it,
/// `reservation_mib` xl list's Mem.
fn check_step(
    step: &Step,
    seen: &StepReport,
    target_before_kib: Option<u64>,
    reservation_mib: u64,
) -> Vec<String> {
    let command = format!("xl {} {}", step.op.name(), step.mib);
    let mut problems = Vec::new();
    let mut say = |text: String| problems.push(format!("{command}: {text}"));
    if seen.op != step.op.name() || seen.mib != step.mib {
        say(format!("the dom0 ran xl {} {} instead", seen.op, seen.mib));
        return problems;
    }
    let accepted = seen.rc == 0;
    let mut expect_mib = reservation_mib;
    let mut unreached = false;
    match (step.outcome, accepted) {
        (Outcome::Accepted, false) => say(format!("xl refused it (exit {})", seen.rc)),
        (Outcome::Refused, true) => say("xl accepted it; it must refuse it".into()),
        (Outcome::Refused | Outcome::RefusedOrClamped, false) => {
            if let (Some(before), Some(now)) = (target_before_kib, seen.target_kib) {
                if before != now {
                    say(format!(
                        "refused, yet memory/target moved from {before} to {now} KiB"
                    ));
                }
            }
        }
        (Outcome::Accepted, true) if step.op.name() == "mem-set" => {
            expect_mib = step.mib;
            let pages = step.target_kib / 4;
            let status = seen.ballast_status.as_deref().unwrap_or("-");
            if seen.reached == "yes"
                && (status, seen.ballast_target_pages) != ("reached", Some(pages))
            {
                say(format!(
                    "the guest reports status {status}, target-pages {} under data/ballast/, \
                     expected reached, {pages}",
                    show(seen.ballast_target_pages)
                ));
            }
            if seen.reached != "yes" {
                unreached = true;
                say(format!(
                    "xl list did not show the target within {} ms (reached={}, xl list {} MiB): \
                     the guest did not move to it",
                    show(seen.wait_ms),
                    seen.reached,
                    show(seen.xl_mib)
                ));
            }
        }
        (Outcome::Accepted, true) if step.op == Op::TargetWrite => {
            let status = seen.ballast_status.as_deref().unwrap_or("-");
            match (seen.reached.as_str(), seen.xen_kib, seen.xen_max_kib) {
                ("yes", Some(count), Some(maximum)) if count == maximum => {
                    expect_mib = maximum / 1024;
                }
                (reached, count, maximum) => {
                    unreached = true;
                    say(format!(
                        "Xen's count did not stop at its maximum (reached={reached}, Xen {} KiB, \
                         maximum {} KiB)",
                        show(count),
                        show(maximum)
                    ));
                }
            }
            if step.mib >= UNREACHABLE_MIB {
                // Above all the guest can hold: it steers to its largest target, which lies
                // above static-max (its growth range) and below the target written.
                let largest = seen.ballast_target_pages.unwrap_or(0);
                let clamped = status == "clamped:TargetTooHigh"
                    && largest > step.static_max_kib / 4
                    && largest < step.mib * 256;
                if !clamped {
                    say(format!(
                        "the guest reports status {status}, target-pages {} under data/ballast/ \
                         for a target above all it can hold, expected clamped:TargetTooHigh with \
                         its largest target (above static-max, below the target)",
                        show(seen.ballast_target_pages)
                    ));
                }
            } else if status != "ballooning" {
                say(format!(
                    "the guest reports status {status} under data/ballast/ for a target above \
                     Xen's maximum, expected ballooning"
                ));
            }
        }
        (Outcome::Accepted, true) => {}
        (Outcome::RefusedOrClamped, true) => {
            let status = seen.ballast_status.as_deref().unwrap_or("-");
            match (seen.reached.as_str(), seen.ballast_target_pages) {
                ("clamped", Some(pages))
                    if pages > BELOW_FLOOR_MIB * 256 && status.starts_with("clamped:") =>
                {
                    expect_mib = pages / 256;
                }
                ("refused", _) if status.starts_with("refused:") => {}
                (reached, pages) => {
                    unreached = true;
                    say(format!(
                        "xl accepted a target below the memory server's floor, and the guest \
                         neither clamped it nor refused it under data/ballast/ (status {status}, \
                         target-pages {}, reached={reached}, xl list {} MiB)",
                        show(pages),
                        show(seen.xl_mib)
                    ));
                }
            }
        }
    }
    if accepted || step.outcome == Outcome::Refused {
        let wanted_target = (step.outcome != Outcome::Refused).then_some(step.target_kib);
        if let Some(wanted) = wanted_target.filter(|_| step.op != Op::MemMax) {
            if seen.target_kib != Some(wanted) {
                say(format!(
                    "xenstore memory/target is {} KiB, expected {wanted}",
                    show(seen.target_kib)
                ));
            }
        }
        if seen.static_max_kib != Some(step.static_max_kib) {
            say(format!(
                "xenstore memory/static-max is {} KiB, expected {}",
                show(seen.static_max_kib),
                step.static_max_kib
            ));
        }
    }
    if unreached {
        // Said once: the counts below would only repeat it.
        return problems;
    }
    match seen.xl_mib {
        Some(mib) if within_one(mib, expect_mib) => {}
        mib => say(format!(
            "xl list shows {} MiB, expected {expect_mib} (±1)",
            show(mib)
        )),
    }
    match seen.xen_kib {
        Some(kib) if within_one(kib / 1024, expect_mib) => {}
        kib => say(format!(
            "Xen's reservation is {} KiB, expected {expect_mib} MiB (±1)",
            show(kib)
        )),
    }
    problems
}

/// The table of the admin's commands: what xenstore, `xl list` and Xen showed after each, the
/// host's time to the target, and the guest's own (`guest`: from the watch firing to the memory
/// server holding the target, and the hypercalls it took, `hc`).
pub fn table(report: &DomReport) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<22} {:>4} {:>11} {:>14} {:>8} {:>11} {:>11} {:>9} {:>15}  ballast target KiB, status",
        "command",
        "rc",
        "target KiB",
        "static-max KiB",
        "xl MiB",
        "Xen KiB",
        "Xen max KiB",
        "to target",
        "guest"
    )];
    for pod in &report.pod {
        lines.push(format!(
            "  PoD {:<18} entries={} cache={} (xl list {} MiB)",
            pod.when,
            show(pod.entries),
            show(pod.cache),
            show(pod.xl_mib)
        ));
    }
    let guest = report.guest_per_step();
    for (step, guest) in report.steps.iter().zip(guest) {
        let guest = guest.map_or("-".into(), |(reached, hypercalls)| {
            format!("{} ms, {hypercalls} hc", reached.ms)
        });
        let time = match (step.reached.as_str(), step.ms) {
            ("yes" | "clamped", Some(ms)) => format!("{:.2} s", ms as f64 / 1000.0),
            ("-", _) => "-".into(),
            (reached, ms) => format!("{reached} {}", show(ms)),
        };
        lines.push(format!(
            "{:<22} {:>4} {:>11} {:>14} {:>8} {:>11} {:>11} {:>9} {:>15}  {}, {}",
            match step.op.as_str() {
                "target-write" => format!("xenstore target {}", step.mib),
                op => format!("xl {op} {}", step.mib),
            },
            step.rc,
            show(step.target_kib),
            show(step.static_max_kib),
            show(step.xl_mib),
            show(step.xen_kib),
            show(step.xen_max_kib),
            time,
            guest,
            show(step.ballast_target_pages.map(|pages| pages * 4)),
            step.ballast_status.as_deref().unwrap_or("-")
        ));
    }
    if let Some((rc, gone, ms)) = report.shutdown {
        lines.push(format!(
            "{:<22} {:>4} domain {} after {} ms",
            "xl shutdown -w",
            rc,
            if gone { "gone" } else { "STILL THERE" },
            show(ms)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::plan::{steps, DomuConfig};
    use super::super::report::{event, DomReport};
    use super::*;

    const SHIPPED: &str = include_str!("../../../manifests/xen-pvh-domu.cfg");

    /// Who turns down the target below the floor, and how.
    #[derive(Clone, Copy)]
    enum Floor {
        /// xl refuses it.
        XlRefuses,
        /// xl accepts it and the guest clamps it to this many KiB.
        GuestClamps(u64),
        /// xl accepts it and the guest refuses it.
        GuestRefuses,
    }

    /// The report of a run in which xl and the guest behave: each accepted target reached,
    /// refusals changing nothing, the floor turned down as `floor` says.
    fn report_of(plan: &[Step], floor: Floor, shutdown: &str) -> DomReport {
        let mut lines = vec![
            "ballast-dom0: created rc=0 domid=1 ms=4000".to_string(),
            "ballast-dom0: pod when=boot entries=65024 cache=65024 ms=900 xl_mib=256".to_string(),
        ];
        let (mut target, mut max, mut mib) = (262_144, 524_288, 256);
        for (index, step) in plan.iter().enumerate() {
            let mut rc = 0;
            let mut reached = "-";
            let mut pages = step.target_kib / 4;
            let mut status = "reached";
            let mut xen = None;
            match (step.outcome, floor) {
                (Outcome::Accepted, _) if step.op == Op::TargetWrite => {
                    // Past xl: the maximum stays, and the guest stops at it.
                    let maximum = max + 1024;
                    (target, mib, reached) = (step.mib * 1024, maximum / 1024, "yes");
                    (status, xen) = ("ballooning", Some((maximum, maximum)));
                    if step.mib >= UNREACHABLE_MIB {
                        (pages, status) = (262_144, "clamped:TargetTooHigh");
                    }
                }
                (Outcome::Refused, _) | (Outcome::RefusedOrClamped, Floor::XlRefuses) => rc = 1,
                (Outcome::RefusedOrClamped, Floor::GuestClamps(kib)) => {
                    (target, mib, reached) = (4096, kib / 1024, "clamped");
                    (pages, status) = (kib / 4, "clamped:TargetTooLow");
                }
                (Outcome::RefusedOrClamped, Floor::GuestRefuses) => {
                    (target, reached) = (4096, "refused");
                    (pages, status) = (mib * 256, "refused:TargetTooLow");
                }
                (Outcome::Accepted, _) if step.op.name() == "mem-set" => {
                    (target, mib, reached) = (step.mib * 1024, step.mib, "yes");
                }
                (Outcome::Accepted, _) => max = step.mib * 1024,
            }
            // Xen's count and maximum: the guest's holding, and xl's target + 1 MiB.
            let xen = xen.unwrap_or((mib * 1024 + 68, target + 1024));
            lines.push(format!(
                "ballast-dom0: step n={} op={} mib={} rc={rc} reached={reached} ms=300 \
                 wait_ms=30000 target_kib={target} static_max_kib={max} xl_mib={mib} \
                 xen_kib={} xen_max_kib={} ballast_target_pages={pages} ballast_status={status}",
                index + 1,
                step.op.name(),
                step.mib,
                xen.0,
                xen.1
            ));
        }
        lines.push("ballast-dom0: console | ballast: serving".into());
        lines.push(format!("ballast-dom0: shutdown {shutdown} ms=800"));
        lines.push("ballast-dom0: done t_ms=90000".into());
        let mut report = DomReport::default();
        for line in lines {
            report.take(event(&line).unwrap());
        }
        report
    }

    fn shipped_plan() -> Vec<Step> {
        steps(&DomuConfig::derive(SHIPPED, "xen-pvh-domu.cfg").unwrap())
    }

    #[test]
    fn a_guest_that_follows_xl_passes_whether_the_floor_is_refused_or_clamped() {
        let plan = shipped_plan();
        for floor in [
            Floor::XlRefuses,
            Floor::GuestClamps(20_480),
            Floor::GuestRefuses,
        ] {
            let report = report_of(&plan, floor, "rc=0 gone=yes");
            assert_eq!(problems(&plan, 256, &report), Vec::<String>::new());
            assert_eq!(table(&report).len(), 1 + 1 + plan.len() + 1);
        }
    }

    #[test]
    fn a_dom0_that_stopped_early_says_why_in_a_few_lines() {
        let plan = shipped_plan();
        let mut report = DomReport::default();
        for line in [
            "ballast-dom0: created rc=3 domid=- ms=4000",
            "ballast-dom0: fail what=xl-create t_ms=30000",
            "ballast-dom0: done t_ms=30100",
        ] {
            report.take(event(line).unwrap());
        }
        let found = problems(&plan, 256, &report);
        assert_eq!(
            found,
            [
                "the dom0 could not go on: xl-create",
                "xl create exited 3",
                "steps missing from the dom0's report: 1 (xl mem-set 128), 2 (xl mem-set 201), \
                 3 (xl mem-set 384), 4 (xl mem-set 512), 5 (xl mem-set 256), 6 (xl mem-max 384), \
                 7 (xl mem-set 448), 8 (xl mem-max 512), 9 (xl mem-set 448), 10 (xl mem-set 640), \
                 11 (xl mem-set 4), 12 (xl mem-set 256), 13 (xl mem-max 768), \
                 14 (xl mem-set 512), 15 (xl mem-set 768), 16 (xl mem-set 256), \
                 17 (xl mem-max 512), 18 (xl target-write 640), 19 (xl target-write 16384), \
                 20 (xl mem-set 256)",
                "no `xl shutdown` in the dom0's report",
            ]
        );
    }

    #[test]
    fn a_guest_that_ignores_xl_fails_on_each_thing_it_ignored() {
        let plan = shipped_plan();
        let mut report = report_of(&plan, Floor::XlRefuses, "rc=143 gone=no");
        report.pod[0].entries = Some(130_560);
        report.steps[0].reached = "no".into();
        report.steps[0].xl_mib = Some(256);
        report.steps[10].rc = 0;
        report.steps[10].target_kib = Some(4096);
        report.steps[10].ballast_status = Some("reached".into());
        report.steps[14].ballast_status = Some("ballooning".into());
        report.steps[17].xen_kib = Some(520_000);
        report.steps[18].ballast_status = Some("ballooning".into());
        report.console.clear();
        let found = problems(&plan, 256, &report);
        let expected = [
            "after boot Xen shows PoD entries=130560 cache=65024",
            "xl mem-set 128: xl list did not show the target within 30000 ms (reached=no, xl list 256 MiB)",
            "xl mem-set 4: xl accepted a target below the memory server's floor, and the guest neither",
            "xl mem-set 768: the guest reports status ballooning, target-pages 196608 under data/ballast/, expected reached, 196608",
            "xl target-write 640: Xen's count did not stop at its maximum (reached=yes, Xen 520000 KiB, maximum 525312 KiB)",
            "xl target-write 16384: the guest reports status ballooning, target-pages 262144 under data/ballast/ for a target above all it can hold, expected clamped:TargetTooHigh",
            "the domain was still there after `xl shutdown -w` (exit 143",
            "the domU wrote nothing to its PV console",
        ];
        for text in expected {
            assert!(
                found.iter().any(|problem| problem.starts_with(text)),
                "no `{text}` in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }
}
