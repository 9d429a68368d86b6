//! One direction of a shared ring: a power-of-two byte array in the page and its two
//! free-running `u32` indexes, with every access checked against the indexes' invariant
//! `0 <= producer - consumer <= size` (modulo 2^32).

use super::{RingError, SharedPage};

/// Where one direction of a ring lives in its page. Both sides of a connection use the same
/// value: the producer calls [`produce`](ByteRing::produce), the consumer
/// [`consume`](ByteRing::consume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRing {
    data: usize,
    size: u32,
    consumer: usize,
    producer: usize,
}

impl ByteRing {
    /// A ring of `size` bytes (a power of two) at `data`, with its consumer and producer indexes
    /// at `consumer` and `producer`.
    pub const fn new(data: usize, size: u32, consumer: usize, producer: usize) -> ByteRing {
        assert!(size.is_power_of_two());
        ByteRing {
            data,
            size,
            consumer,
            producer,
        }
    }

    /// The ring's size in bytes.
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// The consumer and producer indexes as they are in the page, checked.
    fn indexes(&self, page: &impl SharedPage) -> Result<(u32, u32), RingError> {
        let producer = page.load_u32(self.producer);
        let consumer = page.load_u32(self.consumer);
        let filled = producer.wrapping_sub(consumer);
        if filled <= self.size {
            Ok((consumer, producer))
        } else if filled <= u32::MAX / 2 {
            Err(RingError::ProducerTooFarAhead)
        } else {
            Err(RingError::ConsumerAheadOfProducer)
        }
    }

    /// Bytes written and not yet consumed.
    pub fn filled(&self, page: &impl SharedPage) -> Result<u32, RingError> {
        let (consumer, producer) = self.indexes(page)?;
        Ok(producer.wrapping_sub(consumer))
    }

    /// Bytes the producer may write now.
    pub fn free(&self, page: &impl SharedPage) -> Result<u32, RingError> {
        Ok(self.room(self.filled(page)?))
    }

    /// Write as much of `bytes` as fits and publish it; returns how many bytes were written.
    pub fn produce(&self, page: &mut impl SharedPage, bytes: &[u8]) -> Result<usize, RingError> {
        let (consumer, producer) = self.indexes(page)?;
        let free = self.room(producer.wrapping_sub(consumer));
        let count = bytes.len().min(free as usize);
        let first = self.split(producer, count);
        page.write(first.0, &bytes[..first.1]);
        page.write(self.data, &bytes[first.1..count]);
        page.store_u32(self.producer, producer.wrapping_add(count as u32));
        Ok(count)
    }

    /// Read as many published bytes as `out` holds and free their space; returns how many bytes
    /// were read.
    pub fn consume(&self, page: &mut impl SharedPage, out: &mut [u8]) -> Result<usize, RingError> {
        let (consumer, producer) = self.indexes(page)?;
        let filled = producer.wrapping_sub(consumer);
        let count = out.len().min(filled as usize);
        let first = self.split(consumer, count);
        page.read(first.0, &mut out[..first.1]);
        page.read(self.data, &mut out[first.1..count]);
        page.store_u32(self.consumer, consumer.wrapping_add(count as u32));
        Ok(count)
    }

    /// The bytes free when `filled` are in use; [`indexes`](ByteRing::indexes) has checked that
    /// `filled` is at most the size, so this never saturates.
    fn room(&self, filled: u32) -> u32 {
        self.size.saturating_sub(filled)
    }

    /// Where `count` bytes from index `at` start in the page, and how many of them fit before the
    /// end of the data (the rest wrap to its start). `count` is at most the ring's size.
    fn split(&self, at: u32, count: usize) -> (usize, usize) {
        // The size is a power of two (checked by `new`), so the remainder is the index's low bits
        // and is below the size; the data and its size lie inside one page.
        let offset = (at & self.size.wrapping_sub(1)) as usize;
        let first = count.min((self.size as usize).saturating_sub(offset));
        (self.data.saturating_add(offset), first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::AtomicPage;

    const RING: ByteRing = ByteRing::new(64, 16, 0, 4);

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let page = AtomicPage::new();
        let (mut producer, mut consumer) = (&page, &page);
        let mut sent = 0u8;
        let mut received = 0u8;
        for round in 0..40usize {
            let chunk: [u8; 7] = core::array::from_fn(|i| sent.wrapping_add(i as u8));
            let written = RING.produce(&mut producer, &chunk[..round % 8]).unwrap();
            sent = sent.wrapping_add(written as u8);
            let mut out = [0u8; 5];
            let read = RING.consume(&mut consumer, &mut out).unwrap();
            for byte in &out[..read] {
                assert_eq!(*byte, received);
                received = received.wrapping_add(1);
            }
        }
        assert!(received > 60, "the ring wrapped several times");
    }

    #[test]
    fn a_full_ring_takes_what_fits_and_no_more() {
        let page = AtomicPage::new();
        let mut side = &page;
        assert_eq!(RING.produce(&mut side, &[1; 10]).unwrap(), 10);
        assert_eq!(RING.produce(&mut side, &[2; 10]).unwrap(), 6);
        assert_eq!(RING.produce(&mut side, &[3; 1]).unwrap(), 0);
        assert_eq!(RING.free(&side).unwrap(), 0);
        let mut out = [0u8; 32];
        assert_eq!(RING.consume(&mut side, &mut out).unwrap(), 16);
        assert_eq!(
            &out[..16],
            &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
        );
    }

    #[test]
    fn indexes_work_across_the_u32_wrap() {
        let page = AtomicPage::new();
        let mut side = &page;
        side.store_u32(0, u32::MAX - 2);
        side.store_u32(4, u32::MAX - 2);
        assert_eq!(RING.produce(&mut side, b"abcdef").unwrap(), 6);
        assert_eq!(side.load_u32(4), 3);
        let mut out = [0u8; 6];
        assert_eq!(RING.consume(&mut side, &mut out).unwrap(), 6);
        assert_eq!(&out, b"abcdef");
    }

    #[test]
    fn hostile_indexes_are_refused_and_change_nothing() {
        let page = AtomicPage::new();
        let mut side = &page;
        let untouched = |side: &&AtomicPage| {
            let mut data = [0u8; 16];
            side.read(64, &mut data);
            data
        };
        for (consumer, producer, error) in [
            (0, 17, RingError::ProducerTooFarAhead),
            (5, 5 + 0x7fff_ffff, RingError::ProducerTooFarAhead),
            (1, 0, RingError::ConsumerAheadOfProducer),
            (100, 3, RingError::ConsumerAheadOfProducer),
        ] {
            side.store_u32(0, consumer);
            side.store_u32(4, producer);
            assert_eq!(RING.produce(&mut side, b"x"), Err(error));
            assert_eq!(RING.consume(&mut side, &mut [0; 4]), Err(error));
            assert_eq!(RING.filled(&side), Err(error));
            assert_eq!((side.load_u32(0), side.load_u32(4)), (consumer, producer));
            assert_eq!(untouched(&side), [0; 16]);
        }
    }
}
