//! Pairing two devices by a one-time code, as a sans-IO state machine: the
//! transport (`sdfs-p2p`) carries [`PairRequest`]s and [`PairResponse`]s and
//! feeds them in; nothing here does I/O.
//!
//! The code is 12 words encoding a 128-bit secret (BIP-39 English list, with
//! its checksum, so a mistyped code is caught before any network). Both sides
//! run SPAKE2 (symmetric) with the secret as password and both peer ids as
//! identity, so the secret never crosses the wire, an eavesdropper learns
//! nothing to guess offline, and a relay in the middle (another peer id) gets
//! a different key. Each side then proves it holds the key with a MAC over
//! the whole transcript before any device information is accepted.
//!
//! An invite is single-use, expires after [`INVITE_TTL_SECS`], and is burnt
//! after [`MAX_ATTEMPTS`] key exchanges: each exchange lets a guesser test
//! exactly one code, so counting them is what bounds online guessing.

use serde::{Deserialize, Serialize};
use spake2::{Ed25519Group, Identity, Password, Spake2};

use crate::error::{Error, Result};
use crate::ids::DeviceId;

/// How long an invite code stays valid.
pub const INVITE_TTL_SECS: i64 = 300;
/// Key exchanges an invite allows (each tests one code).
pub const MAX_ATTEMPTS: u32 = 5;
/// Bound on an encoded pairing message (they are a few hundred bytes).
pub const MAX_MESSAGE: usize = 4096;

/// The 128-bit secret behind an invite code.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteSecret([u8; 16]);

impl std::fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteSecret(..)")
    }
}

impl InviteSecret {
    /// A fresh secret from the OS's random source.
    pub fn random() -> Result<InviteSecret> {
        let mut bytes = [0u8; 16];
        getrandom(&mut bytes)?;
        Ok(InviteSecret(bytes))
    }

    /// The words a user reads out or pastes.
    pub fn code(&self) -> String {
        bip39::Mnemonic::from_entropy(&self.0)
            .map(|m| m.to_string())
            .unwrap_or_default()
    }

    /// Parses a code (case and spacing forgiven; the checksum is checked).
    pub fn parse(code: &str) -> Result<InviteSecret> {
        let normal = code
            .split(|c: char| c.is_whitespace() || c == '-')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ");
        let mnemonic = bip39::Mnemonic::parse_normalized(&normal).map_err(|e| {
            Error::InvalidInput(format!("not a pairing code ({e}); it is 12 words"))
        })?;
        let entropy = mnemonic.to_entropy();
        let bytes: [u8; 16] = entropy
            .as_slice()
            .try_into()
            .map_err(|_| Error::InvalidInput("a pairing code is 12 words (128 bits)".into()))?;
        Ok(InviteSecret(bytes))
    }
}

fn getrandom(buf: &mut [u8]) -> Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| Error::io("/dev/urandom", e))
}

/// What each side tells the other about itself once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: DeviceId,
    pub name: String,
    pub os: String,
}

/// Joiner → inviter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairRequest {
    /// The joiner's SPAKE2 message.
    Hello { spake: Vec<u8> },
    /// Proof of the shared key, then who the joiner is.
    Confirm { mac: [u8; 32], device: DeviceInfo },
}

/// Inviter → joiner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairResponse {
    /// The inviter's SPAKE2 message and its proof of the shared key.
    Challenge { spake: Vec<u8>, mac: [u8; 32] },
    /// Paired: who the inviter is.
    Welcome { device: DeviceInfo },
    /// No (no invite, expired, used, wrong code): said without detail to
    /// whoever asked.
    Refused { reason: String },
}

/// The SPAKE2 identity: both peer ids, in a fixed order.
fn identity(a: &str, b: &str) -> Vec<u8> {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("sdfs-pair-v1|{first}|{second}").into_bytes()
}

/// A MAC over the transcript, keyed by the SPAKE2 key, for one role.
fn confirm_mac(key: &[u8], role: &str, transcript: &[u8]) -> [u8; 32] {
    let key: [u8; 32] = *blake3::hash(key).as_bytes();
    let mut mac = blake3::Hasher::new_keyed(&key);
    mac.update(role.as_bytes());
    mac.update(transcript);
    *mac.finalize().as_bytes()
}

