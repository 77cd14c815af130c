//! The benchmark's own measurements, for what `wrk` cannot do (see `examples/benchmark`).
//!
//! ```sh
//! # Ceilings on this machine's cores, in process, with the libraries Gatehouse signs and
//! # hashes with: RSA-2048 and P-256 signatures/s (OpenSSL), argon2id hashes/s.
//! cargo run --release --example loadgen -- ceilings --seconds 3
//! # What a second factor adds, in process on one core, with Gatehouse's own code: a TOTP
//! # code checked (the secret unsealed, the steps around now computed), and the QR code of
//! # an enrollment drawn as SVG; microseconds each.
//! cargo run --release --example loadgen -- second-factor --seconds 1
//! # The latency floor: a server that only answers `200 ok`, to run `rate` against.
//! cargo run --release --example loadgen -- serve --port 18099
//! # GETs at a fixed rate over keep-alive connections, latency counted from when each
//! # request was due (as wrk2 does), with percentiles.
//! cargo run --release --example loadgen -- rate http://127.0.0.1:8080/.well-known/jwks.json \
//!     --rate 2000 --seconds 10
//!
//! # Accounts seeded-<from>@example.com … seeded-<from+count-1>@example.com (password
//! # bench-password-123), each with one live session, written through Gatehouse's stores
//! # where the GATEHOUSE_* settings point (as `gatehouse serve` would read them).
//! cargo run --release --example loadgen -- seed --from 0 --count 100000
//! ```
//!
//! Results are printed as `key=value` lines, for scripts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use clap::{Parser, Subcommand};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use gatehouse::auth::mfa::sealed::SealingKey;
use gatehouse::auth::mfa::totp::TotpSecret;
use gatehouse::domain::UserId;

/// Seconds per run of `op`, run on this thread for `seconds`.
fn per_op(seconds: Duration, mut op: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < seconds {
        op();
        runs += 1;
    }
    started.elapsed().as_secs_f64() / runs as f64
}

