//! Checks the numbers the image reports, independently of the image's own checks: the image must
//! say where the reservation began, every `step` must move `current_reservation` by exactly the
//! extents Xen completed, each step must start where the previous one ended, the scenario must end
//! where it began, and a populate past the maximum must complete exactly the extents that fit.
//! Where the host reads Xen's count itself (`xen_reading.rs`: the test app on x86), each reading
//! must agree with where the guest's steps put the count. For the components: a refusal the guest
//! provoked must leave Xen's count alone, each gateway must have refused exactly the requests the
//! guest meant it to, and superpages must need fewer reservation hypercalls than the seed's 4 KiB
//! extents for the same target moves. For the memory-server app: its books must agree with Xen's
//! count once idle, at the boot target if one was given, and it must report serving.

use std::collections::BTreeMap;

use ballast::sel4::costs::Costs;

use super::xen_reading::XenReadings;

/// A log message as `keyword key=value ...`.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'m> {
    /// The first word.
    pub keyword: &'m str,
    fields: BTreeMap<&'m str, &'m str>,
}

impl<'m> Record<'m> {
    /// Split `message` into its keyword and fields.
    pub fn parse(message: &'m str) -> Record<'m> {
        let mut words = message.split_whitespace();
        let keyword = words.next().unwrap_or("");
        let fields = words.filter_map(|word| word.split_once('=')).collect();
        Record { keyword, fields }
    }

    /// Field `key` as text.
    pub fn text(&self, key: &str) -> Option<&'m str> {
        self.fields.get(key).copied()
    }

    /// Field `key` as a number (decimal or `0x` hex).
    pub fn number(&self, key: &str) -> Option<u64> {
        let text = self.text(key)?;
        match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        }
    }
}

/// What the guest reported and what the host found wrong with it.
#[derive(Debug, Default)]
pub struct Verifier {
    start: Option<u64>,
    maximum: Option<u64>,
    last_after: Option<u64>,
    steps: u32,
    /// Refusals the guest provoked since the last `gateway` line.
    refusals: u64,
    /// Reservation hypercalls of the components' policy rounds, by policy.
    component_calls: BTreeMap<String, u64>,
    /// Every program that reports a verdict has: whether all passed.
    pub result: Option<bool>,
    /// The verdicts seen so far (`RESULT PASS` true, `RESULT FAIL` false).
    verdicts: Vec<bool>,
    /// How many programs report a verdict (0 counts as 1: one image, one verdict).
    verdicts_expected: usize,
    /// The memory-server app reported serving.
    pub serving: bool,
    /// The memory-server app set its boot target (`memory_server at=boot_target`): its first
    /// balloon operation starts then.
    pub boot_target_set: bool,
    /// The memory-server app's books when it went idle (`current`).
    idle_current: Option<u64>,
    /// Everything that did not add up, one sentence each.
    pub problems: Vec<String>,
    /// Lines worth repeating in the summary (reservation, hypercalls, timing, scrub).
    pub highlights: Vec<String>,
    /// Ballooned frames the guest did not read (`ballooned ... probed=false`: on its platform the
    /// read would end the reader), which the summary must not let pass for checked.
    pub unprobed_reads: u32,
    /// The host's own readings of Xen's count at the guest's holds, where it takes them.
    pub xen_readings: Option<XenReadings>,
    /// The seL4 image's cost figures, where it reports them (its HIL variant).
    pub sel4_costs: Option<Costs>,
}

impl Verifier {
    /// A verifier of a system in which `programs` report a verdict each (the seL4 image's
    /// scenario domains); [`Verifier::result`] waits for all of them.
    pub fn expecting_verdicts(programs: usize) -> Verifier {
        Verifier {
            verdicts_expected: programs,
            ..Verifier::default()
        }
    }

    /// One program's verdict.
    fn verdict(&mut self, passed: bool) {
        self.verdicts.push(passed);
        if self.verdicts.len() >= self.verdicts_expected.max(1) {
            self.result = Some(self.verdicts.iter().all(|&passed| passed));
        }
    }

