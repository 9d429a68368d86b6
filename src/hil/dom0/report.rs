//! The dom0's report, as the host reads it off Xen's serial line: `/init` prints one
//! `ballast-dom0: KEYWORD key=value ...` line per event (`created`, `pod`, `step`, `grant` (printed
//! by `ballast-granter`), `shutdown`, `fail`, `done`), and `console | TEXT` / `console-log | TEXT`
//! / `data after=N | TEXT` / `grant-data | TEXT` lines with what the domU's PV console and
//! xenstore `data/` held. The dom0's console reaches Xen in small
//! chunks, so Xen's own lines and a domU's `(dN) ` lines can land in the middle of one of its
//! lines: [`Splicer`] puts such a line back together.

use super::super::verify::Record;

/// What starts every line of the dom0's report.
pub const PREFIX: &str = "ballast-dom0: ";

/// Rejoins dom0 lines that a Xen or domU line cut in two.
#[derive(Debug, Default)]
pub struct Splicer {
    /// The start of a dom0 line whose end has not come yet.
    held: String,
}

/// Where a Xen (`(XEN) `) or domU (`(d12) `) console line starts in `text`, if anywhere.
fn console_line_start(text: &str) -> Option<usize> {
    let xen = text.find("(XEN) ");
    let domu = text.match_indices("(d").map(|(at, _)| at).find(|&at| {
        let digits = text[at + 2..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        digits > 0 && text[at + 2 + digits..].starts_with(") ")
    });
    match (xen, domu) {
        (Some(xen), Some(domu)) => Some(xen.min(domu)),
        (found, None) | (None, found) => found,
    }
}

impl Splicer {
    /// Take one serial line; the whole lines it completes, in order.
    pub fn line(&mut self, text: &str) -> Vec<String> {
        let text = text.replace('\r', "");
        match console_line_start(&text) {
            Some(0) => vec![text],
            Some(at) => {
                self.held.push_str(&text[..at]);
                vec![text[at..].to_string()]
            }
            None => vec![std::mem::take(&mut self.held) + &text],
        }
    }
}

/// One event of the dom0's report.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// `KEYWORD key=value ...`.
    Record(String),
    /// `SOURCE | TEXT`: a line of the domU's console (`console`), of xenconsoled's log of it
    /// (`console-log`), of its xenstore `data/` subtree (`data after=N`), or of its
    /// `data/ballast/` subtree with permissions after the first grant round (`grant-data`).
    Quoted { source: String, text: String },
}

/// The event on the dom0 line `line`, if it is one of the report's.
pub fn event(line: &str) -> Option<Event> {
    let body = &line[line.find(PREFIX)? + PREFIX.len()..];
    Some(match body.split_once(" | ") {
        Some((source, text)) => Event::Quoted {
            source: source.to_string(),
            text: text.to_string(),
        },
        None => Event::Record(body.to_string()),
    })
}

/// One admin command as the dom0 ran it, and what it saw after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// 1-based, in the plan's order.
    pub n: usize,
    /// `mem-set` or `mem-max`.
    pub op: String,
    /// The argument, MiB.
    pub mib: u64,
    /// xl's exit status.
    pub rc: i64,
    /// Whether xl list showed the target (`yes`), the guest's clamp (`clamped`), the guest
    /// refused the target (`refused`), neither before the step's timeout (`no`), the domain was
    /// gone (`gone`), or nothing was awaited (`-`).
    pub reached: String,
    /// From the command to the target shown (or to giving up), ms.
    pub ms: Option<u64>,
    /// How long the dom0 would wait, ms.
    pub wait_ms: Option<u64>,
    /// xenstore `memory/target`, KiB.
    pub target_kib: Option<u64>,
    /// xenstore `memory/static-max`, KiB.
    pub static_max_kib: Option<u64>,
    /// xl list's Mem, MiB.
    pub xl_mib: Option<u64>,
    /// Xen's reservation (xentop MEM), KiB.
    pub xen_kib: Option<u64>,
    /// Xen's maximum (xentop MAXMEM), KiB.
    pub xen_max_kib: Option<u64>,
    /// The target the guest steers to, 4 KiB pages, as it reports it in
    /// `data/ballast/target-pages`.
    pub ballast_target_pages: Option<u64>,
    /// What the guest reports in `data/ballast/status` (`ballooning`, `reached`,
    /// `clamped:<why>`, `refused:<why>`).
    pub ballast_status: Option<String>,
}

