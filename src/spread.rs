//! A median with its minimum and maximum: how every repeated timing ballast publishes is
//! summarized (`ballast bench`, `ballast hil --timings`).

/// The median of some values, with the smallest and the largest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The middle value; of an even count, the mean of the middle two.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// Of `values` (none: all three NaN).
    pub fn of(values: impl Iterator<Item = f64>) -> Spread {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        let Some((&min, &max)) = values.first().zip(values.last()) else {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        };
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        };
        Spread { median, min, max }
    }

    /// `median [min, max]` with `decimals` decimals.
    pub fn cell(&self, decimals: usize) -> String {
        format!(
            "{:.decimals$} [{:.decimals$}, {:.decimals$}]",
            self.median, self.min, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts_with_their_extremes() {
        let odd = Spread::of([3.0, 1.0, 2.0].into_iter());
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        let even = Spread::of([4.0, 1.0, 2.0, 10.0].into_iter());
        assert_eq!((even.median, even.min, even.max), (3.0, 1.0, 10.0));
        assert!(Spread::of(std::iter::empty()).median.is_nan());
        assert_eq!(odd.cell(1), "2.0 [1.0, 3.0]");
    }
}
