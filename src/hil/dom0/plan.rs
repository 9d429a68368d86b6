//! What the dom0 does to the ballast domU and what each step must show: the domU's xl config
//! (the shipped `manifests/xen-pvh-domu.cfg` with the kernel path inside the initramfs), the
//! admin's commands derived from its `memory` and `maxmem`, and the host's expectation of each,
//! from what xl itself accepts (a target above `static-max` and a maximum below the target are
//! refused: `docs/XEN-BEHAVIOUR.md#xl-mem-set`); then the grant rounds `ballast-granter` runs
//! against the domU's driver, each with the outcome the domU must answer.

use ballast_grant_offer::{Mode, Outcome as GrantOutcome};

/// Where the domU's ELF sits in the dom0's initramfs.
pub const DOMU_KERNEL: &str = "/srv/ballast/ballast-xen-pvh";
/// Where the domU's config sits in the dom0's initramfs.
pub const DOMU_CONFIG: &str = "/etc/xen/ballast.cfg";
/// A target below any floor the memory server can keep: `manifests/xen-pvh.toml` reserves the
/// first 5 MiB (low memory and the image), which it never balloons out.
pub const BELOW_FLOOR_MIB: u64 = 4;

/// The domU's xl config and the numbers the plan needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomuConfig {
    /// The config as the dom0 gets it.
    pub text: String,
    /// The domain's name.
    pub name: String,
    /// `memory` (MiB): the boot target.
    pub memory_mib: u64,
    /// `maxmem` (MiB; `memory` when absent): static-max, what the memory map covers.
    pub maxmem_mib: u64,
}

/// The value of `key = value` on `line`, if that is its key.
fn value_of<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let (name, value) = line.split_once('=')?;
    (name.trim() == key).then(|| value.trim().trim_matches('"'))
}

impl DomuConfig {
    /// The config `text` (read from `source`) with its kernel at [`DOMU_KERNEL`].
    pub fn derive(text: &str, source: &str) -> Result<DomuConfig, String> {
        let mut lines = Vec::new();
        let (mut name, mut memory, mut maxmem, mut kernel) = (None, None, None, false);
        for line in text.lines() {
            let uncommented = line.split('#').next().unwrap_or("");
            let number = |key| -> Result<Option<u64>, String> {
                value_of(uncommented, key)
                    .map(|value| {
                        value
                            .parse()
                            .map_err(|_| format!("{source}: `{key} = {value}`: expected MiB"))
                    })
                    .transpose()
            };
            if value_of(uncommented, "kernel").is_some() {
                kernel = true;
                lines.push(format!("kernel = \"{DOMU_KERNEL}\""));
                continue;
            }
            if let Some(value) = value_of(uncommented, "name") {
                name = Some(value.to_string());
            }
            memory = number("memory")?.or(memory);
            maxmem = number("maxmem")?.or(maxmem);
            lines.push(line.to_string());
        }
        let missing = |key| format!("{source} has no `{key} =` line");
        let memory_mib = memory.ok_or_else(|| missing("memory"))?;
        let maxmem_mib = maxmem.unwrap_or(memory_mib);
        if !kernel {
            return Err(missing("kernel"));
        }
        if maxmem_mib < memory_mib {
            return Err(format!(
                "{source}: maxmem {maxmem_mib} is below memory {memory_mib}"
            ));
        }
        if memory_mib < 8 * BELOW_FLOOR_MIB {
            return Err(format!(
                "{source}: memory {memory_mib} MiB leaves no room for the plan's steps"
            ));
        }
        Ok(DomuConfig {
            text: lines.join("\n") + "\n",
            name: name.ok_or_else(|| missing("name"))?,
            memory_mib,
            maxmem_mib,
        })
    }
}