impl StepReport {
    /// The step on a `step ...` record.
    pub fn parse(record: &Record<'_>) -> Option<StepReport> {
        Some(StepReport {
            n: usize::try_from(record.number("n")?).ok()?,
            op: record.text("op")?.to_string(),
            mib: record.number("mib")?,
            rc: record.text("rc")?.parse().ok()?,
            reached: record.text("reached")?.to_string(),
            ms: record.number("ms"),
            wait_ms: record.number("wait_ms"),
            target_kib: record.number("target_kib"),
            static_max_kib: record.number("static_max_kib"),
            xl_mib: record.number("xl_mib"),
            xen_kib: record.number("xen_kib"),
            xen_max_kib: record.number("xen_max_kib"),
            ballast_target_pages: record.number("ballast_target_pages"),
            ballast_status: (record.text("ballast_status"))
                .filter(|status| *status != "-")
                .map(str::to_string),
        })
    }
}

/// One grant round as `ballast-granter` reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantReport {
    /// The round.
    pub round: u32,
    /// The mode the domU was asked for.
    pub mode: String,
    /// Pages granted.
    pub pages: u64,
    /// The domU's outcome token, or the dom0's (`timeout`, `bad-answer:*`, `dom0-error:*`).
    pub outcome: String,
    /// Pages the dom0 held at the end that held what the outcome says.
    pub pages_ok: u64,
    /// Grants the domU mapped, pages it checked (from its answer).
    pub mapped: Option<u64>,
    /// Pages the domU checked.
    pub checked: Option<u64>,
    /// The domU's times, µs: borrow, map, check, unmap, give back.
    pub micros: [Option<u64>; 5],
    /// The round's wall time on the dom0, ms.
    pub ms: Option<u64>,
}

impl GrantReport {
    /// The round on a `grant ...` record.
    pub fn parse(record: &Record<'_>) -> Option<GrantReport> {
        Some(GrantReport {
            round: u32::try_from(record.number("round")?).ok()?,
            mode: record.text("mode")?.to_string(),
            pages: record.number("pages")?,
            outcome: record.text("outcome")?.to_string(),
            pages_ok: record.number("pages_ok")?,
            mapped: record.number("mapped"),
            checked: record.number("checked"),
            micros: [
                "borrow_us",
                "map_us",
                "check_us",
                "unmap_us",
                "give_back_us",
            ]
            .map(|key| record.number(key)),
            ms: record.number("ms"),
        })
    }
}

/// The PoD counters Xen showed for the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodReport {
    /// `boot` (once the guest's boot balloon-out had time) or `after-step-1`.
    pub when: String,
    /// PoD entries: guest frames Xen has not backed yet.
    pub entries: Option<u64>,
    /// The PoD cache: pages Xen holds to back them.
    pub cache: Option<u64>,
    /// How long the dom0 polled for entries to equal the cache, ms.
    pub ms: Option<u64>,
    /// xl list's Mem then.
    pub xl_mib: Option<u64>,
}

/// The guest's own account of a target it reached: the memory-server app's
/// `toolstack at=target_reached pages= ms= hypercalls=` message, decoded from its PV console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestReached {
    /// The domain's pages then: the target, or the limit it was clamped to.
    pub pages: u64,
    /// From the target's arrival (the xenstore watch) to the memory server holding it, ms.
    pub ms: u64,
    /// The memory server's hypercalls since it started.
    pub hypercalls: u64,
}