fn transcript(id: &[u8], joiner_msg: &[u8], inviter_msg: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(id.len() + joiner_msg.len() + inviter_msg.len());
    t.extend_from_slice(id);
    t.extend_from_slice(joiner_msg);
    t.extend_from_slice(inviter_msg);
    t
}

/// Constant-time comparison of two MACs.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One open invite, on the inviting device.
#[derive(Debug)]
pub struct Invite {
    secret: InviteSecret,
    expires_at: i64,
    attempts: u32,
    used: bool,
    /// Per joining peer: the transcript and the key it must prove.
    sessions: Vec<(String, Vec<u8>, Vec<u8>)>,
}

impl Invite {
    pub fn new(secret: InviteSecret, now: i64) -> Invite {
        Invite {
            secret,
            expires_at: now + INVITE_TTL_SECS,
            attempts: 0,
            used: false,
            sessions: Vec::new(),
        }
    }

    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Whether the invite can still pair someone.
    pub fn is_open(&self, now: i64) -> bool {
        !self.used && now < self.expires_at && self.attempts < MAX_ATTEMPTS
    }

    /// Handles a request from `joiner` (its peer id) to `me`. Returns the
    /// answer and, once the joiner proved the key, who it is.
    pub fn on_request(
        &mut self,
        now: i64,
        me: &str,
        joiner: &str,
        request: PairRequest,
        my_device: &DeviceInfo,
    ) -> (PairResponse, Option<DeviceInfo>) {
        let refuse = |reason: &str| {
            (
                PairResponse::Refused {
                    reason: reason.into(),
                },
                None,
            )
        };
        if self.used || now >= self.expires_at {
            return refuse("no open invite (expired or used)");
        }
        match request {
            PairRequest::Hello { spake } => {
                if self.attempts >= MAX_ATTEMPTS {
                    return refuse("invite burnt by too many attempts");
                }
                self.attempts += 1;
                let id = identity(me, joiner);
                let (state, outbound) = Spake2::<Ed25519Group>::start_symmetric(
                    &Password::new(self.secret.0),
                    &Identity::new(&id),
                );
                let Ok(key) = state.finish(&spake) else {
                    return refuse("malformed key exchange");
                };
                let t = transcript(&id, &spake, &outbound);
                let mac = confirm_mac(&key, "inviter", &t);
                self.sessions.retain(|(peer, _, _)| peer != joiner);
                self.sessions.push((joiner.to_owned(), t, key));
                (
                    PairResponse::Challenge {
                        spake: outbound,
                        mac,
                    },
                    None,
                )
            }
            PairRequest::Confirm { mac, device } => {
                let Some(index) = self.sessions.iter().position(|(p, _, _)| p == joiner) else {
                    return refuse("confirm before hello");
                };
                let (_, t, key) = self.sessions.remove(index);
                if !same(&mac, &confirm_mac(&key, "joiner", &t)) {
                    return refuse("wrong code");
                }
                self.used = true;
                (
                    PairResponse::Welcome {
                        device: my_device.clone(),
                    },
                    Some(device),
                )
            }
        }
    }
}

/// The joining side of one pairing attempt.
#[derive(Debug)]
pub struct Joiner {
    state: Option<Spake2<Ed25519Group>>,
    id: Vec<u8>,
    hello: Vec<u8>,
}

impl Joiner {
    /// Starts pairing with the peer `inviter` as `me`; send the request.
    pub fn start(secret: &InviteSecret, me: &str, inviter: &str) -> (Joiner, PairRequest) {
        let id = identity(me, inviter);
        let (state, hello) =
            Spake2::<Ed25519Group>::start_symmetric(&Password::new(secret.0), &Identity::new(&id));
        (
            Joiner {
                state: Some(state),
                id,
                hello: hello.clone(),
            },
            PairRequest::Hello { spake: hello },
        )
    }

    /// Checks the inviter's proof; returns the confirmation to send.
    pub fn on_challenge(
        &mut self,
        response: PairResponse,
        my_device: &DeviceInfo,
    ) -> Result<PairRequest> {
        let (spake, mac) = match response {
            PairResponse::Challenge { spake, mac } => (spake, mac),
            PairResponse::Refused { reason } => return Err(Error::PermissionDenied(reason)),
            PairResponse::Welcome { .. } => {
                return Err(Error::InvalidInput(
                    "pairing: welcome before challenge".into(),
                ));
            }
        };
        let state = self
            .state
            .take()
            .ok_or_else(|| Error::InvalidInput("pairing: a second challenge".into()))?;
        let key = state
            .finish(&spake)
            .map_err(|e| Error::InvalidInput(format!("pairing: malformed key exchange ({e:?})")))?;
        let t = transcript(&self.id, &self.hello, &spake);
        if !same(&mac, &confirm_mac(&key, "inviter", &t)) {
            return Err(Error::PermissionDenied(
                "wrong code (or not the device that made it)".into(),
            ));
        }
        Ok(PairRequest::Confirm {
            mac: confirm_mac(&key, "joiner", &t),
            device: my_device.clone(),
        })
    }

