//! Stored passwords: refusals that do not reveal accounts by their timing, the old
//! service's bcrypt hashes (72-byte truncation, cost bounds), and private data files.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

// Sessions live in Redis or SQL, accounts in SQL: every case runs on every backend.
crate::on_every_backend!(
    refused_sign_ins_take_as_long_for_unknown_argon2_and_bcrypt_accounts,
    a_bcrypt_password_longer_than_72_bytes_is_kept_until_its_owner_chooses_a_new_one,
    hashes_costlier_than_the_bounds_are_refused_at_sign_in_without_being_computed,
    user_import_refuses_hashes_costlier_than_the_bounds,
);

const PASSWORD: &str = "from the old days";

/// argon2 much cheaper than the old service's bcrypt, as production argon2 (~20 ms) is
/// against bcrypt cost 12 (~270 ms): the same contrast at a tenth of the test's time.
const CHEAP_ARGON2: [(&str, &str); 2] = [
    ("GATEHOUSE_ARGON2_MEMORY_KIB", "1024"),
    ("GATEHOUSE_ARGON2_ITERATIONS", "1"),
];

/// Gives `email` a stored hash as the old service (or an import) would have left it.
async fn store_hash(app: &TestApp, email: &str, hash: &str) {
    app.sql(
        "UPDATE users SET password_hash = $1 WHERE email = $2",
        &[hash, email],
    )
    .await;
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn refused_sign_ins_take_as_long_for_unknown_argon2_and_bcrypt_accounts(backend: Backend) {
    const SAMPLES: usize = 21;
    const WARM_UP: usize = 2;
    let mut app = spawn_app_with(backend, &CHEAP_ARGON2).await;
    app.register_user("argon2@example.com", PASSWORD).await;
    app.register_user("legacy@example.com", PASSWORD).await;
    let legacy = bcrypt::hash(PASSWORD, 9).unwrap();
    store_hash(&app, "legacy@example.com", &legacy).await;
    // Imported before the server starts, as `user import` leaves them.
    app.restart().await;
    // Interleaved in a new order each round, so that noise from the machine (other tests
    // doing the same rounds at the same pace) falls on every case alike.
    let cases = [
        "nobody@example.com",
        "argon2@example.com",
        "legacy@example.com",
    ];
    let mut samples = vec![Vec::new(); cases.len()];
    let mut order: Vec<usize> = (0..cases.len()).collect();
    for round in 0..WARM_UP + SAMPLES {
        rand::seq::SliceRandom::shuffle(&mut order[..], &mut rand::rng());
        for &case in &order {
            let email = cases[case];
            let started = Instant::now();
            let response = app.password_grant(email, "wrong password").await;
            let took = started.elapsed();
            assert_eq!(response.status(), 400, "{email}");
            if round >= WARM_UP {
                samples[case].push(took);
            }
        }
    }

    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    eprintln!("{backend:?}: medians of refusals for {cases:?}: {medians:?}");
    let (fastest, slowest) = (
        *medians.iter().min().unwrap(),
        *medians.iter().max().unwrap(),
    );
    assert!(
        slowest.as_secs_f64() <= 1.25 * fastest.as_secs_f64(),
        "medians of refusals for {cases:?}: {medians:?}"
    );
    // Once no bcrypt hash is left, refusals are as cheap as argon2 again: so each refusal
    // above did the bcrypt work, not merely the cheap argon2 check.
    assert_eq!(
        app.password_grant("legacy@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    app.restart().await;
    let mut after = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        app.password_grant("nobody@example.com", "wrong password")
            .await;
        after.push(started.elapsed());
    }
    let after_migration = median(after);
    assert!(
        after_migration < fastest / 2,
        "{after_migration:?} per refusal once every hash is argon2, against {fastest:?}"
    );
}

async fn a_bcrypt_password_longer_than_72_bytes_is_kept_until_its_owner_chooses_a_new_one(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.register_user("long@example.com", "placeholder password")
        .await;
    let first_72 = "a long passphrase from the old days, longer than bcrypt ever read, the e";
    assert_eq!(first_72.len(), 72);
    let real = format!("{first_72}nd of it");
    let look_alike = format!("{first_72}xtra that differs");
    store_hash(&app, "long@example.com", &bcrypt::hash(&real, 4).unwrap()).await;

    // bcrypt read only 72 bytes, so the old service accepted the look-alike; so do we…
    assert_eq!(
        app.password_grant("long@example.com", &look_alike)
            .await
            .status(),
        200
    );
    // …but it is not stored in place of the owner's password, which still works.
    assert!(
        app.stored_hash("long@example.com")
            .await
            .starts_with("$2b$")
    );
    assert_eq!(
        app.password_grant("long@example.com", &real).await.status(),
        200
    );
    assert!(
        app.stored_hash("long@example.com")
            .await
            .starts_with("$2b$")
    );

    // The account page asks the owner to choose a new password…
    let browser = Browser::new(&app);
    let form = browser.get("/login").await;
    let signed_in = browser
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", "long@example.com"),
                ("password", &real),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("please choose a new password"),
        "{}",
        account.body
    );
    // …and a new one is argon2id, after which the page says nothing more.
    let token = app.access_token("long@example.com", &real).await;
    let changed = app
        .client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": real, "new_password": "a new and shorter one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert!(
        app.stored_hash("long@example.com")
            .await
            .starts_with("$argon2id$")
    );
    let form = browser.get("/login").await;
    browser
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", "long@example.com"),
                ("password", "a new and shorter one"),
            ],
        )
        .await;
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("long@example.com"),
        "{}",
        account.body
    );
    assert!(!account.body.contains("please choose a new password"));

    // A bcrypt password of 71 bytes is read whole, and upgraded as usual.
    app.register_user("short@example.com", "placeholder password")
        .await;
    let whole = &first_72[..71];
    store_hash(&app, "short@example.com", &bcrypt::hash(whole, 4).unwrap()).await;
    app.access_token("short@example.com", whole).await;
    assert!(
        app.stored_hash("short@example.com")
            .await
            .starts_with("$argon2id$")
    );
}