    /// Take one decoded message.
    pub fn message(&mut self, message: &str) {
        if let Some(costs) = &mut self.sel4_costs {
            costs.message(message);
        }
        let record = Record::parse(message);
        match record.keyword {
            "reservation" => self.reservation(&record, message),
            "step" => self.step(&record, message),
            "overmax" => self.overmax(&record, message),
            "check" if record.text("ok") == Some("false") => {
                self.problems
                    .push(format!("the guest reports a failed check: {message}"));
            }
            "hypercalls" if record.text("path") == Some("components") => {
                self.component_round(&record, message);
            }
            "gateway_refusal" => self.refusal(&record, message),
            "memory_server" => self.memory_server(&record, message),
            "gateway" => self.gateway(&record, message),
            "ballooned" if record.text("probed") == Some("false") => {
                self.unprobed_reads += 1;
                self.highlights.push(message.to_string());
            }
            "hypercalls" | "timing" | "scrubbed" | "unscrubbed" | "ballooned" | "borrowed"
            | "borrowed_low" => {
                self.highlights.push(message.to_string());
            }
            "scrub" if message.starts_with("scrub refused") => {
                self.problems.push(format!(
                    "the memory server refused a scrub: frames went back to Xen unscrubbed: {message}"
                ));
            }
            "hold" => {
                let guest = self.last_after.or(self.start);
                if let (Some(readings), Some(at)) = (&mut self.xen_readings, record.text("at")) {
                    readings.hold(at, "steps", guest);
                }
            }
            "hold_over" => {
                if let (Some(readings), Some(at)) = (&mut self.xen_readings, record.text("at")) {
                    readings.hold_over(at);
                }
            }
            "RESULT" => self.verdict(message.split_whitespace().nth(1) == Some("PASS")),
            _ => {}
        }
    }

    /// Take one line of Xen's own console output; a reading of Xen's count to print beside it,
    /// if it completed one.
    pub fn xen_console(&mut self, text: &str) -> Option<String> {
        self.xen_readings.as_mut()?.xen_line(text)
    }

    /// Keys to type on the serial line for the host's readings (taken: typed once).
    pub fn take_keys(&mut self) -> Vec<u8> {
        self.xen_readings
            .as_mut()
            .map(XenReadings::take_keys)
            .unwrap_or_default()
    }

    /// Where the reservation stands before the first step (`reservation current= maximum=`). A
    /// later line (a phase that reads it again) must find it where the steps left it; the first
    /// stays the start the run must end at.
    fn reservation(&mut self, record: &Record<'_>, message: &str) {
        self.highlights.push(message.to_string());
        let (Some(current), Some(maximum)) = (record.number("current"), record.number("maximum"))
        else {
            self.problems
                .push(format!("unparsable reservation line: {message}"));
            return;
        };
        match self.last_after.or(self.start) {
            None => {
                self.start = Some(current);
                self.maximum = Some(maximum);
            }
            Some(previous) if previous != current => self.problems.push(format!(
                "the reservation is reported at {current} but the steps left it at {previous}: {message}"
            )),
            Some(_) => {}
        }
    }

    fn step(&mut self, record: &Record<'_>, message: &str) {
        let fields = (
            record.text("op"),
            record.number("order"),
            record.number("done"),
            record.number("before"),
            record.number("after"),
        );
        let (Some(op), Some(order), Some(done), Some(before), Some(after)) = fields else {
            self.problems.push(format!("unparsable step: {message}"));
            return;
        };
        self.steps += 1;
        let frames = done << order;
        let expected = match op {
            "decrease" => before.checked_sub(frames),
            "populate" | "increase" => before.checked_add(frames),
            _ => None,
        };
        if expected != Some(after) {
            self.problems.push(format!(
                "step moved current_reservation from {before} to {after}, but {done} extents of order {order} ({op}) mean {expected:?}: {message}"
            ));
        }
        let previous = self.last_after.or(self.start);
        if previous.is_some_and(|previous| previous != before) {
            self.problems.push(format!(
                "step starts at {before} but the reservation was {previous:?} after the previous step: {message}"
            ));
        }
        self.last_after = Some(after);
    }

