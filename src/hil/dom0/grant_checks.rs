//! The host's checks of the grant rounds against the plan (`plan::grant_rounds`): each round
//! reported once, with the mode and pages asked for, the outcome the domU must answer, every page
//! the dom0 still held holding what that outcome says (`pages_ok`), a round that checks the pages
//! (`ok`, `give-back-refused`) mapping and checking every one; and the offer readable by the domU (xenstored gives the node dom0 creates
//! under the domU's `data/` the parent's permissions: the domU owns it); and the gateway's own
//! counters for each round, from the domU's log, as the outcome implies them (a refusal touched
//! no Xen, a death's grants were unmapped by the gateway). Also the rounds' tables.

use super::plan::{Expect, GrantRound};
use super::report::{DomReport, GatewayRound, GrantReport};

fn show(value: Option<u64>) -> String {
    value.map_or("-".into(), |value| value.to_string())
}

/// Every way the grant rounds in `report` fall short of `rounds`, one sentence each.
pub fn problems(rounds: &[GrantRound], report: &DomReport) -> Vec<String> {
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for round in rounds {
        let seen: Vec<&GrantReport> = (report.grants.iter())
            .filter(|seen| seen.round == round.round)
            .collect();
        match seen[..] {
            [] => missing.push(format!("{} ({})", round.round, round.init_line())),
            [seen] => problems.extend(check_round(round, seen)),
            _ => problems.push(format!(
                "grant round {} reported {} times",
                round.round,
                seen.len()
            )),
        }
    }
    if !missing.is_empty() {
        problems.push(format!(
            "grant rounds missing from the dom0's report: {}",
            missing.join(", ")
        ));
    }
    for seen in &report.grants {
        if !rounds.iter().any(|round| round.round == seen.round) {
            problems.push(format!("grant round {} is not in the plan", seen.round));
        }
    }
    problems.extend(
        rounds
            .iter()
            .filter_map(|round| gateway_problem(round, report)),
    );
    if let Some((_, Some(domid), _)) = report.created {
        if !report.grants.is_empty() {
            problems.extend(offer_readable(domid, &report.grant_data));
        }
    }
    problems
}

fn check_round(round: &GrantRound, seen: &GrantReport) -> Vec<String> {
    let name = format!("grant round {} ({})", round.round, round.init_line());
    let mut problems = Vec::new();
    let mut say = |text: String| problems.push(format!("{name}: {text}"));
    if seen.mode != round.mode.as_str() || seen.pages != round.pages as u64 {
        say(format!(
            "the dom0 ran mode {} with {} pages instead",
            seen.mode, seen.pages
        ));
        return problems;
    }
    if !round.expect.matches(&seen.outcome) {
        say(format!(
            "the outcome is {}, expected {}",
            seen.outcome,
            round.expect.token()
        ));
    }
    let held = round.pages_held() as u64;
    if seen.pages_ok != held {
        say(format!(
            "{} of the {held} pages the dom0 held hold what the outcome says",
            seen.pages_ok
        ));
    }
    let pages = Some(round.pages as u64);
    let checks_pages = matches!(round.expect, Expect::Ok | Expect::GiveBackRefused(_));
    if checks_pages
        && round.expect.matches(&seen.outcome)
        && (seen.mapped != pages || seen.checked != pages)
    {
        say(format!(
            "{}, yet the domU mapped {} and checked {} of {} pages",
            seen.outcome,
            show(seen.mapped),
            show(seen.checked),
            round.pages
        ));
    }
    problems
}

/// What the gateway must have counted in `round` for `grant_map` and `grant_unmap`:
/// `[calls, hypercalls, entries, done, refusals]` each.
pub fn expected_gateway(round: &GrantRound) -> ([u64; 5], [u64; 5]) {
    let pages = round.pages as u64;
    match round.expect {
        Expect::Ok | Expect::GiveBackRefused(_) => {
            ([1, 1, pages, pages, 0], [1, 1, pages, pages, 0])
        }
        // One entry fails alone; the backend unmaps the others.
        Expect::GrantStatus { .. } => {
            ([1, 1, pages, pages - 1, 0], [1, 1, pages - 1, pages - 1, 0])
        }
        // Refused before Xen: no hypercall, nothing to unmap.
        Expect::Refused(_) => ([1, 0, 0, 0, 1], [0; 5]),
        // The backend dies holding its grants: the gateway unmaps them itself, with no call.
        Expect::Died { .. } => ([1, 1, pages, pages, 0], [0, 1, pages, pages, 0]),
    }
}

/// The gateway's counters `round` does not show as its outcome implies, if any.
fn gateway_problem(round: &GrantRound, report: &DomReport) -> Option<String> {
    let seen = |map: bool| -> Vec<&GatewayRound> {
        (report.gateway_rounds.iter())
            .filter(|seen| seen.round == round.round && seen.map == map)
            .collect()
    };
    let (map, unmap) = expected_gateway(round);
    let name = format!("grant round {} ({})", round.round, round.init_line());
    for (op, is_map, want) in [("grant_map", true, map), ("grant_unmap", false, unmap)] {
        match seen(is_map)[..] {
            [seen] if seen.counts == want => {}
            [seen] => {
                return Some(format!(
                    "{name}: the gateway counted {op} calls/hypercalls/entries/done/refusals {:?}, \
                     expected {want:?}",
                    seen.counts
                ))
            }
            ref found => {
                return Some(format!(
                    "{name}: {} `gateway phase=grant_round op={op}` messages in the domU's log, \
                     expected 1",
                    found.len()
                ))
            }
        }
    }
    None
}

