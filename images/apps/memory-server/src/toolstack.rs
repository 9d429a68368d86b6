//! The toolstack agent of a domU, played by the app in the place of the manifest's control agent
//! (its capabilities, its badges): `ballast-toolstack-agent` reads and writes the xenstore ring;
//! this glue turns what it asks for into calls. A `memory/target` becomes `set_target` on the
//! memory server (one above everything the domain could ever hold is refused with
//! `TargetTooHigh`: the glue sets the largest target `stats` reports instead and the agent
//! reports `clamped:TargetTooHigh` with that target); the agent hears back when the domain holds
//! it; a `control/shutdown` becomes the
//! gateway's `shutdown`; and every time the agent wrote requests or consumed replies, the
//! gateway's `event_send` kicks xenstored (the gateway lets only this agent send, and only on the
//! xenstore channel). The administrator reads the steps as plain lines on the console.

use core::fmt::Write;

use ballast_frame_access::FrameMemory;
use ballast_grant_offer::Answer;
use ballast_interfaces::balloon_control::{BalloonControlClient, BalloonControlError, StatsReply};
use ballast_interfaces::hypercall::HypercallClient;
use ballast_interfaces::support::CallError;
use ballast_ipc::static_rt;
use ballast_ipc::ComponentId;
use ballast_system::Kind;
use ballast_toolstack_agent::{Action, Agent, ShutdownReason, GRANT_ANSWER_MAX};
use ballast_xen::abi::ShutdownReason as XenShutdownReason;
use ballast_xen::ring::{SharedPage, XenstoreRing};

use crate::composition;
use crate::domain::{Domain, XenstoreLink};
use crate::driver::{self, Driver};
use crate::serve::PAGES_PER_MIB;
use crate::system::{Runtime, SetupError};

/// Rounds of ring traffic and actions in one turn (each round is a poll of the ring and the
/// actions it produced; the agent's queues are small, so a few rounds drain them).
const ROUNDS: usize = 8;

/// A target the memory server accepted and works towards.
#[derive(Clone, Copy, Debug)]
struct Steering {
    /// The target, in pages.
    pages: u64,
    /// When it was set (the app's clock).
    since_ns: u64,
    /// Why it is not the target the toolstack asked for, if it is not (the server refused that
    /// one, and this is the limit it reported).
    clamped: Option<BalloonControlError>,
}

/// The agent, its ring and the control agent's clients.
pub struct Toolstack<P: SharedPage> {
    agent: Agent,
    ring: XenstoreRing<P>,
    port: u32,
    control: ComponentId,
    balloon: BalloonControlClient,
    xen: HypercallClient,
    steering: Option<Steering>,
}

/// A call's failure as the agent reports it: the server's own error, or a server that could
/// not be reached (reported as restarted).
fn reason<E>(error: CallError<E>) -> Option<E> {
    match error {
        CallError::Interface(error) => Some(error),
        CallError::Protocol(_) | CallError::Transport(_) => None,
    }
}

impl<P: SharedPage> Toolstack<P> {
    /// The agent over `link`, calling through the control agent's capabilities.
    pub fn new(link: XenstoreLink<P>) -> Result<Toolstack<P>, SetupError> {
        let control = composition::component(Kind::ControlAgent)?;
        let memory = composition::component(Kind::MemoryServer)?;
        let gateway = composition::component(Kind::HypercallGateway)?;
        let (to_memory, _) = composition::endpoint(control, memory)?;
        let (to_gateway, _) = composition::endpoint(control, gateway)?;
        Ok(Toolstack {
            agent: Agent::new(),
            ring: XenstoreRing::new(link.page),
            port: link.port,
            control,
            balloon: BalloonControlClient::new(to_memory),
            xen: HypercallClient::new(to_gateway),
            steering: None,
        })
    }

    /// The xenstore event channel, the one the gateway lets this agent send on.
    pub fn event_port(&self) -> u32 {
        self.port
    }