    fn overmax(&mut self, record: &Record<'_>, message: &str) {
        let fields = (
            record.number("maximum"),
            record.number("before"),
            record.number("order"),
            record.number("requested"),
            record.number("done"),
        );
        let (Some(maximum), Some(before), Some(order), Some(requested), Some(done)) = fields else {
            self.problems
                .push(format!("unparsable overmax line: {message}"));
            return;
        };
        let fit = (maximum.saturating_sub(before) >> order).min(requested);
        if done != fit {
            self.problems.push(format!(
                "populate past the maximum completed {done} extents, {fit} fit: {message}"
            ));
        }
        self.highlights.push(message.to_string());
    }

    fn component_round(&mut self, record: &Record<'_>, message: &str) {
        let fields = (
            record.text("policy"),
            record.number("decrease"),
            record.number("populate"),
        );
        let (Some(policy), Some(decrease), Some(populate)) = fields else {
            self.problems
                .push(format!("unparsable hypercalls line: {message}"));
            return;
        };
        *self.component_calls.entry(policy.to_string()).or_default() += decrease + populate;
        self.highlights.push(message.to_string());
    }

    fn refusal(&mut self, record: &Record<'_>, message: &str) {
        let fields = (
            record.number("error"),
            record.number("before"),
            record.number("after"),
        );
        let (Some(error), Some(before), Some(after)) = fields else {
            self.problems
                .push(format!("unparsable gateway_refusal line: {message}"));
            return;
        };
        if error == 0 || before != after {
            self.problems.push(format!(
                "a request the gateway had to refuse was not refused, or Xen's count moved: {message}"
            ));
        } else if record
            .number("expected")
            .is_some_and(|expected| expected != error)
        {
            self.problems.push(format!(
                "the gateway refused a request with another error than its typed one: {message}"
            ));
        }
        self.refusals += 1;
        self.highlights.push(message.to_string());
    }

    fn gateway(&mut self, record: &Record<'_>, message: &str) {
        let refusals = std::mem::take(&mut self.refusals);
        match record.number("rejections") {
            Some(rejections) if rejections == refusals => {}
            Some(rejections) => self.problems.push(format!(
                "the gateway refused {rejections} requests, the guest provoked {refusals}: {message}"
            )),
            None => self
                .problems
                .push(format!("unparsable gateway line: {message}")),
        }
        self.highlights.push(message.to_string());
    }

    fn memory_server(&mut self, record: &Record<'_>, message: &str) {
        self.highlights.push(message.to_string());
        match record.text("at") {
            Some("idle") => {}
            Some("boot_target") => {
                self.boot_target_set = true;
                return;
            }
            Some("serving") => {
                self.serving = true;
                // Idle and waiting for events: nothing moves Xen's count while the host reads it.
                if let Some(readings) = &mut self.xen_readings {
                    readings.hold("serving", "books", self.idle_current);
                }
                return;
            }
            _ => return,
        }
        let fields = (
            record.number("xen_current"),
            record.number("drift"),
            record.number("current"),
            record.number("target"),
        );
        let (Some(xen), Some(drift), Some(current), Some(target)) = fields else {
            self.problems
                .push(format!("unparsable memory_server line: {message}"));
            return;
        };
        if drift != 0 || xen != current {
            self.problems.push(format!(
                "the memory server's books ({current} pages) disagree with Xen's count ({xen}, drift {drift}): {message}"
            ));
        }
        if current != target {
            self.problems.push(format!(
                "the memory server went idle at {current} pages, short of its target {target}: {message}"
            ));
        }
        // Counted by the server itself where the line comes from it; a line from a component
        // apart from the server leaves it out, and the server's own `scrub refused` lines count.
        if let Some(refused) = record
            .number("scrubs_refused")
            .filter(|&refused| refused != 0)
        {
            self.problems.push(format!(
                "{refused} frames went back to Xen unscrubbed (the scrub was refused): {message}"
            ));
        }
        self.idle_current = Some(current);
    }

