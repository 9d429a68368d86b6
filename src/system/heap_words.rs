//! Storage on the host's heap for the memory server's core: the core splits it into its parts
//! (each part its own allocation) and owns them, so they are freed when the server is dropped.

use std::borrow::{Borrow, BorrowMut};

use ballast_memory_server_core::Storage;

/// Words of storage the core owns.
#[derive(Debug)]
pub struct HeapWords(Vec<u64>);

impl HeapWords {
    /// `words` zeroed words.
    pub fn zeroed(words: usize) -> HeapWords {
        HeapWords(vec![0; words])
    }
}

impl Borrow<[u64]> for HeapWords {
    fn borrow(&self) -> &[u64] {
        &self.0
    }
}

impl BorrowMut<[u64]> for HeapWords {
    fn borrow_mut(&mut self) -> &mut [u64] {
        &mut self.0
    }
}

impl Storage for HeapWords {
    fn split_words(mut self, at: usize) -> (HeapWords, HeapWords) {
        let rest = self.0.split_off(at.min(self.0.len()));
        (self, HeapWords(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_where_asked_or_at_the_end() {
        let (head, tail) = HeapWords(vec![1, 2, 3]).split_words(2);
        assert_eq!((head.0, tail.0), (vec![1, 2], vec![3]));
        let (head, tail) = HeapWords::zeroed(3).split_words(4);
        assert_eq!((head.0.len(), tail.0.len()), (3, 0));
    }
}