/// A target written past `xl` that no guest of the PVH manifest can hold: its RAM ends below
/// `ram_ceiling` (4 GiB) and its growth range adds 512 MiB. The memory server answers
/// `TargetTooHigh`; the guest then steers to its largest target and reports
/// `clamped:TargetTooHigh` under `data/ballast/`.
pub const UNREACHABLE_MIB: u64 = 16 * 1024;

/// An admin's command on the domU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `xl mem-set DOMAIN MIB`: a new target.
    MemSet,
    /// `xl mem-max DOMAIN MIB`: a new static-max (and Xen maximum).
    MemMax,
    /// `xenstore-write .../memory/target KIB` from dom0, past `xl`: a target above Xen's
    /// maximum, which `xl` would refuse, so the guest populates into the maximum.
    TargetWrite,
}

impl Op {
    /// The xl subcommand, or `target-write` for the xenstore write.
    pub fn name(self) -> &'static str {
        match self {
            Op::MemSet => "mem-set",
            Op::MemMax => "mem-max",
            Op::TargetWrite => "target-write",
        }
    }
}

/// What xl must do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (exit status 0); a new target must then be reached.
    Accepted,
    /// Refused by xl (nonzero exit status), nothing changed.
    Refused,
    /// A target below the memory server's floor: xl may refuse it, or accept it and the guest
    /// clamp or refuse it (reported under the domain's `data/ballast/`).
    RefusedOrClamped,
}

/// One step of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The command.
    pub op: Op,
    /// Its argument, MiB.
    pub mib: u64,
    /// What xl must do with it.
    pub outcome: Outcome,
    /// xenstore `memory/target` after it (KiB): unchanged unless accepted.
    pub target_kib: u64,
    /// xenstore `memory/static-max` after it (KiB).
    pub static_max_kib: u64,
}

impl Step {
    /// The step as `/init` reads it: `OP MIB WAIT`. Once xl accepts a mem-set, `/init` waits
    /// for `xl list` to show the target (WAIT `target`) or, where the guest may clamp it, the
    /// target or the guest's clamp (`clamp`); a mem-max changes no reservation (`none`); after a
    /// target written past Xen's maximum it waits for Xen's count to reach the maximum (`max`).
    pub fn init_line(&self) -> String {
        let wait = match (self.op, self.outcome) {
            (Op::MemMax, _) => "none",
            (Op::TargetWrite, _) => "max",
            (Op::MemSet, Outcome::RefusedOrClamped) => "clamp",
            (Op::MemSet, Outcome::Accepted | Outcome::Refused) => "target",
        };
        format!("{} {} {wait}", self.op.name(), self.mib)
    }
}