    /// The final judgement on the memory-server app, booted with `target_pages` (if any): it went
    /// idle with its books at Xen's count (and at the target), reported serving, and did not stop.
    pub fn finish_serving(&mut self, target_pages: Option<u64>) -> &[String] {
        match (self.idle_current, target_pages) {
            (None, _) => self
                .problems
                .push("the memory server never went idle".to_string()),
            (Some(current), Some(target)) if current != target => self.problems.push(format!(
                "the memory server went idle at {current} pages, not the boot target {target}"
            )),
            _ => {}
        }
        if !self.serving {
            self.problems
                .push("the memory server never reported serving".to_string());
        }
        if self.result.is_some() {
            self.problems
                .push("the memory-server image stopped (RESULT): it must serve".to_string());
        }
        self.finish_readings(None);
        &self.problems
    }

    /// The final judgement: every problem found, including those only visible at the end.
    pub fn finish(&mut self) -> &[String] {
        if self.steps == 0 {
            self.problems
                .push("the guest reported no reservation steps".to_string());
        }
        match (self.start, self.last_after) {
            (None, _) => self.problems.push(
                "the guest reported no `reservation current= maximum=` line: where the first step began and where the run must end cannot be checked".to_string(),
            ),
            (Some(start), Some(end)) if start != end => self.problems.push(format!(
                "the reservation ended at {end}, not where it began ({start})"
            )),
            _ => {}
        }
        self.finish_readings(self.start);
        if let Some(costs) = &self.sel4_costs {
            let (lines, problems) = costs.finish();
            self.highlights.extend(lines);
            self.problems.extend(problems);
        }
        if let (Some(superpages), Some(seed)) = (
            self.component_calls.get("2M"),
            self.component_calls.get("4K"),
        ) {
            if superpages >= seed {
                self.problems.push(format!(
                    "the components' superpage policy made {superpages} reservation hypercalls, the seed's {seed}: no fewer"
                ));
            }
        }
        match self.result {
            Some(true) => {}
            Some(false) => self
                .problems
                .push("the guest reported RESULT FAIL".to_string()),
            None if self.verdicts.is_empty() => self
                .problems
                .push("the guest reported no RESULT".to_string()),
            None => self.problems.push(format!(
                "{} of the {} programs that report a verdict did (RESULT)",
                self.verdicts.len(),
                self.verdicts_expected
            )),
        }
        &self.problems
    }

    /// The host's readings of Xen's count beside the guest's figures (`start`: the first
    /// reservation line's count), and their problems.
    fn finish_readings(&mut self, start: Option<u64>) {
        if let Some(readings) = &self.xen_readings {
            let (lines, problems) = readings.finish(start);
            self.highlights.extend(lines);
            self.problems.extend(problems);
        }
    }

    /// Steps checked.
    pub fn steps(&self) -> u32 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<String> {
        let mut verifier = Verifier::default();
        for line in lines {
            verifier.message(line);
        }
        verifier.finish().to_vec()
    }

    const START: &str = "reservation current=1000 maximum=2000";

