//! Xen's own page count for the guest's domain, read by the host independently of the guest. At
//! each point where the test app holds still (`hold at=NAME`: the start, after each phase), and
//! once the memory-server app serves (idle, waiting for events), the host types Xen's debug key `q` on the serial console (after CTRL-a three times, which switches
//! Xen's console input from the guest to Xen) and Xen dumps every domain, among it `nr_pages=`,
//! the domain's page count (what `XENMEM_current_reservation` returns). Each reading is compared
//! with the count the guest's reported steps (or the server's books) put the domain at; a reading that is missing,
//! arrives after the guest moved on (`hold_over`) or disagrees is a problem.

use std::fmt::Write as _;

/// CTRL-a three times: Xen's console input moves on to the next domain, or to Xen itself after
/// the last (Xen says where: `*** Serial input to Xen` or `to DOMn`).
pub const SWITCH_INPUT: &[u8] = b"\x01\x01\x01";
/// How Xen says its console input now goes to Xen.
const INPUT_TO_XEN: &str = "*** Serial input to Xen";
/// How Xen says its console input now goes to a domain.
const INPUT_TO_DOMAIN: &str = "*** Serial input to DOM";
/// How many times the host switches Xen's console input looking for Xen (Xen, dom0 and a domU
/// make three stops).
const MOST_SWITCHES: u32 = 4;
/// Xen's debug key that dumps every domain's information, its page counts among it.
pub const DUMP_DOMAINS_KEY: &[u8] = b"q";

/// One domain's page counts as Xen's `q` dump prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainPages {
    /// The domain id.
    pub domain: u32,
    /// `nr_pages=`: the pages the domain holds (its current reservation).
    pub nr_pages: u64,
    /// `max_pages=`: its maximum reservation.
    pub max_pages: u64,
}

/// Reads the `q` dump line by line: `(XEN) General information for domain N:`, then
/// `(XEN)     nr_pages=... xenheap_pages=... max_pages=...`.
#[derive(Debug, Default)]
pub struct DumpParser {
    /// The domain whose general information is being printed.
    domain: Option<u32>,
}

impl DumpParser {
    /// Take one line of Xen's console; the page counts once a domain's are complete.
    pub fn line(&mut self, text: &str) -> Option<DomainPages> {
        let (_, xen) = text.split_once("(XEN)")?;
        let xen = xen.trim();
        if let Some(rest) = xen.strip_prefix("General information for domain ") {
            self.domain = rest
                .strip_suffix(':')
                .and_then(|domain| domain.parse().ok());
            return None;
        }
        if !xen.starts_with("nr_pages=") {
            return None;
        }
        let domain = self.domain.take()?;
        let field = |key: &str| {
            xen.split_whitespace()
                .filter_map(|word| word.split_once('='))
                .find(|(name, _)| *name == key)
                .and_then(|(_, value)| value.parse().ok())
        };
        Some(DomainPages {
            domain,
            nr_pages: field("nr_pages")?,
            max_pages: field("max_pages")?,
        })
    }
}

/// One point where the guest held still, and what was read there.
#[derive(Debug)]
struct Point {
    /// The point's name (`start`, or the phase just ended).
    at: String,
    /// Where the guest's figures had put the count when it held (none before its first
    /// `reservation` line: then the first line's count).
    guest: Option<u64>,
    /// What gave the guest's figure: `steps` (the test app's step lines) or `books` (the
    /// memory server's).
    figure: &'static str,
    /// Xen's reading, if it arrived while the guest held.
    xen: Option<DomainPages>,
}

/// Where Xen's console input goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    /// To a domain (as at boot), the host not having switched it yet.
    Guest,
    /// Being switched by the host, this many times so far.
    Switching(u32),
    /// To Xen: debug keys reach it.
    Xen,
}

/// The host's independent readings of domain `domain`'s page count.
#[derive(Debug)]
pub struct XenReadings {
    domain: u32,
    parser: DumpParser,
    /// Where Xen's console input goes, as far as the host knows.
    input: Input,
    points: Vec<Point>,
    /// Whether the guest still holds at the last point.
    holding: bool,
    /// Keys to type on the serial line.
    keys: Vec<u8>,
    /// Readings that came too late or not at all, one sentence each.
    problems: Vec<String>,
}