/// An argon2id PHC string of `PASSWORD` with the given memory and time costs.
fn argon2_hash(memory_kib: u32, iterations: u32) -> String {
    use argon2::password_hash::PasswordHasher as _;
    let params = argon2::Params::new(memory_kib, iterations, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string()
}

async fn hashes_costlier_than_the_bounds_are_refused_at_sign_in_without_being_computed(
    backend: Backend,
) {
    let app = spawn_app_with(backend, &CHEAP_ARGON2).await;
    app.register_user("slow@example.com", "placeholder password")
        .await;
    let sign_in = || async {
        tokio::time::timeout(
            Duration::from_secs(10),
            app.password_grant("slow@example.com", PASSWORD),
        )
        .await
        .expect("answered without computing the hash")
        .status()
    };

    // Cost 31 is days of a hashing thread; its salt and digest are those of a cheap hash.
    let cheap = bcrypt::hash(PASSWORD, 4).unwrap();
    store_hash(&app, "slow@example.com", &format!("$2b$31${}", &cheap[7..])).await;
    assert_eq!(sign_in().await, 400);
    // Four times the configured memory and work is within the margin…
    store_hash(&app, "slow@example.com", &argon2_hash(4096, 1)).await;
    assert_eq!(sign_in().await, 200);
    // …and the sign-in replaced it by a hash at the configured costs.
    let stored = app.stored_hash("slow@example.com").await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{stored}"
    );
    // Beyond the margin, even the right password is refused unchecked.
    store_hash(&app, "slow@example.com", &argon2_hash(8192, 1)).await;
    assert_eq!(sign_in().await, 400);
    store_hash(&app, "slow@example.com", &argon2_hash(1024, 5)).await;
    assert_eq!(sign_in().await, 400);
    let body: Value = app
        .password_grant("slow@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

async fn user_import_refuses_hashes_costlier_than_the_bounds(backend: Backend) {
    let app = spawn_app(backend).await;
    let cheap = bcrypt::hash(PASSWORD, 4).unwrap();
    let at_bound = format!("$2b$14${}", &cheap[7..]);
    let lines = [
        format!(r#"{{"email":"ok@example.com","name":"Ok","hashed_password":"{at_bound}"}}"#),
        format!(
            r#"{{"email":"b15@example.com","name":"B","hashed_password":"$2b$15${}"}}"#,
            &cheap[7..]
        ),
        format!(
            r#"{{"email":"b31@example.com","name":"B","hashed_password":"$2b$31${}"}}"#,
            &cheap[7..]
        ),
        // The import runs with the default argon2 costs (m=19456, t=2).
        format!(
            r#"{{"email":"argon@example.com","name":"A","hashed_password":"{}"}}"#,
            "$argon2id$v=19$m=2000000,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$c29tZWhhc2hzb21laGFzaHNvbWVoYXNoc29tZWhhc2g"
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let output = crate::cli::import(&app, &file);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(!output.status.success());
    assert!(
        stdout.contains("imported 1, already present 0, invalid 3"),
        "{stdout}"
    );
    for line in [
        "line 2: hashed_password: bcrypt cost 15 is above 14",
        "line 3: hashed_password: bcrypt cost 31 is above 14",
        "line 4: hashed_password: argon2 costs m=2000000, t=2 are more than 4 times",
    ] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert!(
        !stderr.contains(&cheap[7..]),
        "no hash is printed: {stderr}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_database_and_mail_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("data/db/gatehouse.db");
    let mail = dir.path().join("var/mail");
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            (
                "GATEHOUSE_DATABASE_URL",
                &format!("sqlite://{}", database.display()),
            ),
            ("GATEHOUSE_MAIL_DIR", &mail.display().to_string()),
        ],
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let reset = app
        .client
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 202);
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    // Written by the background sender: wait for both messages (verification, reset).
    let mut messages = Vec::new();
    for _ in 0..100 {
        messages = std::fs::read_dir(&mail)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        if messages.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(messages.len(), 2, "{messages:?}");

    for file in messages.iter().cloned().chain(
        ["gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm"]
            .map(|name| database.with_file_name(name)),
    ) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    for folder in ["data", "data/db", "var", "var/mail"] {
        assert_eq!(mode(&dir.path().join(folder)), 0o700, "{folder}");
    }
}
