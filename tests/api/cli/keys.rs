//! `gatehouse keys`.

use chrono::{DateTime, TimeZone, Utc};
use gatehouse::cli::keys::KeysCommand;
use gatehouse::clock::Clock;
use gatehouse::config::{Config, RawSettings};

use super::gatehouse;

#[test]
fn a_kid_starting_with_a_hyphen_is_a_kid_not_an_option() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .args([
            "keys",
            "revoke",
            "-rRJlL1Yigek35mDGb6_JyXRLetewFNA1HMg3HwOKh4",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no key -rRJlL1Yigek35mDGb6_JyXRLetewFNA1HMg3HwOKh4"),
        "{stderr}"
    );
}

/// A clock that stands where the test puts it.
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The commands are library code; the key commands run at the time of the clock they are
/// given, so a month-long schedule is tested without waiting a month.
#[tokio::test]
async fn key_commands_run_at_the_time_of_the_clock_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    let config = Config::from_raw(&RawSettings::from_pairs([
        ("GATEHOUSE_KEYS_DIR", keys_dir.display().to_string()),
        (
            "GATEHOUSE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
        ),
    ]))
    .unwrap();
    let folder = config.keys.folder();
    let start = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let day = chrono::Duration::days(1);
    let rotate_after_30_days = || KeysCommand::Rotate {
        if_older_than: Some(std::time::Duration::from_secs(30 * 86_400)),
    };
    let created = |at| {
        let mut times: Vec<_> = folder
            .list(at)
            .unwrap()
            .iter()
            .map(|k| k.created_at)
            .collect();
        times.sort();
        times
    };

    let first = KeysCommand::Rotate {
        if_older_than: None,
    };
    gatehouse::cli::keys::run(config.clone(), first, std::sync::Arc::new(At(start)))
        .await
        .unwrap();
    gatehouse::cli::keys::run(
        config.clone(),
        rotate_after_30_days(),
        std::sync::Arc::new(At(start + day)),
    )
    .await
    .unwrap();
    assert_eq!(created(start + day), [start], "a day-old key is young");

    gatehouse::cli::keys::run(
        config,
        rotate_after_30_days(),
        std::sync::Arc::new(At(start + day * 31)),
    )
    .await
    .unwrap();
    assert_eq!(created(start + day * 31), [start, start + day * 31]);
}
