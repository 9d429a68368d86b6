//! The granted pages' contents: every word checked against the granter's pattern, then the answer
//! word written into each page, only once every page checked (on any mismatch nothing is
//! written, so the granter sees its pages as it left them).

use ballast_grant_offer::{answer, pattern, ANSWER_WORD, WORDS_PER_PAGE};

use crate::GrantedFrames;

/// Why the pages were not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageError {
    /// A word differs from the pattern: the page is not the granter's (or not mapped).
    PatternMismatch,
    /// The frame access does not reach a borrowed frame.
    Unreachable,
}

impl PageError {
    /// The name the answer's `error:` outcome carries.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            PageError::PatternMismatch => "PatternMismatch",
            PageError::Unreachable => "FrameUnreachable",
        }
    }
}

/// Check every word of each page at `gfns` (page `i` of the offer at `gfns[i]`) against round
/// `round`'s pattern; if all hold, write the answer word into each. The pages checked whole.
pub(crate) fn check_and_answer(
    frames: &mut dyn GrantedFrames,
    round: u32,
    gfns: &[u64],
) -> (u32, Result<(), PageError>) {
    let mut checked: u32 = 0;
    for (page, &gfn) in (0u32..).zip(gfns) {
        for word in 0..WORDS_PER_PAGE {
            match frames.read(gfn, word) {
                Some(value) if value == pattern(round, page, word) => {}
                Some(_) => return (checked, Err(PageError::PatternMismatch)),
                None => return (checked, Err(PageError::Unreachable)),
            }
        }
        // At most one per frame of the loan.
        checked = checked.saturating_add(1);
    }
    for (page, &gfn) in (0u32..).zip(gfns) {
        if frames
            .write(gfn, ANSWER_WORD, answer(round, page))
            .is_none()
        {
            return (checked, Err(PageError::Unreachable));
        }
    }
    (checked, Ok(()))
}
