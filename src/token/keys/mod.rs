//! Signing keys and their lifecycle. Each key has a schedule — when it starts signing,
//! stops signing, leaves the JWKS, or was revoked — kept in `keys.json` beside the PEM
//! files. A key's state is a function of its schedule and the current time, so every
//! instance that reads the same folder signs with the same key at the same moment, and
//! a rotation planned by the CLI needs no coordination beyond the file.

mod folder;
mod key;
mod ring;

pub use folder::{IgnoredFile, KeyFolder, KeyInfo, RotateOutcome};
pub use key::{KeyError, MIN_KEY_BITS, SigningAlg, SigningKey};
pub use ring::{KeyRing, KeyState, Keys, Schedule};
