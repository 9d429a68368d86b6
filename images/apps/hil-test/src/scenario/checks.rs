//! A tally of named checks: each is logged as `check context=... name=... ok=...`.

/// The checks a scenario made.
#[derive(Debug, Default)]
pub struct Checks {
    passed: u32,
    failed: u32,
    /// What the next checks are about (a policy name, a phase), logged with each.
    pub context: &'static str,
}

impl Checks {
    /// Record check `name`.
    pub fn expect(&mut self, name: &str, ok: bool) -> bool {
        if ok {
            self.passed += 1;
            defmt::info!(
                "check context={=str} name={=str} ok=true",
                self.context,
                name
            );
        } else {
            self.failed += 1;
            defmt::error!(
                "check context={=str} name={=str} ok=false",
                self.context,
                name
            );
        }
        ok
    }

    /// Record that `name` equals `expected`, logging both.
    pub fn expect_eq(&mut self, name: &str, actual: u64, expected: u64) -> bool {
        if actual != expected {
            defmt::error!(
                "mismatch name={=str} actual={=u64} expected={=u64}",
                name,
                actual,
                expected
            );
        }
        self.expect(name, actual == expected)
    }

    /// Add the tally of `other` (a later phase) to this one.
    pub fn absorb(&mut self, other: &Checks) {
        self.passed += other.passed;
        self.failed += other.failed;
    }

    /// Whether every check passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }

    /// Log the tally for the host; whether every check passed.
    pub fn report(&self) -> bool {
        defmt::info!(
            "checks passed={=u32} failed={=u32}",
            self.passed,
            self.failed
        );
        self.all_passed()
    }
}