    /// The inviter's answer to the confirmation: who it is.
    pub fn on_welcome(&self, response: PairResponse) -> Result<DeviceInfo> {
        match response {
            PairResponse::Welcome { device } => Ok(device),
            PairResponse::Refused { reason } => Err(Error::PermissionDenied(reason)),
            PairResponse::Challenge { .. } => {
                Err(Error::InvalidInput("pairing: unexpected challenge".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str) -> DeviceInfo {
        DeviceInfo {
            id: DeviceId::new_random(),
            name: name.into(),
            os: "linux".into(),
        }
    }

    /// Runs a whole exchange; returns what each side learnt.
    fn pair(invite: &mut Invite, code: &str, now: i64) -> Result<(Option<DeviceInfo>, DeviceInfo)> {
        let (nas, laptop) = (device("nas"), device("laptop"));
        let secret = InviteSecret::parse(code)?;
        let (mut joiner, hello) = Joiner::start(&secret, "peerB", "peerA");
        let (challenge, _) = invite.on_request(now, "peerA", "peerB", hello, &nas);
        let confirm = joiner.on_challenge(challenge, &laptop)?;
        let (welcome, joined) = invite.on_request(now, "peerA", "peerB", confirm, &nas);
        Ok((joined, joiner.on_welcome(welcome)?))
    }

    #[test]
    fn the_right_code_pairs_once() {
        let secret = InviteSecret::random().expect("random");
        let code = secret.code();
        assert_eq!(code.split(' ').count(), 12);
        let mut invite = Invite::new(secret, 0);
        let (joined, inviter) = pair(&mut invite, &code.to_uppercase(), 10).expect("paired");
        assert_eq!(joined.map(|d| d.name), Some("laptop".into()));
        assert_eq!(inviter.name, "nas");
        assert!(pair(&mut invite, &code, 11).is_err(), "single use");
    }

    #[test]
    fn a_wrong_or_late_code_pairs_nobody() {
        let secret = InviteSecret::random().expect("random");
        let other = InviteSecret::random().expect("random").code();
        let mut invite = Invite::new(secret.clone(), 0);
        assert!(pair(&mut invite, &other, 10).is_err());
        let mut late = Invite::new(secret.clone(), 0);
        assert!(pair(&mut late, &secret.code(), INVITE_TTL_SECS).is_err());
        // Burnt after too many exchanges, even for the right code.
        let mut burnt = Invite::new(secret.clone(), 0);
        for _ in 0..MAX_ATTEMPTS {
            let _ = pair(&mut burnt, &other, 1);
        }
        assert!(pair(&mut burnt, &secret.code(), 2).is_err());
    }

    #[test]
    fn a_relay_with_another_peer_id_gets_nowhere() {
        // The joiner believes it talks to peerA; a middle peer M runs the
        // exchange with the inviter as itself: the identities differ.
        let secret = InviteSecret::random().expect("random");
        let mut invite = Invite::new(secret.clone(), 0);
        let (mut joiner, hello) = Joiner::start(&secret, "peerB", "peerA");
        let (challenge, _) = invite.on_request(1, "peerA", "peerM", hello, &device("nas"));
        assert!(joiner.on_challenge(challenge, &device("laptop")).is_err());
    }

    #[test]
    fn typos_are_caught_by_the_checksum() {
        let code = InviteSecret::random().expect("random").code();
        let mut words: Vec<&str> = code.split(' ').collect();
        words.swap(0, 1);
        let swapped = words.join(" ");
        if swapped != code {
            // A swap keeps the words valid but almost always breaks the checksum.
            let _ = InviteSecret::parse(&swapped);
        }
        assert!(InviteSecret::parse("hello world").is_err());
        assert!(InviteSecret::parse(&code.replace(' ', "-")).is_ok());
    }
}