/// The gateway's own counters for one grant op in one round: the memory-server app's
/// `gateway phase=grant_round round= op= calls= hypercalls= entries= done= refusals=` message,
/// decoded from the domU's PV console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayRound {
    /// The grant round.
    pub round: u32,
    /// `true` for `grant_map`, `false` for `grant_unmap`.
    pub map: bool,
    /// `[calls, hypercalls, entries, done, refusals]` during the round.
    pub counts: [u64; 5],
}

/// Everything the dom0 reported.
#[derive(Debug, Default)]
pub struct DomReport {
    /// `xl create`'s exit status, the domain id, and how long it took (ms).
    pub created: Option<(i64, Option<u64>, Option<u64>)>,
    /// The PoD counters, in order.
    pub pod: Vec<PodReport>,
    /// The steps, in order.
    pub steps: Vec<StepReport>,
    /// The grant rounds, in order.
    pub grants: Vec<GrantReport>,
    /// The domU's `data/ballast/` with permissions after the first grant round (`xenstore-ls
    /// -fp` lines).
    pub grant_data: Vec<String>,
    /// `xl shutdown -w`'s exit status, whether the domain was gone after it, and how long it
    /// took (ms).
    pub shutdown: Option<(i64, bool, Option<u64>)>,
    /// What the dom0 could not do (`fail what=`), if anything.
    pub failed: Option<String>,
    /// `/init` reached its end.
    pub done: bool,
    /// The domU's `data/` subtree after the floor step (`xenstore-ls -f` lines).
    pub data: Vec<String>,
    /// What `xl console` showed for a few seconds after boot.
    pub console: Vec<String>,
    /// What xenconsoled logged of the domU's PV console over the whole run.
    pub console_log: Vec<String>,
    /// Report lines the host could not read.
    pub unreadable: Vec<String>,
    /// The targets the guest says it reached, in order (from its decoded PV console).
    pub guest_reached: Vec<GuestReached>,
    /// The gateway's counters for each grant round, in order (from the decoded PV console).
    pub gateway_rounds: Vec<GatewayRound>,
}

impl DomReport {
    /// Take one decoded defmt message of the domU's PV console.
    pub fn take_guest_message(&mut self, text: &str) {
        let record = Record::parse(text);
        if record.keyword == "gateway" && record.text("phase") == Some("grant_round") {
            self.take_gateway_round(&record);
            return;
        }
        if record.keyword != "toolstack" || record.text("at") != Some("target_reached") {
            return;
        }
        let numbers = (
            record.number("pages"),
            record.number("ms"),
            record.number("hypercalls"),
        );
        if let (Some(pages), Some(ms), Some(hypercalls)) = numbers {
            self.guest_reached.push(GuestReached {
                pages,
                ms,
                hypercalls,
            });
        }
    }

    fn take_gateway_round(&mut self, record: &Record<'_>) {
        let map = match record.text("op") {
            Some("grant_map") => true,
            Some("grant_unmap") => false,
            _ => return,
        };
        let fields = ["calls", "hypercalls", "entries", "done", "refusals"];
        let (Some(round), Some(counts)) = (
            record
                .number("round")
                .and_then(|round| u32::try_from(round).ok()),
            fields
                .iter()
                .map(|field| record.number(field))
                .collect::<Option<Vec<u64>>>(),
        ) else {
            return;
        };
        if let Ok(counts) = counts.try_into() {
            self.gateway_rounds
                .push(GatewayRound { round, map, counts });
        }
    }

