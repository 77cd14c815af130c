//! The key folder's lifecycle: rotation, retirement, revocation, adoption of hand-placed
//! keys, and files it ignores.

use super::*;
use chrono::TimeZone;

use super::changes::PUBLISH_MARGIN;
use crate::clock::Clock;
use crate::token::keys::key::SigningKey;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

/// A clock that stands still.
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that tells whether the new key is on disk: a thousand seconds later for
/// every key file in the folder.
struct KeyFileClock(PathBuf);

impl Clock for KeyFileClock {
    fn now(&self) -> DateTime<Utc> {
        let files = std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pem"))
            .count();
        t(1000 * files as i64)
    }
}

fn signing_kid(folder: &KeyFolder, at: DateTime<Utc>) -> String {
    folder
        .load(at)
        .unwrap()
        .signing_key(at)
        .unwrap()
        .kid()
        .to_string()
}

const AHEAD: Duration = Duration::from_secs(310);
const LIFETIME: Duration = Duration::from_secs(900);

/// A folder whose first key was made at `t(0)`.
fn folder_with_a_key() -> (tempfile::TempDir, KeyFolder) {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path(), 2048);
    folder.ensure_key(t(0)).unwrap();
    (dir, folder)
}

/// Rotates at `at`, which must make a new key; its kid.
fn rotated(folder: &KeyFolder, at: DateTime<Utc>) -> String {
    let RotateOutcome::Rotated { kid, .. } = folder.rotate(&At(at), AHEAD, LIFETIME, None).unwrap()
    else {
        panic!()
    };
    kid
}

/// A folder with one key put there by hand (no `keys.json`), and the time of its file.
fn folder_with_a_hand_placed_key() -> (tempfile::TempDir, KeyFolder, DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    fs::write(&path, SigningKey::generate_pem(2048).unwrap()).unwrap();
    let placed = fs::metadata(&path).unwrap().modified().unwrap().into();
    let folder = KeyFolder::new(dir.path(), 2048);
    (dir, folder, placed)
}

#[test]
fn a_rotation_publishes_first_and_signs_later() {
    let (dir, folder) = folder_with_a_key();
    let first = signing_kid(&folder, t(0));

    let RotateOutcome::Rotated { kid, activate_at } =
        folder.rotate(&At(t(100)), AHEAD, LIFETIME, None).unwrap()
    else {
        panic!()
    };

    assert_eq!(activate_at, t(415), "310 s ahead and a 5 s margin");
    let ring = folder.load(t(100)).unwrap();
    assert_eq!(ring.signing_key(t(414)).unwrap().kid(), first);
    assert_eq!(ring.signing_key(t(415)).unwrap().kid(), kid);
    assert!(ring.jwks_json(t(100)).contains(&kid));
    assert!(ring.jwks_json(t(415 + 900 + 59)).contains(&first));
    assert!(!ring.jwks_json(t(415 + 900 + 60)).contains(&first));
    // A second rotation while one is pending changes nothing.
    assert!(matches!(
        folder.rotate(&At(t(200)), AHEAD, LIFETIME, None).unwrap(),
        RotateOutcome::Pending { .. }
    ));
    // Once the old key is removed, its file goes at the next change.
    folder.rotate(&At(t(2000)), AHEAD, LIFETIME, None).unwrap();
    assert!(!dir.path().join(format!("{first}.pem")).exists());
}

#[test]
fn a_new_key_waits_from_the_moment_it_is_on_disk() {
    let (dir, folder) = folder_with_a_key();
    let clock = KeyFileClock(dir.path().to_path_buf());

    let RotateOutcome::Rotated { activate_at, .. } =
        folder.rotate(&clock, AHEAD, LIFETIME, None).unwrap()
    else {
        panic!()
    };

    // One key file until the new key is written (1000), two once it is (2000): the
    // whole wait comes after the key is on disk.
    assert_eq!(activate_at, after(t(2000), AHEAD + PUBLISH_MARGIN));
}

#[test]
fn rotate_if_older_than_leaves_young_keys_alone() {
    let (_dir, folder) = folder_with_a_key();
    let month = Duration::from_secs(30 * 86_400);
    assert!(matches!(
        folder
            .rotate(&At(t(86_400)), AHEAD, LIFETIME, Some(month))
            .unwrap(),
        RotateOutcome::Young { .. }
    ));
    assert!(matches!(
        folder
            .rotate(&At(t(31 * 86_400)), AHEAD, LIFETIME, Some(month))
            .unwrap(),
        RotateOutcome::Rotated { .. }
    ));
}

