//! The storage the caller gives the core for its bitmaps and reserved runs, sized from the
//! manifest ([`Config::bitmap_words`](crate::Config::bitmap_words)): a borrowed slice (an image's
//! static array) or words the caller's own type owns (the host's heap), so that a core built
//! over owned words frees them when it is dropped. The core allocates nothing: it splits what it
//! is given, once, into the parts it keeps.

use core::borrow::BorrowMut;

/// Words of storage for the core.
pub trait Storage: BorrowMut<[u64]> + Sized {
    /// The first `at` words (all of them if there are fewer) and the rest.
    fn split_words(self, at: usize) -> (Self, Self);
}

impl Storage for &mut [u64] {
    fn split_words(self, at: usize) -> (Self, Self) {
        let at = at.min(self.len());
        self.split_at_mut(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_splits_where_asked_or_at_its_end() {
        let mut words = [1, 2, 3];
        let (head, tail) = words.as_mut_slice().split_words(1);
        assert_eq!((&*head, &*tail), (&[1][..], &[2, 3][..]));
        let (head, tail) = words.as_mut_slice().split_words(4);
        assert_eq!((head.len(), tail.len()), (3, 0));
    }
}