    /// The guest's account of each step that xl list showed reached (`None` where it gave
    /// none): the next `target_reached` message at the step's target after the previous step's,
    /// with the hypercalls the memory server made since the message before it.
    pub fn guest_per_step(&self) -> Vec<Option<(GuestReached, u64)>> {
        let mut next = 0;
        self.steps
            .iter()
            .map(|step| {
                let pages = step.target_kib? / 4;
                if step.op != "mem-set" || step.reached != "yes" {
                    return None;
                }
                let found = (next..self.guest_reached.len())
                    .find(|&at| self.guest_reached[at].pages == pages)?;
                next = found + 1;
                let reached = self.guest_reached[found];
                let before = found
                    .checked_sub(1)
                    .map_or(0, |at| self.guest_reached[at].hypercalls);
                Some((reached, reached.hypercalls.saturating_sub(before)))
            })
            .collect()
    }

    /// Take one event.
    pub fn take(&mut self, event: Event) {
        match event {
            Event::Quoted { source, text } => match source.split_whitespace().next() {
                Some("console") => self.console.push(text),
                Some("console-log") => self.console_log.push(text),
                Some("data") => self.data.push(text),
                Some("grant-data") => self.grant_data.push(text),
                _ => {}
            },
            Event::Record(body) => self.record(&body),
        }
    }