impl XenReadings {
    /// Read domain `domain`'s count at every point where the guest holds.
    pub fn new(domain: u32) -> XenReadings {
        XenReadings {
            domain,
            parser: DumpParser::default(),
            input: Input::Guest,
            points: Vec::new(),
            holding: false,
            keys: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The guest holds still at `at`, its `figure` (`steps` or `books`) having put the count at
    /// `guest`: ask Xen.
    pub fn hold(&mut self, at: &str, figure: &'static str, guest: Option<u64>) {
        match self.input {
            Input::Xen => self.keys.extend_from_slice(DUMP_DOMAINS_KEY),
            Input::Guest => {
                self.input = Input::Switching(1);
                self.keys.extend_from_slice(SWITCH_INPUT);
            }
            Input::Switching(_) => {}
        }
        self.points.push(Point {
            at: at.to_string(),
            guest,
            figure,
            xen: None,
        });
        self.holding = true;
    }

    /// The guest moves on from `at`: a reading not in by now was not taken while it held.
    pub fn hold_over(&mut self, at: &str) {
        self.holding = false;
        match self.points.last() {
            Some(point) if point.at == at && point.xen.is_none() => self.problems.push(format!(
                "Xen's count was not read at {at}: no answer to debug key q while the guest held still"
            )),
            Some(point) if point.at == at => {}
            _ => self
                .problems
                .push(format!("the guest ended a hold at {at} it never began")),
        }
    }

    /// Keys waiting to be typed on the serial line (taken: typed once).
    pub fn take_keys(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.keys)
    }

    /// Take one line of Xen's console; what to print beside it if it completed a reading.
    pub fn xen_line(&mut self, text: &str) -> Option<String> {
        self.follow_input(text);
        let pages = self.parser.line(text)?;
        if pages.domain != self.domain || !self.holding {
            return None;
        }
        let point = self.points.last_mut()?;
        if point.xen.is_some() {
            return None;
        }
        point.xen = Some(pages);
        Some(describe(point, None))
    }

    /// Follow Xen's word on where its console input goes: once it is Xen, ask for the dump the
    /// guest waits for; a domain instead, switch again (a few times at most).
    fn follow_input(&mut self, text: &str) {
        let Input::Switching(switches) = self.input else {
            return;
        };
        if text.contains(INPUT_TO_XEN) {
            self.input = Input::Xen;
            if self.holding {
                self.keys.extend_from_slice(DUMP_DOMAINS_KEY);
            }
        } else if text.contains(INPUT_TO_DOMAIN) && switches < MOST_SWITCHES {
            self.input = Input::Switching(switches + 1);
            self.keys.extend_from_slice(SWITCH_INPUT);
        }
    }

    /// Each reading beside the guest's figure (`start`: the guest's first reservation line),
    /// and every problem: a reading missing, late or disagreeing with the guest's steps.
    pub fn finish(&self, start: Option<u64>) -> (Vec<String>, Vec<String>) {
        let mut lines = Vec::new();
        let mut problems = self.problems.clone();
        if self.points.is_empty() {
            problems.push(
                "the guest held still at no reading point (`hold at=`): Xen's count was never read independently".to_string(),
            );
        }
        for (index, point) in self.points.iter().enumerate() {
            let guest = point.guest.or(if index == 0 { start } else { None });
            lines.push(describe(point, guest));
            match (point.xen, guest) {
                (Some(xen), Some(guest)) if xen.nr_pages != guest => problems.push(format!(
                    "Xen's own count for d{} at {} is {} pages (debug key q, read by the host), but the guest's {} put it at {guest}",
                    xen.domain, point.at, xen.nr_pages, point.figure
                )),
                (Some(_), None) => problems.push(format!(
                    "Xen's count was read at {} but the guest had reported no count to compare it with",
                    point.at
                )),
                _ => {}
            }
        }
        (lines, problems)
    }
}

/// A reading beside the guest's figure (`guest`, else the one recorded when the guest held).
fn describe(point: &Point, guest: Option<u64>) -> String {
    let mut line = format!("independent reading at {}: ", point.at);
    match point.xen {
        Some(xen) => {
            let _ = write!(
                line,
                "Xen debug key q: d{} nr_pages={} max_pages={}",
                xen.domain, xen.nr_pages, xen.max_pages
            );
        }
        None => line.push_str("none (Xen did not answer debug key q in time)"),
    }
    match guest.or(point.guest) {
        Some(guest) => {
            let _ = write!(line, " | the guest's {}: {guest}", point.figure);
        }
        None => {
            let _ = write!(
                line,
                " | the guest's {}: none yet (its reservation line follows)",
                point.figure
            );
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &[&str] = &[
        "(XEN) 'q' pressed -> dumping domain info (now = 2391331747)",
        "(XEN) General information for domain 0:",
        "(XEN)     refcnt=3 dying=0 pause_count=0",
        "(XEN)     nr_pages=65536 xenheap_pages=2 dirty_cpus={} max_pages=131072",
        "(XEN)     handle=00000000-0000-0000-0000-000000000000 vm_assist=00000000",
    ];

    fn dump(parser: &mut DumpParser, lines: &[&str]) -> Vec<DomainPages> {
        lines.iter().filter_map(|line| parser.line(line)).collect()
    }

    #[test]
    fn the_dump_gives_each_domains_pages() {
        let mut parser = DumpParser::default();
        let mut lines = DUMP.to_vec();
        lines.push("(XEN) General information for domain 1:");
        lines.push("(XEN)     nr_pages=1024 xenheap_pages=0 dirty_cpus={1} max_pages=2048");
        assert_eq!(
            dump(&mut parser, &lines),
            [
                DomainPages {
                    domain: 0,
                    nr_pages: 65536,
                    max_pages: 131072
                },
                DomainPages {
                    domain: 1,
                    nr_pages: 1024,
                    max_pages: 2048
                }
            ]
        );
    }

    #[test]
    fn pages_lines_outside_a_domains_information_or_not_from_xen_are_ignored() {
        let mut parser = DumpParser::default();
        let stray = [
            "(XEN)     nr_pages=1 xenheap_pages=0 max_pages=2",
            "guest | nr_pages=1 max_pages=2",
            "(XEN) General information for domain 0:",
            "(XEN)     nr_pages=many max_pages=2",
            "(XEN)     nr_pages=3 max_pages=4",
        ];
        assert_eq!(dump(&mut parser, &stray), []);
    }

    const TO_XEN: &str =
        "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)";

    fn readings_at(points: &[(&str, Option<u64>, Option<&str>)]) -> XenReadings {
        let mut readings = XenReadings::new(0);
        for (at, guest, nr_pages_line) in points {
            readings.hold(at, "steps", *guest);
            readings.xen_line(TO_XEN);
            if let Some(line) = nr_pages_line {
                readings.xen_line("(XEN) General information for domain 0:");
                assert!(readings.xen_line(line).is_some());
            }
            readings.hold_over(at);
        }
        readings
    }

    #[test]
    fn the_first_hold_switches_the_input_to_xen_then_every_hold_asks_for_the_dump() {
        let mut readings = XenReadings::new(1);
        assert_eq!(readings.xen_line(TO_XEN), None, "not switched by the host");
        readings.hold("start", "steps", None);
        assert_eq!(readings.take_keys(), b"\x01\x01\x01");
        readings
            .xen_line("(XEN) *** Serial input to DOM1 (type 'CTRL-a' three times to switch input)");
        assert_eq!(readings.take_keys(), b"\x01\x01\x01", "a domain: again");
        readings.xen_line(TO_XEN);
        assert_eq!(readings.take_keys(), b"q");
        assert_eq!(readings.take_keys(), b"");
        readings.hold_over("start");
        readings.hold("xen_facts", "steps", Some(1));
        assert_eq!(readings.take_keys(), b"q");
    }

    #[test]
    fn readings_that_agree_with_the_guests_steps_pass() {
        let readings = readings_at(&[
            ("start", None, Some(DUMP[3])),
            ("xen_facts", Some(65536), Some(DUMP[3])),
        ]);
        let (lines, problems) = readings.finish(Some(65536));
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            lines[0],
            "independent reading at start: Xen debug key q: d0 nr_pages=65536 max_pages=131072 | the guest's steps: 65536"
        );
    }

    #[test]
    fn a_reading_off_the_guests_steps_is_a_problem() {
        let readings = readings_at(&[
            ("start", None, Some(DUMP[3])),
            (
                "xen_facts",
                Some(65536),
                Some("(XEN)     nr_pages=65535 xenheap_pages=2 max_pages=131072"),
            ),
        ]);
        let (_, problems) = readings.finish(Some(65536));
        assert_eq!(
            problems,
            ["Xen's own count for d0 at xen_facts is 65535 pages (debug key q, read by the host), but the guest's steps put it at 65536"]
        );
        let (_, problems) = readings_at(&[("start", None, Some(DUMP[3]))]).finish(Some(65535));
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_late_missing_or_foreign_reading_is_a_problem() {
        let mut readings = readings_at(&[("start", None, None)]);
        readings.xen_line(DUMP[1]);
        assert_eq!(readings.xen_line(DUMP[3]), None, "taken after the hold");
        let (lines, problems) = readings.finish(Some(65536));
        assert!(lines[0].contains("none (Xen did not answer"), "{lines:?}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("not read at start"));
        let mut other_domain = XenReadings::new(1);
        other_domain.hold("start", "steps", None);
        other_domain.xen_line(DUMP[1]);
        assert_eq!(other_domain.xen_line(DUMP[3]), None);
        let (_, problems) = XenReadings::new(0).finish(Some(1));
        assert!(problems[0].contains("no reading point"), "{problems:?}");
    }
}