/// Whether `data/ballast/grant-offer` of domain `domid`, among the `xenstore-ls -fp` lines
/// `lines`, is owned by the domU (permissions `(n<domid>...`), so the domU can read it.
fn offer_readable(domid: u64, lines: &[String]) -> Option<String> {
    let key = format!(
        "/local/domain/{domid}/{}",
        ballast_grant_offer::keys::OFFER_KEY
    );
    let Some(line) = lines
        .iter()
        .find(|line| line.starts_with(&format!("{key} = ")))
    else {
        return Some(format!(
            "no {key} in the domU's data/ballast/ after grant round 1"
        ));
    };
    let owner = format!("(n{domid}");
    let owned = line
        .rsplit_once("  (")
        .is_some_and(|(_, perms)| format!("({perms}").starts_with(&owner));
    (!owned).then(|| format!("{key} is not owned by the domU: {line}"))
}

/// The grant rounds' table: each round's outcome, pages, and the domU's and dom0's times.
pub fn table(report: &DomReport) -> Vec<String> {
    if report.grants.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "{:<32} {:>5} {:<30} {:>7} {:>9} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "grant rounds",
        "pages",
        "outcome",
        "ok",
        "borrow µs",
        "map µs",
        "check µs",
        "unmap µs",
        "return µs",
        "dom0 ms"
    )];
    for seen in &report.grants {
        let [borrow, map, check, unmap, give_back] = seen.micros.map(show);
        lines.push(format!(
            "{:<32} {:>5} {:<30} {:>7} {:>9} {:>8} {:>8} {:>8} {:>9} {:>7}",
            format!("grant round {} {}", seen.round, seen.mode),
            seen.pages,
            seen.outcome,
            seen.pages_ok,
            borrow,
            map,
            check,
            unmap,
            give_back,
            show(seen.ms)
        ));
    }
    lines.push(format!(
        "{:<32} {:>31} {:>31}",
        "gateway per grant round", "grant_map c/h/e/d/r", "grant_unmap c/h/e/d/r"
    ));
    let counts = |seen: Option<&GatewayRound>| {
        seen.map_or("-".into(), |seen| {
            let [calls, hypercalls, entries, done, refusals] = seen.counts;
            format!("{calls}/{hypercalls}/{entries}/{done}/{refusals}")
        })
    };
    for seen in &report.grants {
        let of = |map: bool| {
            (report.gateway_rounds.iter())
                .find(|gateway| gateway.round == seen.round && gateway.map == map)
        };
        lines.push(format!(
            "{:<32} {:>31} {:>31}",
            format!("gateway, round {} {}", seen.round, seen.mode),
            counts(of(true)),
            counts(of(false))
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::plan::grant_rounds;
    use super::super::report::event;
    use super::*;

    /// The `grant` line of `round` answered with `outcome`, `pages_ok` pages as they must be.
    fn line(round: &GrantRound, outcome: &str, pages_ok: usize) -> String {
        let counts = match round.expect {
            Expect::Ok => format!("mapped={0} checked={0}", round.pages),
            Expect::GrantStatus { .. } | Expect::Refused(_) => "mapped=0 checked=0".into(),
            Expect::GiveBackRefused(_) | Expect::Died { .. } => {
                format!("mapped={0} checked={0}", round.pages)
            }
        };
        format!(
            "ballast-dom0: grant round={} mode={} pages={} outcome={outcome} pages_ok={pages_ok} \
             {counts} borrow_us=120 map_us=900 check_us=80 unmap_us=700 give_back_us=150 \
             ms=1400",
            round.round, round.mode, round.pages
        )
    }

    /// The report of a run whose grant rounds all answered as planned, but for `change`.
    fn report_with(change: impl Fn(&GrantRound) -> Option<String>) -> DomReport {
        let mut report = DomReport::default();
        let mut lines = vec![
            "ballast-dom0: created rc=0 domid=1 ms=4000".to_string(),
            "ballast-dom0: grant-data | /local/domain/1/data/ballast = \"\"  (n1)".into(),
            "ballast-dom0: grant-data | /local/domain/1/data/ballast/grant-offer = \"1 check 0 \
             8\"  (n1)"
                .into(),
        ];
        for round in grant_rounds() {
            lines.push(
                change(&round)
                    .unwrap_or_else(|| line(&round, &round.expect.token(), round.pages_held())),
            );
        }
        for text in lines.iter().filter(|text| !text.is_empty()) {
            report.take(event(text).unwrap());
        }
        for round in grant_rounds() {
            let (map, unmap) = expected_gateway(&round);
            report.take_guest_message(&gateway_message(round.round, "grant_map", map));
            report.take_guest_message(&gateway_message(round.round, "grant_unmap", unmap));
        }
        report
    }

    /// The domU's message of the gateway's counters for `op` in `round`.
    fn gateway_message(round: u32, op: &str, counts: [u64; 5]) -> String {
        let [calls, hypercalls, entries, done, refusals] = counts;
        format!(
            "gateway phase=grant_round round={round} op={op} calls={calls} \
             hypercalls={hypercalls} entries={entries} done={done} refusals={refusals}"
        )
    }

    #[test]
    fn rounds_that_answer_as_planned_pass_and_fill_the_table() {
        let report = report_with(|_| None);
        assert_eq!(problems(&grant_rounds(), &report), Vec::<String>::new());
        let table = table(&report);
        assert_eq!(table.len(), 2 + 2 * grant_rounds().len());
        assert!(table[3].starts_with("grant round 3 check"), "{table:#?}");
        assert!(table[3].contains("grant-status:2:-1"), "{table:#?}");
    }

    #[test]
    fn rounds_without_the_domus_driver_time_out_and_fail() {
        let mut report = report_with(|round| {
            let line = line(round, "timeout", round.pages_held());
            Some(line.replace("mapped=0", "mapped=-"))
        });
        report.gateway_rounds.clear();
        let found = problems(&grant_rounds(), &report);
        assert_eq!(found.len(), 2 * grant_rounds().len(), "{found:#?}");
        assert_eq!(
            found[0],
            "grant round 1 (1 check 1 - -): the outcome is timeout, expected ok"
        );
    }

    #[test]
    fn each_wrong_answer_is_named() {
        let report = report_with(|round| match round.round {
            1 => Some(line(round, "ok", 0)),
            2 => Some(line(round, "ok", 256).replace("checked=256", "checked=255")),
            3 => Some(line(round, "grant-status:2:-3", 3)),
            4 => Some(String::new()),
            5 => Some(line(round, "error:borrow:OutOfFrames", 1)),
            6 => {
                Some(line(round, "give-back-refused:FrameMapped", 4).replace("pages=4", "pages=2"))
            }
            _ => None,
        });
        let found = problems(&grant_rounds(), &report);
        assert_eq!(
            found,
            [
                "grant round 1 (1 check 1 - -): 0 of the 1 pages the dom0 held hold what the \
                 outcome says",
                "grant round 2 (2 check 256 - -): ok, yet the domU mapped 256 and checked 255 of \
                 256 pages",
                "grant round 3 (3 check 4 2 -): the outcome is grant-status:2:-3, expected \
                 grant-status:2:-1",
                "grant round 5 (5 unlent-frame 1 - -): the outcome is error:borrow:OutOfFrames, \
                 expected refused:FrameNotLent",
                "grant round 6 (6 give-back-mapped 4 - -): the dom0 ran mode give-back-mapped \
                 with 2 pages instead",
                "grant rounds missing from the dom0's report: 4 (4 check 1 - 7)",
            ]
        );
    }

    #[test]
    fn gateway_counts_that_do_not_fit_the_outcome_are_named() {
        let mut report = report_with(|_| None);
        for seen in &mut report.gateway_rounds {
            match (seen.round, seen.map) {
                // A refusal that reached Xen.
                (4, true) => seen.counts[1] = 1,
                // A dead backend whose grants the gateway never unmapped.
                (7, false) => seen.counts = [0; 5],
                _ => {}
            }
        }
        let found = problems(&grant_rounds(), &report);
        assert_eq!(
            found,
            [
                "grant round 4 (4 check 1 - 7): the gateway counted grant_map \
                 calls/hypercalls/entries/done/refusals [1, 1, 0, 0, 1], expected [1, 0, 0, 0, 1]",
                "grant round 7 (7 die-mapped 4 - -): the gateway counted grant_unmap \
                 calls/hypercalls/entries/done/refusals [0, 0, 0, 0, 0], expected [0, 1, 4, 4, 0]",
            ]
        );
        let table = table(&report);
        let round2 = (table.iter()).find(|line| line.starts_with("gateway, round 2 check"));
        assert!(
            round2.is_some_and(|line| line.contains("1/1/256/256/0")),
            "{table:#?}"
        );
    }

    #[test]
    fn an_offer_the_domu_does_not_own_is_a_problem() {
        let mut report = report_with(|_| None);
        for line in &mut report.grant_data {
            *line = line.replace("(n1)", "(n0,r1)");
        }
        let found = problems(&grant_rounds(), &report);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("grant-offer is not owned by the domU"));
        report.grant_data.clear();
        let found = problems(&grant_rounds(), &report);
        assert!(found[0].starts_with("no /local/domain/1/data/ballast/grant-offer"));
    }

    #[test]
    fn a_round_twice_or_outside_the_plan_is_a_problem() {
        let mut report = report_with(|_| None);
        let mut extra = report.grants[0].clone();
        report.grants.push(extra.clone());
        extra.round = 9;
        report.grants.push(extra);
        let found = problems(&grant_rounds(), &report);
        assert_eq!(
            found,
            [
                "grant round 1 reported 2 times",
                "grant round 9 is not in the plan"
            ]
        );
    }
}