    fn record(&mut self, body: &str) {
        let record = Record::parse(body);
        let rc = || record.text("rc").and_then(|rc| rc.parse::<i64>().ok());
        let readable = match record.keyword {
            "created" => rc().map(|rc| {
                self.created = Some((rc, record.number("domid"), record.number("ms")));
            }),
            "pod" => record.text("when").map(|when| {
                self.pod.push(PodReport {
                    when: when.to_string(),
                    entries: record.number("entries"),
                    cache: record.number("cache"),
                    ms: record.number("ms"),
                    xl_mib: record.number("xl_mib"),
                });
            }),
            "step" => StepReport::parse(&record).map(|step| self.steps.push(step)),
            "grant" => GrantReport::parse(&record).map(|grant| self.grants.push(grant)),
            "shutdown" => rc().map(|rc| {
                let gone = record.text("gone") == Some("yes");
                self.shutdown = Some((rc, gone, record.number("ms")));
            }),
            "fail" => {
                self.failed = Some(record.text("what").unwrap_or("?").to_string());
                Some(())
            }
            "done" => {
                self.done = true;
                Some(())
            }
            "phase" | "console" | "console-log" | "destroyed" => Some(()),
            _ => None,
        };
        if readable.is_none() {
            self.unreadable.push(body.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dom0_line_cut_by_xen_and_domu_lines_is_put_back_together() {
        let mut splicer = Splicer::default();
        assert_eq!(
            splicer.line("ballast-dom0: step n=3 op=mem-s(d1) ~defmt~ 0a0b\r"),
            ["(d1) ~defmt~ 0a0b"]
        );
        assert_eq!(splicer.line("(XEN) d1: something"), ["(XEN) d1: something"]);
        assert_eq!(
            splicer.line("et mib=201 rc=0\r"),
            ["ballast-dom0: step n=3 op=mem-set mib=201 rc=0"]
        );
        assert_eq!(splicer.line("(d12) whole"), ["(d12) whole"]);
        assert_eq!(splicer.line("plain (dx) text"), ["plain (dx) text"]);
    }

    #[test]
    fn the_report_reads_steps_pod_and_the_end() {
        let mut report = DomReport::default();
        for line in [
            "ballast-dom0: created rc=0 domid=1 ms=4200",
            "ballast-dom0: pod when=boot entries=65536 cache=65536 ms=1200 target_kib=262144 xl_mib=256",
            "ballast-dom0: console | ballast: started",
            "ballast-dom0: console-log | ballast: target reached",
            "ballast-dom0: step n=1 op=mem-set mib=128 rc=0 reached=yes ms=230 wait_ms=20000 \
             target_kib=131072 static_max_kib=524288 xl_mib=128 xen_kib=131136 xen_max_kib=132096 \
             ballast_target_pages=32768 ballast_status=reached",
            "ballast-dom0: data after=11 | /local/domain/1/data/ballast/status = \"clamped:TargetTooLow\"",
            "ballast-dom0: grant round=2 mode=check pages=256 outcome=ok pages_ok=256 mapped=256 \
             checked=256 borrow_us=310 map_us=1200 check_us=95 unmap_us=800 give_back_us=2100 \
             ms=5012",
            "ballast-dom0: grant round=5 mode=unlent-frame pages=1 outcome=timeout pages_ok=1 \
             mapped=- checked=- borrow_us=- map_us=- check_us=- unmap_us=- give_back_us=- \
             ms=30004",
            "ballast-dom0: grant round=x mode=check",
            "ballast-dom0: grant-data | /local/domain/1/data/ballast/grant-offer = \"1 check 0 8\"  (n1)",
            "ballast-dom0: shutdown rc=0 gone=yes ms=900",
            "ballast-dom0: mystery",
            "ballast-dom0: done t_ms=60000",
        ] {
            report.take(event(line).unwrap());
        }
        assert_eq!(report.created, Some((0, Some(1), Some(4200))));
        assert_eq!(report.pod[0].entries, Some(65536));
        assert_eq!(report.console, ["ballast: started"]);
        assert_eq!(report.console_log, ["ballast: target reached"]);
        let step = &report.steps[0];
        assert_eq!(
            (step.n, step.op.as_str(), step.mib, step.rc),
            (1, "mem-set", 128, 0)
        );
        assert_eq!(
            (step.xl_mib, step.xen_kib, step.ballast_target_pages),
            (Some(128), Some(131136), Some(32768))
        );
        assert_eq!(step.ballast_status.as_deref(), Some("reached"));
        assert_eq!(report.data.len(), 1);
        assert_eq!(report.shutdown, Some((0, true, Some(900))));
        assert_eq!(
            report.grants[0],
            GrantReport {
                round: 2,
                mode: "check".into(),
                pages: 256,
                outcome: "ok".into(),
                pages_ok: 256,
                mapped: Some(256),
                checked: Some(256),
                micros: [Some(310), Some(1200), Some(95), Some(800), Some(2100)],
                ms: Some(5012),
            }
        );
        assert_eq!(report.grants[1].outcome, "timeout");
        assert_eq!(report.grants[1].micros, [None; 5]);
        assert_eq!(report.grants.len(), 2);
        assert_eq!(report.grant_data.len(), 1);
        assert_eq!(report.unreadable, ["grant round=x mode=check", "mystery"]);
        assert!(report.done && report.failed.is_none());
        assert_eq!(event("[  1.0] random kernel line"), None);
    }

    #[test]
    fn each_reached_step_gets_the_guests_next_message_at_its_target() {
        let mut report = DomReport::default();
        for (n, mib, reached) in [(1, 768, "yes"), (2, 256, "no"), (3, 256, "yes")] {
            let line = format!(
                "ballast-dom0: step n={n} op=mem-set mib={mib} rc=0 reached={reached} ms=400 \
                 target_kib={}",
                mib * 1024
            );
            report.take(event(&line).unwrap());
        }
        for text in [
            "toolstack at=target_reached pages=65536 ms=3 hypercalls=18",
            "toolstack at=target_set pages=196608",
            "toolstack at=target_reached pages=196608 ms=90 hypercalls=21",
            "memory_server at=idle hypercalls=99",
            "toolstack at=target_reached pages=65536 ms=700 hypercalls=30",
        ] {
            report.take_guest_message(text);
        }
        assert_eq!(report.guest_reached.len(), 3);
        let reached = |pages, ms, hypercalls| GuestReached {
            pages,
            ms,
            hypercalls,
        };
        assert_eq!(
            report.guest_per_step(),
            [
                Some((reached(196_608, 90, 21), 3)),
                None,
                Some((reached(65536, 700, 30), 9)),
            ]
        );
    }
}