#[test]
fn revoking_the_active_key_promotes_another_at_once() {
    let (dir, folder) = folder_with_a_key();
    let next = rotated(&folder, t(10));
    let first = signing_kid(&folder, t(10));

    let promoted = folder.revoke(&first, t(20)).unwrap();

    assert_eq!(promoted.as_deref(), Some(next.as_str()));
    let ring = folder.load(t(20)).unwrap();
    assert_eq!(ring.signing_key(t(20)).unwrap().kid(), next);
    assert!(ring.verification_key(&first, t(20)).is_none());
    assert!(!ring.jwks_json(t(20)).contains(&first));
    assert!(!dir.path().join(format!("{first}.pem")).exists());
    // With no next key, a new one is made.
    let made = folder.revoke(&next, t(30)).unwrap().unwrap();
    assert_eq!(signing_kid(&folder, t(30)), made);
}

#[test]
fn the_active_key_cannot_be_retired_and_a_next_key_is_withdrawn() {
    let (_dir, folder) = folder_with_a_key();
    let first = signing_kid(&folder, t(0));
    assert!(matches!(
        folder.retire(&first, t(1), LIFETIME),
        Err(KeyError::Refused(_))
    ));
    let next = rotated(&folder, t(10));
    folder.retire(&next, t(20), LIFETIME).unwrap();
    let ring = folder.load(t(20)).unwrap();
    assert!(!ring.jwks_json(t(20)).contains(&next));
    assert!(matches!(
        folder.retire("nope", t(20), LIFETIME),
        Err(KeyError::UnknownKid(_))
    ));
}

#[test]
fn hand_placed_keys_are_adopted() {
    let (_dir, folder, placed) = folder_with_a_hand_placed_key();
    let ring = folder.load(placed).unwrap();
    assert_eq!(ring.len(), 1);
    assert!(ring.signing_key(placed).is_some());
}

#[test]
fn a_corrupt_key_file_is_named() {
    let (dir, folder) = folder_with_a_key();
    let kid = signing_kid(&folder, t(0));
    let path = dir.path().join(format!("{kid}.pem"));
    let pem = fs::read(&path).unwrap();
    fs::write(&path, &pem[..pem.len() / 2]).unwrap();
    let err = folder.load(t(1)).unwrap_err().to_string();
    assert!(err.contains(&format!("{kid}.pem")), "{err}");
    let listed = folder.list(t(1)).unwrap();
    assert!(listed[0].problem.is_some());
}

#[test]
fn key_files_outside_the_schedule_are_named_with_their_reason_and_never_used() {
    let (dir, folder) = folder_with_a_key();
    let next = rotated(&folder, t(10));
    let next_pem = fs::read(dir.path().join(format!("{next}.pem"))).unwrap();
    let revoked = signing_kid(&folder, t(10));
    folder.revoke(&revoked, t(20)).unwrap();
    let stray = SigningKey::generate_pem(2048).unwrap();
    let stray_kid = SigningKey::from_pem(&stray, Path::new("stray"))
        .unwrap()
        .kid()
        .to_string();
    // Dropped in by hand after keys.json exists: a new key, a corrupt file, a copy of
    // the key in use, and a restored backup of the revoked key.
    fs::write(dir.path().join("extra.pem"), &stray).unwrap();
    fs::write(
        dir.path().join("broken.pem"),
        b"-----BEGIN PRIVATE KEY-----",
    )
    .unwrap();
    fs::write(dir.path().join("copy.pem"), &next_pem).unwrap();
    fs::write(dir.path().join(format!("{revoked}.pem")), b"restored").unwrap();
    fs::write(dir.path().join("notes.txt"), b"not a key file").unwrap();

    let ignored = folder.ignored_files(t(30)).unwrap();

    let reason = |name: &str| {
        ignored
            .iter()
            .find(|f| f.path == dir.path().join(name))
            .map(|f| f.reason.clone())
            .unwrap_or_else(|| panic!("{name} not reported: {ignored:?}"))
    };
    assert!(reason("extra.pem").contains("not in keys.json"));
    assert!(reason("broken.pem").contains("not a usable private key"));
    assert!(reason("copy.pem").contains(&format!("a copy of the key {next}")));
    assert!(reason(&format!("{revoked}.pem")).contains("revoked"));
    assert_eq!(ignored.len(), 4, "{ignored:?}");
    // None of them is used: the ring holds the scheduled key alone.
    let ring = folder.load(t(30)).unwrap();
    assert_eq!(ring.len(), 1);
    assert!(!ring.jwks_json(t(30)).contains(&stray_kid));
    assert!(!ring.jwks_json(t(30)).contains(&revoked));
    assert_eq!(
        folder.list(t(30)).unwrap().len(),
        2,
        "the revoked key stays listed"
    );
}

#[test]
fn without_a_schedule_nothing_is_ignored() {
    let (_dir, folder, placed) = folder_with_a_hand_placed_key();
    assert!(folder.ignored_files(placed).unwrap().is_empty());
}

#[test]
fn concurrent_rotations_make_one_key() {
    let (_dir, folder) = folder_with_a_key();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let folder = folder.clone();
            std::thread::spawn(move || folder.rotate(&At(t(10)), AHEAD, LIFETIME, None).unwrap())
        })
        .collect();
    let outcomes: Vec<RotateOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated { .. }))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    assert_eq!(folder.list(t(10)).unwrap().len(), 2);
}