#[derive(Parser)]
#[command(about = "Gatehouse benchmark measurements")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signatures and password hashes per second on every core.
    Ceilings {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Threads; all cores by default.
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, default_value_t = 19456)]
        argon2_memory_kib: u32,
        #[arg(long, default_value_t = 2)]
        argon2_iterations: u32,
        #[arg(long, default_value_t = 1)]
        argon2_parallelism: u32,
    },
    /// A TOTP check and an enrollment's QR code, in microseconds on one core.
    SecondFactor {
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Answer every request on 127.0.0.1:`port` with 200 and two bytes, from one thread:
    /// the latency floor of this machine and of `rate` itself, to read the others against.
    Serve {
        #[arg(long)]
        port: u16,
    },
    /// Accounts with one session each, for measuring how cost grows with the store.
    Seed {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        count: u64,
        /// Writes in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// GET `url` at a fixed rate and report latency percentiles.
    Rate {
        url: String,
        /// Requests per second.
        #[arg(long)]
        rate: u32,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Requests in the first second are sent but not counted (connections warm up).
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Keep-alive connections, each sending its share of the requests in turn.
        #[arg(long, default_value_t = 32)]
        connections: u32,
        /// `name: value`, repeatable.
        #[arg(long = "header")]
        headers: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ceilings {
            seconds,
            threads,
            argon2_memory_kib,
            argon2_iterations,
            argon2_parallelism,
        } => {
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            let seconds = Duration::from_secs_f64(seconds);
            let rsa = PKey::from_rsa(Rsa::generate(2048)?)?;
            let p256 = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            let ec = PKey::from_ec_key(EcKey::generate(&p256)?)?;
            let params = Params::new(
                argon2_memory_kib,
                argon2_iterations,
                argon2_parallelism,
                None,
            )
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
            println!("threads={threads}");
            let rate = on_threads(threads, seconds, || signer(&rsa));
            println!("rsa2048_signatures_per_s={rate:.0}");
            let rate = on_threads(threads, seconds, || signer(&ec));
            println!("p256_signatures_per_s={rate:.0}");
            let rate = on_threads(threads, seconds, || hasher(&params));
            println!("argon2id_hashes_per_s={rate:.1}");
            Ok(())
        }
        Command::SecondFactor { seconds } => {
            let seconds = Duration::from_secs_f64(seconds);
            let key =
                SealingKey::parse(&SealingKey::generate_text()).map_err(anyhow::Error::msg)?;
            let owner = UserId::generate();
            let secret = TotpSecret::generate();
            let sealed = key.seal(owner, secret.as_bytes());
            let now = gatehouse::clock::Clock::now(&gatehouse::clock::SystemClock);
            let code = secret.code_at(now);
            let per_check = per_op(seconds, || {
                let opened = TotpSecret::from_bytes(key.open(owner, &sealed).expect("opens"));
                assert!(opened.check(&code, now, None).is_some());
            });
            println!("totp_check_us={:.2}", per_check * 1e6);
            let uri =
                secret.otpauth_uri("someone.with.a.long.address@example.com", "id.example.com");
            let per_qr = per_op(seconds, || {
                let svg = gatehouse::http::qr::svg(&uri).expect("fits a QR code");
                assert!(svg.starts_with("<svg"));
            });
            let per_crate_qr = per_op(seconds, || {
                let svg = qrcode::QrCode::new(uri.as_bytes())
                    .expect("fits a QR code")
                    .render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .build();
                assert!(svg.starts_with("<?xml"));
            });
            println!("qr_svg_crate_us={:.1}", per_crate_qr * 1e6);
            println!("qr_svg_us={:.1}", per_qr * 1e6);
            Ok(())
        }
        Command::Serve { port } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(serve(port)),
        Command::Seed {
            from,
            count,
            concurrency,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(seed(from, count, concurrency)),
        Command::Rate {
            url,
            rate,
            seconds,
            warmup,
            connections,
            headers,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fixed_rate(url, rate, seconds, warmup, connections, headers)),
    }
}

/// What a JWT's signing input looks like: a header and a claims set, base64url-encoded.
const SIGNING_INPUT: &[u8] = &[b'e'; 600];

fn signer(key: &PKey<Private>) -> impl FnMut() + use<> {
    let key = key.clone();
    move || {
        let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("signer");
        signer.update(SIGNING_INPUT).expect("sign");
        std::hint::black_box(signer.sign_to_vec().expect("sign"));
    }
}

fn hasher(params: &Params) -> impl FnMut() + use<> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut blocks = vec![Block::default(); params.block_count()];
    move || {
        let mut out = [0u8; 32];
        argon2
            .hash_password_into_with_memory(
                b"bench-password-123",
                b"saltsaltsaltsalt",
                &mut out,
                &mut blocks,
            )
            .expect("argon2");
        std::hint::black_box(out);
    }
}

/// Runs the operation `make` builds on `threads` threads for `duration`; operations per second.
fn on_threads<F: FnMut() + Send>(
    threads: usize,
    duration: Duration,
    make: impl Fn() -> F + Sync,
) -> f64 {
    let done = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut operation = make();
                let mut count = 0;
                while started.elapsed() < duration {
                    operation();
                    count += 1;
                }
                done.fetch_add(count, Ordering::Relaxed);
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// wrk2's model: `connections` keep-alive connections, connection `k` owning the send
/// times `start + (k + j·connections) / rate`. A connection still waiting for an answer
/// sends late, and then the latency counts from the time the request was due, so a slow
/// answer shows in the percentiles instead of quietly lowering the rate.
async fn fixed_rate(
    url: String,
    rate: u32,
    seconds: f64,
    warmup: f64,
    connections: u32,
    headers: Vec<String>,
) -> anyhow::Result<()> {
    let url = url::Url::parse(&url)?;
    anyhow::ensure!(url.scheme() == "http", "only http:// URLs");
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let mut request = format!(
        "GET {} HTTP/1.1\r\nhost: {host}:{port}\r\n",
        &url[url::Position::BeforePath..]
    );
    for header in &headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--header wants `name: value`, got {header:?}"))?;
        request.push_str(&format!("{}: {}\r\n", name.trim(), value.trim()));
    }
    request.push_str("\r\n");
    let request: Arc<[u8]> = request.into_bytes().into();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = ((warmup + seconds) * f64::from(rate)) as u64;
    let counted_from = (warmup * f64::from(rate)) as u64;
    let started = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for k in 0..u64::from(connections.max(1)) {
        let request = request.clone();
        let address = (host.clone(), port);
        let step = u64::from(connections.max(1));
        tasks.push(tokio::spawn(async move {
            let mut stream = BufReader::new(TcpStream::connect(address).await?);
            stream.get_ref().set_nodelay(true)?;
            let mut latencies = Vec::new();
            let mut slot = k;
            let mut free_since = started;
            while slot < total {
                let due = started + interval * slot as u32;
                tokio::time::sleep_until(due).await;
                // Late because the last answer was: count from when this one was due. Late
                // because the timer woke up late (its tick is 1 ms): count from now.
                let from = if free_since > due {
                    due
                } else {
                    tokio::time::Instant::now()
                };
                stream.get_mut().write_all(&request).await?;
                read_response(&mut stream).await?;
                free_since = tokio::time::Instant::now();
                if slot >= counted_from {
                    latencies.push((free_since - from).as_micros() as u32);
                }
                slot += step;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity((total - counted_from) as usize);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64() - warmup;
    latencies.sort_unstable();
    let at = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    println!("requests={}", latencies.len());
    println!("rate_per_s={:.0}", latencies.len() as f64 / elapsed);
    println!("p50_ms={:.3}", at(0.50));
    println!("p90_ms={:.3}", at(0.90));
    println!("p99_ms={:.3}", at(0.99));
    println!("max_ms={:.3}", at(1.0));
    Ok(())
}

async fn serve(port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            loop {
                line.clear();
                match stream.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => {
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.get_mut().write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                }
            }
        });
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body; anything but 200 is an error.
async fn read_response(stream: &mut BufReader<TcpStream>) -> anyhow::Result<()> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    anyhow::ensure!(line.starts_with("HTTP/1.1 200"), "answer: {}", line.trim());
    let mut length = 0;
    loop {
        line.clear();
        anyhow::ensure!(stream.read_line(&mut line).await? > 0, "connection closed");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(())
}

/// Writes `count` accounts, each with one session, through Gatehouse's own stores (SQL for
/// accounts; Redis or SQL for sessions, as configured), `concurrency` at a time.
async fn seed(from: u64, count: u64, concurrency: usize) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use gatehouse::auth::PasswordHasher;
    use gatehouse::domain::{
        Email, NewUser, Password, Profile, Scopes, Secret, Session, SessionId, UserName,
    };
    use gatehouse::store::{Database, SessionStore, UserStore, redis::RedisSessions};
    use gatehouse::token::TokenHash;

    let raw = gatehouse::config::RawSettings::from_environment()?;
    let config = gatehouse::Config::from_raw(&raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = &config.store;
    let db = Database::connect(store.database_url.expose(), 8).await?;
    db.migrate().await?;
    let sessions: Arc<dyn SessionStore> = match &store.redis_url {
        Some(url) => Arc::new(RedisSessions::connect(
            url.expose(),
            &store.redis_key_prefix,
            config.tokens.refresh_token_idle_ttl,
        )?),
        None => Arc::new(db.clone()),
    };
    // One hash for every account: seeding measures the store, not argon2.
    let hasher = PasswordHasher::new(config.passwords.argon2, 1)?;
    let hash = hasher
        .hash(&Password::parse("bench-password-123").map_err(anyhow::Error::msg)?)
        .await?;
    let started = Instant::now();
    let now = gatehouse::clock::Clock::now(&gatehouse::clock::SystemClock);
    let name = UserName::parse("Seeded").map_err(anyhow::Error::msg)?;
    let scope = Scopes::parse("openid").map_err(anyhow::Error::msg)?;
    let written = futures_util::stream::iter(from..from + count)
        .map(|i| {
            let (db, sessions, hash) = (&db, &sessions, &hash);
            let (name, scope) = (name.clone(), scope.clone());
            async move {
                let email =
                    Email::parse(&format!("seeded-{i}@example.com")).map_err(anyhow::Error::msg)?;
                let user = db
                    .create_user(&NewUser {
                        id: UserId::generate(),
                        email,
                        name,
                        password_hash: Secret::new(hash.expose().clone()),
                        roles: Vec::new(),
                        email_verified: true,
                        profile: Profile::default(),
                        created_at: now,
                        legacy_id: None,
                    })
                    .await?;
                let session = Session {
                    id: SessionId::generate(),
                    user_id: user.id,
                    client_id: "seeded".into(),
                    scope,
                    created_at: now,
                    last_used_at: now,
                    absolute_expires_at: now + config.tokens.refresh_token_max_ttl,
                    idle_expires_at: now + config.tokens.refresh_token_idle_ttl,
                    auth_time: now,
                    amr: vec!["pwd".into()],
                    ip: None,
                    user_agent: None,
                };
                let mut refresh = TokenHash([0; 16]);
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut refresh.0);
                sessions.create_session(&session, refresh).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .fold(Ok::<u64, anyhow::Error>(0), |n, r| async move {
            Ok(n? + r.map(|()| 1)?)
        })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!("seeded={written}");
    println!("seeded_per_s={:.0}", written as f64 / seconds);
    Ok(())
}