    /// Move what the ring holds, act on what the agent asks, and report a target reached.
    /// Called after every xenstore event and every round of the server's timers (the agent
    /// needs no timer of its own); cheap when nothing changed.
    pub fn turn<K: static_rt::Clock, B: FrameMemory>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        domain: &mut impl Domain,
        backend: &mut Option<Driver<'_, B>>,
    ) {
        for _ in 0..ROUNDS {
            self.agent.poll(&mut self.ring);
            while let Some(report) = self.agent.next_error() {
                defmt::warn!(
                    "toolstack error={=u8} key={=?} detail={=u64}",
                    report.error as u8,
                    report.key.map(|key| key.path()),
                    report.detail
                );
            }
            let mut acted = false;
            while let Some(action) = self.agent.next_action() {
                acted = true;
                match action {
                    Action::NotifyPeer => self.notify_xenstored(rt),
                    Action::SetTarget { pages } => self.set_target(rt, domain, pages),
                    Action::Shutdown(reason) => self.shut_down(rt, domain, reason),
                    Action::GrantOffer => self.serve_grant_offer(rt, domain, backend),
                }
            }
            acted |= self.check_reached(rt, domain);
            if !acted {
                return;
            }
        }
    }

    fn notify_xenstored<K: static_rt::Clock>(&mut self, rt: &mut Runtime<'_, '_, K>) {
        let Ok(mut sys) = rt.external(self.control) else {
            return;
        };
        if self.xen.event_send(&mut sys, self.port).is_err() {
            defmt::error!("toolstack event_send port={=u32} refused", self.port);
        }
    }

    fn set_target<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        domain: &mut impl Domain,
        pages: u64,
    ) {
        let now = rt.now_ns();
        let answer = self.call_set_target(rt, pages);
        let mut line: heapless::String<120> = heapless::String::new();
        match answer {
            Ok(()) => {
                defmt::info!("toolstack at=target_set pages={=u64}", pages);
                self.agent.accepted(pages);
                self.steering = Some(Steering {
                    pages,
                    since_ns: now,
                    clamped: None,
                });
                let _ = write!(
                    line,
                    "ballast: target {} MiB set by the toolstack",
                    mib(pages)
                );
            }
            Err(Some(BalloonControlError::TargetTooHigh)) => {
                let why = BalloonControlError::TargetTooHigh;
                match self.set_largest_target(rt) {
                    Some(limit) => {
                        defmt::warn!(
                            "toolstack at=target_clamped pages={=u64} limit={=u64}",
                            pages,
                            limit
                        );
                        self.agent.clamped(limit, why);
                        self.steering = Some(Steering {
                            pages: limit,
                            since_ns: now,
                            clamped: Some(why),
                        });
                        let _ = write!(
                            line,
                            "ballast: target {} MiB above what the domain can hold: {} MiB set",
                            mib(pages),
                            mib(limit)
                        );
                    }
                    None => {
                        defmt::warn!("toolstack at=target_refused pages={=u64}", pages);
                        self.agent.refused(why);
                        let _ = write!(
                            line,
                            "ballast: target {} MiB refused: {}",
                            mib(pages),
                            ballast_toolstack_agent::keys::error_name(why)
                        );
                    }
                }
            }
            Err(why) => {
                let why = why.unwrap_or(BalloonControlError::ServerRestarted);
                defmt::warn!(
                    "toolstack at=target_refused pages={=u64} why={=u16}",
                    pages,
                    why as u16
                );
                self.agent.refused(why);
                let _ = write!(
                    line,
                    "ballast: target {} MiB refused: {}",
                    mib(pages),
                    ballast_toolstack_agent::keys::error_name(why)
                );
            }
        }
        domain.say(&line);
    }

    /// `set_target` on the memory server: the server's error, or `None` if it could not be
    /// reached.
    fn call_set_target<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        pages: u64,
    ) -> Result<(), Option<BalloonControlError>> {
        match rt.external(self.control) {
            Ok(mut sys) => self.balloon.set_target(&mut sys, pages).map_err(reason),
            Err(_) => Err(None),
        }
    }

    /// After `TargetTooHigh`: set the largest target the server takes (`stats`' `max_target`).
    /// Returns it, or `None` if the server could not be asked or refused that too.
    fn set_largest_target<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
    ) -> Option<u64> {
        let limit = {
            let mut sys = rt.external(self.control).ok()?;
            self.balloon.stats(&mut sys).ok()?.max_target
        };
        self.call_set_target(rt, limit).ok().map(|()| limit)
    }

    /// Once the memory server has nothing left to do for the target, tell the agent where the
    /// domain ended: at the target, or short of it (clamped at what the server could reach).
    /// Whether it reported anything.
    fn check_reached<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        domain: &mut impl Domain,
    ) -> bool {
        let Some(steering) = self.steering else {
            return false;
        };
        if rt.next_deadline().is_some() {
            return false;
        }
        let stats: Option<StatsReply> = match rt.external(self.control) {
            Ok(mut sys) => self.balloon.stats(&mut sys).ok(),
            Err(_) => None,
        };
        let Some(stats) = stats else {
            return false;
        };
        self.steering = None;
        let elapsed_ms = rt.now_ns().saturating_sub(steering.since_ns) / 1_000_000;
        let mut line: heapless::String<120> = heapless::String::new();
        if let Some(why) = steering.clamped.filter(|_| stats.current == steering.pages) {
            defmt::info!(
                "toolstack at=target_reached pages={=u64} ms={=u64} hypercalls={=u64} ballooned_low={=u64} ballooned_high={=u64} clamped=1",
                stats.current,
                elapsed_ms,
                stats.hypercalls,
                stats.ballooned_low,
                stats.ballooned_high
            );
            self.agent.clamped(stats.current, why);
            let _ = write!(
                line,
                "ballast: largest target {} MiB reached in {} ms",
                mib(stats.current),
                elapsed_ms
            );
        } else if stats.current == steering.pages {
            defmt::info!(
                "toolstack at=target_reached pages={=u64} ms={=u64} hypercalls={=u64} ballooned_low={=u64} ballooned_high={=u64}",
                stats.current,
                elapsed_ms,
                stats.hypercalls,
                stats.ballooned_low,
                stats.ballooned_high
            );
            self.agent.reached(stats.current);
            let _ = write!(
                line,
                "ballast: target {} MiB reached in {} ms",
                mib(stats.current),
                elapsed_ms
            );
        } else {
            let why = if stats.current > steering.pages {
                BalloonControlError::TargetTooLow
            } else {
                BalloonControlError::TargetTooHigh
            };
            defmt::warn!(
                "toolstack at=target_clamped pages={=u64} current={=u64} ms={=u64}",
                steering.pages,
                stats.current,
                elapsed_ms
            );
            self.agent.clamped(stats.current, why);
            let _ = write!(
                line,
                "ballast: target {} MiB out of reach: holding {} MiB",
                mib(steering.pages),
                mib(stats.current)
            );
        }
        domain.say(&line);
        true
    }

    /// Hand the grant offer to the backend (if the composition has one), log and report its
    /// answer with the frames the memory server has lent once the round is over.
    fn serve_grant_offer<K: static_rt::Clock, B: FrameMemory>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        domain: &mut impl Domain,
        backend: &mut Option<Driver<'_, B>>,
    ) {
        let Some(offer) = self.agent.take_grant_offer() else {
            return;
        };
        let answer: Answer = match backend {
            Some(backend) => backend.serve(rt, &offer),
            None => driver::outcome_only(&offer, "NoBackend"),
        };
        self.agent.grant_answered(&answer);
        let lent = match rt.external(self.control) {
            Ok(mut sys) => self.balloon.stats(&mut sys).ok().map(|stats| stats.lent),
            Err(_) => None,
        };
        let mut text: heapless::String<GRANT_ANSWER_MAX> = heapless::String::new();
        let _ = answer.write(&mut text);
        defmt::info!(
            "backend at=round mode={=str} {=str} lent_after={=u64}",
            offer.mode.as_str(),
            text.as_str(),
            // u64::MAX: the memory server could not be asked.
            lent.unwrap_or(u64::MAX)
        );
        let mut line: heapless::String<{ GRANT_ANSWER_MAX + 80 }> = heapless::String::new();
        let _ = write!(
            line,
            "ballast: grant round {} ({}, {} pages from domain {}): {}",
            offer.round,
            offer.mode.as_str(),
            offer.refs.len(),
            offer.granter,
            text.as_str()
        );
        domain.say(&line);
    }

    fn shut_down<K: static_rt::Clock>(
        &mut self,
        rt: &mut Runtime<'_, '_, K>,
        domain: &mut impl Domain,
        reason: ShutdownReason,
    ) {
        let xen_reason = match reason {
            ShutdownReason::Poweroff | ShutdownReason::Halt => XenShutdownReason::Poweroff,
            ShutdownReason::Reboot => XenShutdownReason::Reboot,
            ShutdownReason::Crash => XenShutdownReason::Crash,
        };
        let mut line: heapless::String<80> = heapless::String::new();
        let _ = write!(line, "ballast: shutting down ({})", reason.word());
        domain.say(&line);
        defmt::info!("toolstack at=shutdown reason={=str}", reason.word());
        let Ok(mut sys) = rt.external(self.control) else {
            return;
        };
        if self.xen.shutdown(&mut sys, xen_reason.raw()).is_err() {
            defmt::error!("toolstack shutdown reason={=str} refused", reason.word());
            domain.say("ballast: shutdown refused");
        }
    }
}

/// Pages as whole MiB.
fn mib(pages: u64) -> u64 {
    pages / PAGES_PER_MIB
}
