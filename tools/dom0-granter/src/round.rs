//! One grant round on the dom0: allocate and fill the pages, revoke one if asked, publish the
//! offer, wait for the domU's answer of this round, check the pages, deallocate.

use std::ops::Range;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ballast_grant_offer::{keys, Answer, Offer};

use crate::gntalloc::{Gntalloc, Grants, Mapping};
use crate::options::Options;
use crate::report::RoundReport;
use crate::{pages, xenstore};

/// How often the answer is read while waiting.
const POLL: Duration = Duration::from_millis(50);

/// What `run` leaves for `main`.
#[derive(Debug)]
pub struct RoundResult {
    /// The report line.
    pub line: String,
    /// The dom0 itself could not run the round (the line's outcome says why).
    pub dom0_failed: bool,
}

/// The allocations of a round of `pages` pages: one batch of all pages, or, with page `revoke`
/// revoked, the pages before it, that page alone, and the pages after it (empty ranges left
/// out), in page order.
pub fn batches(pages: usize, revoke: Option<usize>) -> Vec<Range<usize>> {
    let cuts = match revoke {
        Some(index) => vec![0, index, index + 1, pages],
        None => vec![0, pages],
    };
    (cuts.windows(2))
        .map(|pair| pair[0]..pair[1])
        .filter(|range| !range.is_empty())
        .collect()
}

/// Pages the dom0 still holds, mapped, from `first`.
struct Held {
    first: usize,
    grants: Grants,
    mapping: Mapping,
}

/// Runs the round `options` describe.
pub fn run(options: &Options) -> RoundResult {
    let start = Instant::now();
    let mut report = RoundReport {
        round: options.round,
        mode: options.mode,
        pages: options.pages,
        outcome: String::new(),
        pages_ok: 0,
        answer: None,
        ms: 0,
    };
    let dom0_failed = match granted_round(options, &mut report) {
        Ok(()) => false,
        Err(what) => {
            report.outcome = format!("dom0-error:{what}");
            true
        }
    };
    report.ms = start.elapsed().as_millis();
    RoundResult {
        line: report.line(),
        dom0_failed,
    }
}

fn granted_round(options: &Options, report: &mut RoundReport) -> Result<(), String> {
    let device = Gntalloc::open().map_err(|error| format!("open-gntalloc:{error:?}"))?;
    let mut held = Vec::new();
    let mut revoked = None;
    let mut refs = heapless::Vec::new();
    for range in batches(options.pages, options.revoke_index) {
        let grants = device
            .alloc(options.domid, range.len())
            .map_err(|error| format!("alloc:{}", error.kind()))?;
        refs.extend_from_slice(&grants.refs)
            .map_err(|()| "too-many-refs".to_string())?;
        if Some(range.start) == options.revoke_index {
            revoked = Some(grants);
            continue;
        }
        let mut mapping = device
            .map(&grants)
            .map_err(|error| format!("mmap:{}", error.kind()))?;
        for page in 0..mapping.pages() {
            let number = (range.start + page) as u32;
            pages::fill(options.round, number, |word, value| {
                mapping.write(page, word, value)
            });
        }
        held.push(Held {
            first: range.start,
            grants,
            mapping,
        });
    }
    if let Some(grants) = revoked {
        device
            .dealloc(grants)
            .map_err(|error| format!("revoke:{}", error.kind()))?;
    }
    let offer = Offer {
        round: options.round,
        mode: options.mode,
        granter: options.claim_domid,
        refs,
    };
    let mut text = String::new();
    offer.write(&mut text).map_err(|_| "offer-text")?;
    xenstore::write(
        &xenstore::domain_path(options.domid, keys::OFFER_KEY),
        &text,
    )
    .map_err(|_| "xenstore-write")?;
    let answer = wait_for_answer(options);
    let answered = match &answer {
        Ok(answer) => {
            report.outcome = answer.outcome.to_string();
            pages::answered(&answer.outcome)
        }
        Err(outcome) => {
            report.outcome = outcome.clone();
            false
        }
    };
    report.answer = answer.ok();
    for pages_held in held {
        let Held {
            first,
            grants,
            mapping,
        } = pages_held;
        for page in 0..mapping.pages() {
            let number = (first + page) as u32;
            if pages::holds(options.round, number, answered, |word| {
                mapping.read(page, word)
            }) {
                report.pages_ok += 1;
            }
        }
        drop(mapping);
        device
            .dealloc(grants)
            .map_err(|error| format!("dealloc:{}", error.kind()))?;
    }
    Ok(())
}

/// The domU's answer of this round, or the outcome token of waiting in vain: `timeout`, or
/// `bad-answer:<AnswerError>` when the last text read was no answer at all.
fn wait_for_answer(options: &Options) -> Result<Answer, String> {
    let path = xenstore::domain_path(options.domid, keys::ANSWER_KEY);
    let deadline = Instant::now() + Duration::from_secs(options.timeout_s);
    let mut unreadable = None;
    loop {
        if let Some(text) = xenstore::read(&path) {
            match Answer::parse(&text) {
                Ok(answer) if answer.round == options.round => return Ok(answer),
                Ok(_) => unreadable = None,
                Err(error) => unreadable = Some(error),
            }
        }
        if Instant::now() >= deadline {
            return Err(match unreadable {
                Some(error) => format!("bad-answer:{error:?}"),
                None => "timeout".into(),
            });
        }
        sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_without_revocation_is_one_batch() {
        assert_eq!(batches(256, None), [Range { start: 0, end: 256 }]);
    }

    #[test]
    fn the_revoked_page_is_a_batch_of_its_own() {
        assert_eq!(batches(4, Some(2)), [0..2, 2..3, 3..4]);
        assert_eq!(batches(4, Some(0)), [0..1, 1..4]);
        assert_eq!(batches(4, Some(3)), [0..3, 3..4]);
        assert_eq!(batches(1, Some(0)), [Range { start: 0, end: 1 }]);
    }
}