/// The commands for a domU booted with `memory` and `maxmem`, each with what it must do. For
/// the shipped config (256, 512): mem-set 128, 201 (not a 2 MiB multiple), 384, 512 (= maxmem),
/// 256; mem-max 384 (down), mem-set 448 (above static-max: refused), mem-max 512 (up), mem-set
/// 448, mem-set 640 (refused), mem-set 4 (below the floor), mem-set 256; then growth past the
/// boot maximum, as an admin does it: mem-max 768 (1.5 x maxmem), mem-set 512 (the boot maximum),
/// mem-set 768 (256 MiB more: the memory server populates its growth range), and back: mem-set
/// 256, mem-max 512; then a target of 640 written to xenstore past `xl` (above static-max and
/// Xen's maximum of 513: the guest populates up to the maximum, where Xen's populate comes back
/// short), one of [`UNREACHABLE_MIB`] (above all the guest can ever hold: it clamps to its
/// largest target, still stopped at Xen's maximum), and mem-set 256.
pub fn steps(config: &DomuConfig) -> Vec<Step> {
    let (memory, maxmem) = (config.memory_mib, config.maxmem_mib);
    let grown = maxmem * 3 / 2;
    let half = memory / 2;
    let unaligned = (memory * 3 / 4 + 9) | 1;
    let between = (memory + maxmem) / 2;
    let below_max = maxmem.saturating_sub(64).max(memory);
    let commands = [
        (Op::MemSet, half),
        (Op::MemSet, unaligned),
        (Op::MemSet, between),
        (Op::MemSet, maxmem),
        (Op::MemSet, memory),
        (Op::MemMax, between),
        (Op::MemSet, below_max),
        (Op::MemMax, maxmem),
        (Op::MemSet, below_max),
        (Op::MemSet, maxmem + 128),
        (Op::MemSet, BELOW_FLOOR_MIB),
        (Op::MemSet, memory),
        (Op::MemMax, grown),
        (Op::MemSet, maxmem),
        (Op::MemSet, grown),
        (Op::MemSet, memory),
        (Op::MemMax, maxmem),
        (Op::TargetWrite, maxmem + 128),
        (Op::TargetWrite, UNREACHABLE_MIB),
        (Op::MemSet, memory),
    ];
    let mut target_kib = memory * 1024;
    let mut static_max_kib = maxmem * 1024;
    let mut plan = Vec::new();
    for (op, mib) in commands {
        let kib = mib * 1024;
        let outcome = match op {
            Op::MemSet if kib > static_max_kib => Outcome::Refused,
            Op::MemMax if kib < target_kib => Outcome::Refused,
            Op::MemSet if mib == BELOW_FLOOR_MIB => Outcome::RefusedOrClamped,
            Op::MemSet | Op::MemMax | Op::TargetWrite => Outcome::Accepted,
        };
        if outcome != Outcome::Refused {
            match op {
                Op::MemSet | Op::TargetWrite => target_kib = kib,
                Op::MemMax => static_max_kib = kib,
            }
        }
        plan.push(Step {
            op,
            mib,
            outcome,
            target_kib,
            static_max_kib,
        });
    }
    plan
}

/// Where `ballast-granter` sits in the dom0's initramfs (on `/init`'s PATH).
pub const GRANTER: &str = "/usr/bin/ballast-granter";
/// The granting domain the claim round's offer names: not dom0 (the grants are dom0's), and no
/// domain the driver may map from.
pub const CLAIMED_GRANTER: u16 = 7;

/// The outcome a grant round must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `ok`.
    Ok,
    /// `grant-status:<index>:<status>`: Xen fails the revoked entry with `GNTST_general_error`
    /// (-1; `docs/XEN-BEHAVIOUR.md#a-revoked-grant`).
    GrantStatus {
        /// The revoked page's index in the batch.
        index: u32,
        /// Xen's status for it.
        status: i16,
    },
    /// `refused:<GatewayError>`.
    Refused(&'static str),
    /// `give-back-refused:<BalloonError>`.
    GiveBackRefused(&'static str),
    /// `died:unmapped=<n>`.
    Died {
        /// Grants the gateway unmapped for the dead driver.
        unmapped: u32,
    },
}

impl Expect {
    /// Whether the domU's `outcome` token is this one.
    pub fn matches(self, outcome: &str) -> bool {
        let Some(outcome) = GrantOutcome::parse(outcome) else {
            return false;
        };
        match (self, outcome) {
            (Expect::Ok, GrantOutcome::Ok) => true,
            (
                Expect::GrantStatus { index, status },
                GrantOutcome::GrantStatus {
                    index: i,
                    status: s,
                },
            ) => (index, status) == (i, s),
            (Expect::Refused(want), GrantOutcome::Refused(name))
            | (Expect::GiveBackRefused(want), GrantOutcome::GiveBackRefused(name)) => name == want,
            (Expect::Died { unmapped }, GrantOutcome::Died { unmapped: n }) => unmapped == n,
            _ => false,
        }
    }

    /// The token the domU must answer.
    pub fn token(self) -> String {
        match self {
            Expect::Ok => "ok".into(),
            Expect::GrantStatus { index, status } => format!("grant-status:{index}:{status}"),
            Expect::Refused(name) => format!("refused:{name}"),
            Expect::GiveBackRefused(name) => format!("give-back-refused:{name}"),
            Expect::Died { unmapped } => format!("died:unmapped={unmapped}"),
        }
    }
}

/// One grant round: what `ballast-granter` offers and what the domU must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantRound {
    /// The round, from 1.
    pub round: u32,
    /// What the domU's driver is asked to do.
    pub mode: Mode,
    /// Pages granted.
    pub pages: usize,
    /// The page whose grant the dom0 revokes before offering, if any.
    pub revoke_index: Option<usize>,
    /// The granting domain the offer names instead of dom0, if any.
    pub claim_domid: Option<u16>,
    /// The outcome the domU must answer.
    pub expect: Expect,
}

