//! The one line `ballast-granter` prints, in the dom0 report's format (`ballast-dom0: KEYWORD
//! key=value ...`, parsed by the host's `src/hil/dom0/report.rs`): the round, the domU's outcome
//! token (or the dom0's `timeout`, `bad-answer:<error>`, `dom0-error:<what>`), the pages that
//! held what they must, the domU's counts and timings (`-` without an answer), and the round's
//! wall time on the dom0.

use std::fmt::Write;

use ballast_grant_offer::{Answer, Mode};

/// What the dom0 saw of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundReport {
    /// The round.
    pub round: u32,
    /// The mode asked for.
    pub mode: Mode,
    /// Pages granted.
    pub pages: usize,
    /// The outcome token.
    pub outcome: String,
    /// Pages still held by the dom0 whose words all held what they must.
    pub pages_ok: usize,
    /// The domU's answer, if one came.
    pub answer: Option<Answer>,
    /// The round's wall time on the dom0, ms.
    pub ms: u128,
}

impl RoundReport {
    /// The report line.
    pub fn line(&self) -> String {
        let mut line = format!(
            "ballast-dom0: grant round={} mode={} pages={} outcome={} pages_ok={}",
            self.round, self.mode, self.pages, self.outcome, self.pages_ok
        );
        let fields: [(&str, Option<u64>); 7] = match &self.answer {
            Some(answer) => [
                ("mapped", Some(answer.mapped.into())),
                ("checked", Some(answer.checked.into())),
                ("borrow_us", Some(answer.borrow_us)),
                ("map_us", Some(answer.map_us)),
                ("check_us", Some(answer.check_us)),
                ("unmap_us", Some(answer.unmap_us)),
                ("give_back_us", Some(answer.give_back_us)),
            ],
            None => [
                ("mapped", None),
                ("checked", None),
                ("borrow_us", None),
                ("map_us", None),
                ("check_us", None),
                ("unmap_us", None),
                ("give_back_us", None),
            ],
        };
        for (name, value) in fields {
            match value {
                Some(value) => write!(line, " {name}={value}"),
                None => write!(line, " {name}=-"),
            }
            .expect("writing to a String cannot fail");
        }
        write!(line, " ms={}", self.ms).expect("writing to a String cannot fail");
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answered_round_reports_the_domus_fields() {
        let answer = Answer::parse(
            "round=2 outcome=ok pages=256 mapped=256 checked=256 borrow_us=310 map_us=1200 \
             check_us=95 unmap_us=800 give_back_us=2100",
        )
        .unwrap();
        let report = RoundReport {
            round: 2,
            mode: Mode::Check,
            pages: 256,
            outcome: answer.outcome.to_string(),
            pages_ok: 256,
            answer: Some(answer),
            ms: 5012,
        };
        assert_eq!(
            report.line(),
            "ballast-dom0: grant round=2 mode=check pages=256 outcome=ok pages_ok=256 mapped=256 \
             checked=256 borrow_us=310 map_us=1200 check_us=95 unmap_us=800 give_back_us=2100 \
             ms=5012"
        );
    }

    #[test]
    fn a_round_without_an_answer_reports_dashes() {
        let report = RoundReport {
            round: 5,
            mode: Mode::UnlentFrame,
            pages: 1,
            outcome: "timeout".into(),
            pages_ok: 1,
            answer: None,
            ms: 30004,
        };
        assert_eq!(
            report.line(),
            "ballast-dom0: grant round=5 mode=unlent-frame pages=1 outcome=timeout pages_ok=1 \
             mapped=- checked=- borrow_us=- map_us=- check_us=- unmap_us=- give_back_us=- \
             ms=30004"
        );
    }
}