    #[test]
    fn consistent_steps_pass() {
        let problems = run(&[
            START,
            "step op=decrease order=9 calls=1 requested=1 done=1 before=1000 after=488",
            "step op=populate order=0 calls=1 requested=512 done=512 before=488 after=1000",
            "RESULT PASS",
        ]);
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_step_that_moves_the_wrong_amount_is_caught() {
        let problems = run(&[
            START,
            "step op=decrease order=0 calls=1 requested=4 done=4 before=1000 after=997",
            "step op=populate order=0 calls=1 requested=3 done=3 before=997 after=1000",
            "RESULT PASS",
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("from 1000 to 997"));
    }

    #[test]
    fn a_gap_between_steps_and_an_unrestored_end_are_caught() {
        let problems = run(&[
            START,
            "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999",
            "step op=decrease order=0 calls=1 requested=1 done=1 before=990 after=989",
            "RESULT PASS",
        ]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("starts at 990"));
        assert!(problems[1].contains("ended at 989"));
    }

    #[test]
    fn a_run_without_a_reservation_line_fails() {
        let problems = run(&[
            "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999",
            "step op=populate order=0 calls=1 requested=1 done=1 before=999 after=1000",
            "RESULT PASS",
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("no `reservation current= maximum=` line"),
            "{problems:?}"
        );
        let problems = run(&["RESULT PASS"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("no reservation steps"));
        assert!(problems[1].contains("no `reservation current= maximum=` line"));
    }

    #[test]
    fn an_unparsable_reservation_line_fails_and_does_not_set_the_start() {
        let problems = run(&[
            "reservation current=1000",
            "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999",
            "RESULT PASS",
        ]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("unparsable reservation line"));
        assert!(problems[1].contains("no `reservation current= maximum=` line"));
    }

    #[test]
    fn a_later_reservation_line_must_find_the_count_where_the_steps_left_it() {
        let step = "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999";
        let back = "step op=populate order=0 calls=1 requested=1 done=1 before=999 after=1000";
        let agrees = run(&[
            START,
            step,
            "reservation current=999 maximum=2000",
            back,
            "RESULT PASS",
        ]);
        assert_eq!(agrees, Vec::<String>::new());
        let disagrees = run(&[
            START,
            step,
            "reservation current=990 maximum=2000",
            back,
            "RESULT PASS",
        ]);
        assert_eq!(disagrees.len(), 1, "{disagrees:?}");
        assert!(disagrees[0].contains("reported at 990 but the steps left it at 999"));
    }

    /// Feed `lines` to a verifier that reads Xen's count of d0: guest messages as they are,
    /// Xen's console lines (`(XEN) ...`) through [`Verifier::xen_console`].
    fn run_with_readings(lines: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut verifier = Verifier {
            xen_readings: Some(XenReadings::new(0)),
            ..Verifier::default()
        };
        for line in lines {
            if line.starts_with("(XEN)") {
                verifier.xen_console(line);
            } else {
                verifier.message(line);
            }
        }
        let problems = verifier.finish().to_vec();
        (problems, verifier.highlights)
    }

    const DOMAIN_0: &str = "(XEN) General information for domain 0:";

    #[test]
    fn xens_own_count_at_each_hold_must_be_where_the_steps_put_it() {
        let at_1000 = "(XEN)     nr_pages=1000 xenheap_pages=2 dirty_cpus={} max_pages=2000";
        let agreeing = [
            "hold at=start ms=1500",
            DOMAIN_0,
            at_1000,
            "hold_over at=start",
            START,
            "step op=decrease order=0 calls=1 requested=4 done=4 before=1000 after=996",
            "step op=populate order=0 calls=1 requested=4 done=4 before=996 after=1000",
            "hold at=xen_facts ms=1500",
            DOMAIN_0,
            at_1000,
            "hold_over at=xen_facts",
            "RESULT PASS",
        ];
        let (problems, highlights) = run_with_readings(&agreeing);
        assert_eq!(problems, Vec::<String>::new());
        assert!(highlights.contains(
            &"independent reading at xen_facts: Xen debug key q: d0 nr_pages=1000 max_pages=2000 | the guest's steps: 1000".to_string()
        ));
        // A guest that kept one frame it reports released: its steps add up, Xen's count does not.
        let mut lying = agreeing;
        lying[9] = "(XEN)     nr_pages=1001 xenheap_pages=2 dirty_cpus={} max_pages=2000";
        let (problems, _) = run_with_readings(&lying);
        assert_eq!(
            problems,
            ["Xen's own count for d0 at xen_facts is 1001 pages (debug key q, read by the host), but the guest's steps put it at 1000"]
        );
    }

    #[test]
    fn a_reading_verifier_fails_a_guest_that_never_holds() {
        let (problems, _) = run_with_readings(&[
            START,
            "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999",
            "step op=populate order=0 calls=1 requested=1 done=1 before=999 after=1000",
            "RESULT PASS",
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("held still at no reading point"));
    }

    #[test]
    fn overmax_must_complete_exactly_what_fits() {
        let fits = "overmax maximum=2000 before=1000 order=9 requested=3 done=1";
        let too_many = "overmax maximum=2000 before=1000 order=0 requested=1200 done=1100";
        let problems = run(&[START, fits, too_many, "RESULT PASS"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("completed 1100 extents, 1000 fit"));
        assert!(problems[1].contains("no reservation steps"));
    }

    #[test]
    fn a_system_of_several_programs_passes_once_all_have_passed() {
        let mut verifier = Verifier::expecting_verdicts(2);
        verifier.message("RESULT PASS testclient dies holding frames=1024");
        assert_eq!(verifier.result, None);
        verifier.message("RESULT FAIL");
        assert_eq!(verifier.result, Some(false));
        let mut verifier = Verifier::expecting_verdicts(2);
        verifier.message("RESULT PASS");
        assert!(verifier
            .finish()
            .contains(&"1 of the 2 programs that report a verdict did (RESULT)".to_string()));
        verifier.message("RESULT PASS");
        assert_eq!(verifier.result, Some(true));
    }

    #[test]
    fn a_refused_scrub_is_a_problem_whether_the_server_or_its_books_line_reports_it() {
        let mut verifier = Verifier::default();
        verifier.message("memory_server at=idle xen_current=49152 drift=0 books_were_high=false current=49152 target=49152 total=63488 lent=0 hypercalls=3 state=0 policy=1");
        assert!(verifier.problems.is_empty(), "{:?}", verifier.problems);
        verifier.message("scrub refused first=0x40e00 frames=512: NotScenarioRam");
        assert_eq!(verifier.problems.len(), 1);
        verifier.message("memory_server at=idle xen_current=49152 drift=0 books_were_high=false current=49152 target=49152 total=63488 lent=0 hypercalls=3 state=0 policy=1 scrubs_refused=2");
        assert_eq!(verifier.problems.len(), 2);
    }

    #[test]
    fn failed_checks_and_missing_results_are_problems() {
        let problems = run(&[START, "check context=2M name=scrubbed ok=false"]);
        assert!(problems
            .iter()
            .any(|problem| problem.contains("failed check")));
        assert!(problems.iter().any(|problem| problem.contains("no RESULT")));
    }

    #[test]
    fn gateway_refusals_must_be_provoked_and_leave_xen_alone() {
        let problems = run(&[
            START,
            "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999",
            "gateway_refusal gfn=0x80 error=5 before=999 after=999",
            "gateway phase=xen_facts calls=3 hypercalls=2 rejections=1 protocol_rejections=0",
            "gateway_refusal gfn=0x80 error=0 before=999 after=998",
            "gateway_refusal case=foreign_domain gfn=0x80 error=5 expected=3 before=999 after=999",
            "gateway_refusal case=not_owned gfn=0x80 error=5 expected=5 before=999 after=999",
            "gateway phase=components calls=9 hypercalls=7 rejections=4 protocol_rejections=0",
            "step op=populate order=0 calls=1 requested=1 done=1 before=999 after=1000",
            "RESULT PASS",
        ]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("was not refused"));
        assert!(problems[1].contains("another error than its typed one"));
        assert!(problems[2].contains("refused 4 requests, the guest provoked 3"));
    }

    #[test]
    fn superpages_must_need_fewer_hypercalls_than_the_seed() {
        let step = "step op=decrease order=0 calls=1 requested=1 done=1 before=1000 after=999";
        let lines = |seed: &'static str| {
            [
                START,
                step,
                "hypercalls path=components policy=2M bytes=67108864 decrease=2 populate=1",
                seed,
                "RESULT PASS",
            ]
        };
        let fewer = run(&lines(
            "hypercalls path=components policy=4K bytes=67108864 decrease=32 populate=32",
        ));
        assert!(fewer.iter().all(|p| !p.contains("superpage")), "{fewer:?}");
        let more = run(&lines(
            "hypercalls path=components policy=4K bytes=67108864 decrease=1 populate=1",
        ));
        assert!(
            more.iter()
                .any(|p| p.contains("made 3 reservation hypercalls, the seed's 2")),
            "{more:?}"
        );
    }

    fn serving(lines: &[&str], target_pages: Option<u64>) -> Vec<String> {
        let mut verifier = Verifier::default();
        for line in lines {
            verifier.message(line);
        }
        verifier.finish_serving(target_pages).to_vec()
    }

    const SERVING: &str = "memory_server at=serving waits_for=event toolstack_agent=none";

    #[test]
    fn a_memory_server_at_its_target_and_serving_passes() {
        let idle = "memory_server at=idle xen_current=49152 drift=0 books_were_high=false current=49152 target=49152 total=65536 lent=0 hypercalls=2 state=1 policy=1 scrubs_refused=0";
        assert_eq!(serving(&[idle, SERVING], Some(49152)), Vec::<String>::new());
        let problems = serving(&[idle, SERVING], Some(40000));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("not the boot target 40000"));
    }

    #[test]
    fn xens_own_count_of_a_serving_memory_server_must_match_its_books() {
        let idle = "memory_server at=idle xen_current=49152 drift=0 books_were_high=false current=49152 target=49152 total=65536 lent=0 hypercalls=2 state=1 policy=1 scrubs_refused=0";
        let read = |nr_pages: &str| {
            let mut verifier = Verifier {
                xen_readings: Some(XenReadings::new(0)),
                ..Verifier::default()
            };
            verifier.message(idle);
            verifier.message(SERVING);
            assert_eq!(verifier.take_keys(), b"\x01\x01\x01");
            verifier.xen_console(
                "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)",
            );
            assert_eq!(verifier.take_keys(), b"q");
            verifier.xen_console(DOMAIN_0);
            verifier.xen_console(nr_pages);
            verifier.finish_serving(Some(49152)).to_vec()
        };
        let agrees =
            read("(XEN)     nr_pages=49152 xenheap_pages=2 dirty_cpus={} max_pages=131072");
        assert_eq!(agrees, Vec::<String>::new());
        let disagrees =
            read("(XEN)     nr_pages=49664 xenheap_pages=2 dirty_cpus={} max_pages=131072");
        assert_eq!(
            disagrees,
            ["Xen's own count for d0 at serving is 49664 pages (debug key q, read by the host), but the guest's books put it at 49152"]
        );
    }

    #[test]
    fn a_memory_server_off_xen_or_stopped_or_silent_fails() {
        let drifted = "memory_server at=idle xen_current=49153 drift=1 books_were_high=false current=49152 target=49152 scrubs_refused=0";
        let problems = serving(&[drifted, SERVING], None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("disagree with Xen's count (49153, drift 1)"));
        let short = "memory_server at=idle xen_current=50000 drift=0 current=50000 target=49152 scrubs_refused=2";
        let problems = serving(&[short, "RESULT FAIL"], None);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("short of its target 49152"));
        assert!(problems[1].contains("2 frames went back to Xen unscrubbed"));
        assert!(problems[2].contains("never reported serving"));
        assert!(problems[3].contains("stopped"));
        let problems = serving(&[], None);
        assert!(problems[0].contains("never went idle"), "{problems:?}");
    }

    #[test]
    fn ballooned_frames_not_probed_are_counted_apart() {
        let mut verifier = Verifier::default();
        verifier.message("ballooned policy=2M gfn=0x40a00 aborted=true esr_or_word=0x96000010");
        verifier.message("ballooned policy=2M gfn=0x40a00 probed=false");
        verifier.message("ballooned policy=4K gfn=0x44a00 probed=false");
        assert_eq!(verifier.unprobed_reads, 2);
        assert_eq!(verifier.highlights.len(), 3);
    }

    #[test]
    fn records_read_decimal_and_hex() {
        let record = Record::parse(
            "ballooned policy=2M gfn=0x400 aborted=false esr_or_word=0xffffffffffffffff",
        );
        assert_eq!(record.keyword, "ballooned");
        assert_eq!(record.number("gfn"), Some(0x400));
        assert_eq!(record.text("aborted"), Some("false"));
        assert_eq!(record.number("esr_or_word"), Some(u64::MAX));
        assert_eq!(record.text("policy"), Some("2M"));
        assert_eq!(record.number("missing"), None);
    }
}