impl GrantRound {
    /// The round as `/init` reads it: `ROUND MODE PAGES REVOKE CLAIM`, `-` for none.
    pub fn init_line(&self) -> String {
        let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
        format!(
            "{} {} {} {} {}",
            self.round,
            self.mode,
            self.pages,
            or_dash(self.revoke_index.map(|index| index.to_string())),
            or_dash(self.claim_domid.map(|domid| domid.to_string()))
        )
    }

    /// Pages the dom0 still holds at the end of the round (all but the revoked one), each of
    /// which must hold what the outcome says: the pattern and, after `ok`, the domU's answer.
    pub fn pages_held(&self) -> usize {
        self.pages - usize::from(self.revoke_index.is_some())
    }
}

/// The grant rounds, after the admin's commands and before the shutdown: one page and 256 pages
/// mapped and answered; a revoked grant (Xen fails that entry, the rest is undone); a granting
/// domain the driver may not map from and a frame the driver did not borrow (the gateway refuses
/// both before Xen); a give-back with grants still mapped (refused, then undone in order); and
/// last, the driver dying with its grants mapped (the gateway unmaps them all).
pub fn grant_rounds() -> Vec<GrantRound> {
    let round = |round, mode, pages, expect| GrantRound {
        round,
        mode,
        pages,
        revoke_index: None,
        claim_domid: None,
        expect,
    };
    vec![
        round(1, Mode::Check, 1, Expect::Ok),
        round(2, Mode::Check, 256, Expect::Ok),
        GrantRound {
            revoke_index: Some(2),
            ..round(
                3,
                Mode::Check,
                4,
                Expect::GrantStatus {
                    index: 2,
                    status: -1,
                },
            )
        },
        GrantRound {
            claim_domid: Some(CLAIMED_GRANTER),
            ..round(4, Mode::Check, 1, Expect::Refused("DomainNotAllowed"))
        },
        round(5, Mode::UnlentFrame, 1, Expect::Refused("FrameNotLent")),
        round(
            6,
            Mode::GiveBackMapped,
            4,
            Expect::GiveBackRefused("FrameMapped"),
        ),
        round(7, Mode::DieMapped, 4, Expect::Died { unmapped: 4 }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../manifests/xen-pvh-domu.cfg");

    #[test]
    fn the_shipped_config_keeps_its_sizes_and_gets_the_initramfs_kernel() {
        let config = DomuConfig::derive(SHIPPED, "xen-pvh-domu.cfg").unwrap();
        assert_eq!((config.memory_mib, config.maxmem_mib), (256, 512));
        assert_eq!(config.name, "ballast");
        assert!(config
            .text
            .contains("kernel = \"/srv/ballast/ballast-xen-pvh\"\n"));
        assert!(!config.text.contains("target/xen-pvh"));
        assert!(config.text.contains("\nmaxmem = 512\n"));
    }

    #[test]
    fn configs_the_plan_cannot_run_are_refused() {
        let config = |text: &str| DomuConfig::derive(text, "c.cfg");
        assert!(config("name = \"b\"\nkernel = \"k\"\n").is_err());
        assert!(config("name = \"b\"\nmemory = 256\nmaxmem = 128\nkernel = \"k\"\n").is_err());
        assert!(config("name = \"b\"\nmemory = lots\nkernel = \"k\"\n").is_err());
        assert!(config("name = \"b\"\nmemory = 256\n").is_err());
        let same = config("name = \"b\"\nmemory = 512\nkernel = \"k\"\n").unwrap();
        assert_eq!(same.maxmem_mib, 512);
    }

    #[test]
    fn the_shipped_plan_moves_down_up_past_both_limits_and_grows_past_the_boot_maximum() {
        let config = DomuConfig::derive(SHIPPED, "xen-pvh-domu.cfg").unwrap();
        let plan: Vec<_> = steps(&config)
            .iter()
            .map(|step| {
                (
                    step.init_line(),
                    step.outcome,
                    step.target_kib / 1024,
                    step.static_max_kib / 1024,
                )
            })
            .collect();
        use Outcome::*;
        let expected = [
            ("mem-set 128 target", Accepted, 128, 512),
            ("mem-set 201 target", Accepted, 201, 512),
            ("mem-set 384 target", Accepted, 384, 512),
            ("mem-set 512 target", Accepted, 512, 512),
            ("mem-set 256 target", Accepted, 256, 512),
            ("mem-max 384 none", Accepted, 256, 384),
            ("mem-set 448 target", Refused, 256, 384),
            ("mem-max 512 none", Accepted, 256, 512),
            ("mem-set 448 target", Accepted, 448, 512),
            ("mem-set 640 target", Refused, 448, 512),
            ("mem-set 4 clamp", RefusedOrClamped, 4, 512),
            ("mem-set 256 target", Accepted, 256, 512),
            ("mem-max 768 none", Accepted, 256, 768),
            ("mem-set 512 target", Accepted, 512, 768),
            ("mem-set 768 target", Accepted, 768, 768),
            ("mem-set 256 target", Accepted, 256, 768),
            ("mem-max 512 none", Accepted, 256, 512),
            ("target-write 640 max", Accepted, 640, 512),
            ("target-write 16384 max", Accepted, 16384, 512),
            ("mem-set 256 target", Accepted, 256, 512),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|&(line, outcome, target, max)| (line.to_string(), outcome, target, max))
            .collect();
        assert_eq!(plan, expected);
    }

    #[test]
    fn the_grant_rounds_as_init_reads_them() {
        let lines: Vec<_> = grant_rounds().iter().map(GrantRound::init_line).collect();
        assert_eq!(
            lines,
            [
                "1 check 1 - -",
                "2 check 256 - -",
                "3 check 4 2 -",
                "4 check 1 - 7",
                "5 unlent-frame 1 - -",
                "6 give-back-mapped 4 - -",
                "7 die-mapped 4 - -",
            ]
        );
        let held: Vec<_> = grant_rounds().iter().map(GrantRound::pages_held).collect();
        assert_eq!(held, [1, 256, 3, 1, 1, 4, 4]);
    }

    #[test]
    fn each_round_expects_exactly_its_token() {
        let rounds = grant_rounds();
        let tokens: Vec<_> = rounds.iter().map(|round| round.expect.token()).collect();
        assert_eq!(
            tokens,
            [
                "ok",
                "ok",
                "grant-status:2:-1",
                "refused:DomainNotAllowed",
                "refused:FrameNotLent",
                "give-back-refused:FrameMapped",
                "died:unmapped=4",
            ]
        );
        for round in &rounds {
            for token in &tokens {
                assert_eq!(
                    round.expect.matches(token),
                    *token == round.expect.token(),
                    "round {} against {token}",
                    round.round
                );
            }
            for other in [
                "timeout",
                "refused:FrameMapped",
                "died:unmapped=3",
                "grant-status:1:-1",
            ] {
                assert!(
                    !round.expect.matches(other),
                    "round {} took {other}",
                    round.round
                );
            }
        }
    }
}
