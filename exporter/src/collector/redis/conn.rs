//! One Redis target: its address, credentials, and a reused connection with a deadline
//! on connect and on every command. Reusable by other Redis-backed collectors (Celery).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use config_values::Secret;
use redis::aio::MultiplexedConnection;

/// Who we are to Redis. The password is a [`Secret`]: no `Debug` of a target or a
/// config shows it; it is exposed only in [`Target::connection_info`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// A validated target. `display` is the address without credentials.
#[derive(Clone, Debug)]
pub struct Target {
    /// Normalized address, for matching `/scrape?target=` against configured targets.
    pub key: String,
    pub display: String,
    pub labels: BTreeMap<String, String>,
    url: url::Url,
    creds: Credentials,
}

impl Target {
    /// Parses `redis://host:port[/db]`, `rediss://…` or `unix:///path`; a bare
    /// `host:port` means `redis://host:port`. Passwords in the address are refused.
    pub fn parse(
        addr: &str,
        labels: BTreeMap<String, String>,
        creds: Credentials,
    ) -> Result<Target, String> {
        let with_scheme = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("redis://{addr}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| {
            format!("{addr:?}: not a Redis address ({e}); expected redis://host:port")
        })?;
        match url.scheme() {
            "redis" | "rediss" | "unix" | "redis+unix" => {}
            other => {
                return Err(format!(
                    "{addr:?}: unsupported scheme {other:?}; expected redis://, rediss:// or unix://"
                ));
            }
        }
        if url.password().is_some() {
            return Err(format!(
                "{}: a password in the address is not accepted; use --redis.password-file or $REDIS_PASSWORD",
                redact(&url)
            ));
        }
        if url.scheme().starts_with("redis")
            && !url.scheme().contains("unix")
            && url.host_str().is_none()
        {
            return Err(format!("{addr:?}: no host"));
        }
        Ok(Target {
            key: Self::normalize(addr).unwrap_or_else(|| redact(&url)),
            display: redact(&url),
            labels,
            url,
            creds,
        })
    }

    /// The canonical form of an address (scheme, host, port, path), for comparison.
    pub fn normalize(addr: &str) -> Option<String> {
        let with_scheme = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("redis://{addr}")
        };
        let u = url::Url::parse(&with_scheme).ok()?;
        let port = u.port().map_or_else(
            || {
                if u.scheme().contains("unix") {
                    String::new()
                } else {
                    ":6379".into()
                }
            },
            |p| format!(":{p}"),
        );
        let host = u.host_str().unwrap_or("").to_ascii_lowercase();
        let host = if host == "localhost" {
            "127.0.0.1".to_string()
        } else {
            host
        };
        let path = if u.path() == "/" { "" } else { u.path() };
        Some(format!("{}://{host}{port}{path}", u.scheme()))
    }

    /// How the client connects: the credential-free address, with the credentials as
    /// separate fields, so the password is never part of a URL or any other string that
    /// could reach a log (redis-rs redacts it in `Debug`).
    fn connection_info(&self) -> redis::RedisResult<redis::ConnectionInfo> {
        use redis::IntoConnectionInfo as _;
        let info = self.url.clone().into_connection_info()?;
        let mut settings = info.redis_settings().clone();
        if let Some(user) = &self.creds.user {
            settings = settings.set_username(user);
        }
        if let Some(pw) = &self.creds.password {
            settings = settings.set_password(pw.expose());
        }
        Ok(info.set_redis_settings(settings))
    }

    fn redis_client(&self) -> redis::RedisResult<redis::Client> {
        redis::Client::open(self.connection_info()?)
    }
}

fn redact(u: &url::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_password(None);
    u.to_string()
}

/// Why talking to Redis failed, as the `reason` label and the log say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    Refused,
    Timeout,
    Auth,
    Tls,
    Dns,
    Io,
    Protocol,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Auth => "auth",
            ErrorKind::Tls => "tls",
            ErrorKind::Dns => "dns",
            ErrorKind::Io => "io",
            ErrorKind::Protocol => "protocol",
        }
    }

    fn classify(e: &redis::RedisError) -> ErrorKind {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if text.contains("NOAUTH") || text.contains("WRONGPASS") || lower.contains("authentication")
        {
            ErrorKind::Auth
        } else if e.is_connection_refusal() || lower.contains("connection refused") {
            ErrorKind::Refused
        } else if e.is_timeout() || lower.contains("timed out") {
            ErrorKind::Timeout
        } else if lower.contains("tls")
            || lower.contains("certificate")
            || lower.contains("handshake")
        {
            ErrorKind::Tls
        } else if lower.contains("failed to lookup")
            || lower.contains("name or service")
            || lower.contains("dns")
        {
            ErrorKind::Dns
        } else if e.is_io_error() {
            ErrorKind::Io
        } else {
            ErrorKind::Protocol
        }
    }
}

/// A failed scrape of one target: the cause and the server's or OS's words.
#[derive(Clone, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub target: String,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redis {}: {}: {}",
            self.target,
            self.kind.as_str(),
            self.message
        )
    }
}

/// What one scrape read.
pub struct Snapshot {
    pub info: String,
    pub databases: u32,
    /// `CONFIG GET io-threads`, when CONFIG answers.
    pub io_threads: Option<f64>,
    pub slowlog_len: f64,
    pub slowlog_last_id: f64,
    pub slowlog_last_duration: f64,
    pub ping: Duration,
    /// Set when this scrape had to (re)connect.
    pub connect: Option<Duration>,
    pub keys: Vec<(u32, String, f64)>,
}

pub struct Client {
    pub target: Target,
    connect_timeout: Duration,
    command_timeout: Duration,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    scrapes: AtomicU64,
    /// `CONFIG GET databases`, read once per connection (0: not read yet).
    databases: std::sync::atomic::AtomicU32,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// The last error logged, so a Redis that stays down is logged once, not per scrape.
    last_logged: Mutex<Option<String>>,
}

impl Client {
    pub fn new(target: Target, connect_timeout: Duration, command_timeout: Duration) -> Self {
        Self {
            target,
            connect_timeout,
            command_timeout,
            conn: tokio::sync::Mutex::new(None),
            scrapes: AtomicU64::new(0),
            databases: std::sync::atomic::AtomicU32::new(0),
            errors: Mutex::new(BTreeMap::new()),
            last_logged: Mutex::new(None),
        }
    }

    pub fn scrapes(&self) -> u64 {
        self.scrapes.load(Ordering::Relaxed)
    }

    pub fn error_counts(&self) -> Vec<(&'static str, u64)> {
        lock(&self.errors).iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn fail(&self, kind: ErrorKind, message: String) -> Error {
        Error {
            kind,
            target: self.target.display.clone(),
            message,
        }
    }

    /// A Redis error as this target's [`Error`] (address without credentials).
    pub fn error_of(&self, e: &redis::RedisError) -> Error {
        self.fail(ErrorKind::classify(e), e.to_string())
    }

    /// A new blocking connection of its own, with the connect deadline, for a pub/sub
    /// subscriber. Blocking on purpose: messages are taken off the socket only as fast as
    /// they are handled, so a burst waits in Redis (bounded there by
    /// `client-output-buffer-limit pubsub`, which disconnects a subscriber that falls too far
    /// behind) and never in our memory; redis-rs's async pub/sub reads into an unbounded
    /// channel.
    pub fn blocking_connection(&self) -> Result<redis::Connection, Error> {
        let client = self.target.redis_client().map_err(|e| self.error_of(&e))?;
        client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(|e| self.error_of(&e))
    }

    /// A connection, reused or new, with the connect deadline.
    pub async fn connection(&self) -> Result<(MultiplexedConnection, Option<Duration>), Error> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok((c.clone(), None));
        }
        let start = Instant::now();
        let client = self.target.redis_client().map_err(|e| self.error_of(&e))?;
        // redis-rs 1.x gives each async connection its own 500 ms response and 1 s
        // connect timeouts, which would silently cap ours: the deadlines here are the
        // only ones.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        let c = match tokio::time::timeout(
            self.connect_timeout,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Err(_) => {
                return Err(self.fail(
                    ErrorKind::Timeout,
                    format!("no connection within {:?}", self.connect_timeout),
                ));
            }
            Ok(Err(e)) => return Err(self.fail(ErrorKind::classify(&e), e.to_string())),
            Ok(Ok(c)) => c,
        };
        *guard = Some(c.clone());
        self.databases.store(0, Ordering::Relaxed);
        Ok((c, Some(start.elapsed())))
    }

    /// Runs `cmd` with the command deadline; any failure drops the connection.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
        cmd: &redis::Cmd,
    ) -> Result<T, Error> {
        self.with_deadline(cmd.query_async::<T>(conn)).await
    }

    /// Runs a pipeline with the command deadline; any failure drops the connection.
    pub async fn run_pipeline<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
        pipe: &redis::Pipeline,
    ) -> Result<T, Error> {
        self.with_deadline(pipe.query_async::<T>(conn)).await
    }

    /// Awaits a Redis call under the command deadline; a timeout or an error drops the
    /// connection, so the next call reconnects.
    async fn with_deadline<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.command_timeout, call).await {
            Err(_) => {
                self.drop_connection().await;
                Err(self.fail(
                    ErrorKind::Timeout,
                    format!("no reply within {:?}", self.command_timeout),
                ))
            }
            Ok(Err(e)) => {
                self.drop_connection().await;
                Err(self.fail(ErrorKind::classify(&e), e.to_string()))
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    async fn drop_connection(&self) {
        *self.conn.lock().await = None;
    }

    /// PING, then one pipeline: INFO ALL, SLOWLOG LEN and SLOWLOG GET 1 (plus CONFIG
    /// GET databases once per connection, and configured keys).
    pub async fn scrape(&self, check_keys: &[(u32, String)]) -> Result<Snapshot, Error> {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        let had_connection = self.conn.lock().await.is_some();
        let mut result = self.scrape_inner(check_keys).await;
        // A reused connection that broke (Redis restarted, or went away) is retried once
        // on a fresh one, so the scrape reports the real state: up again, or refused.
        if had_connection
            && matches!(&result, Err(e) if matches!(e.kind, ErrorKind::Io | ErrorKind::Protocol))
        {
            result = self.scrape_inner(check_keys).await;
        }
        match &result {
            Ok(_) => {
                if lock(&self.last_logged).take().is_some() {
                    tracing::info!(target = %self.target.display, "redis reachable again");
                }
            }
            Err(e) => {
                *lock(&self.errors).entry(e.kind.as_str()).or_default() += 1;
                let mut l = lock(&self.last_logged);
                let text = e.to_string();
                if l.as_deref() != Some(text.as_str()) {
                    tracing::warn!(target = %self.target.display, reason = e.kind.as_str(), "{text}");
                    *l = Some(text);
                }
            }
        }
        result
    }

    async fn scrape_inner(&self, check_keys: &[(u32, String)]) -> Result<Snapshot, Error> {
        let (mut conn, connect) = self.connection().await?;
        let t = Instant::now();
        let _: String = self.query(&mut conn, &redis::cmd("PING")).await?;
        let ping = t.elapsed();
        let mut pipe = redis::pipe();
        pipe.cmd("INFO").arg("ALL");
        pipe.cmd("SLOWLOG").arg("LEN");
        pipe.cmd("SLOWLOG").arg("GET").arg(1);
        let (info, slowlog_len, slowlog): (String, f64, Vec<redis::Value>) =
            self.run_pipeline(&mut conn, &pipe).await?;
        // CONFIG may be renamed or denied (managed Redis): fall back to Redis's default.
        let databases = self
            .config_get(&mut conn, "databases")
            .await
            .and_then(|n| n.parse().ok())
            .unwrap_or(16);
        let io_threads = self
            .config_get(&mut conn, "io-threads")
            .await
            .and_then(|n| n.parse().ok());
        let (slowlog_last_id, slowlog_last_duration) = match slowlog.first() {
            Some(redis::Value::Array(entry)) => {
                let id = entry.first().and_then(as_f64).unwrap_or(0.0);
                let usec = entry.get(2).and_then(as_f64).unwrap_or(0.0);
                (id, usec / 1e6)
            }
            _ => (0.0, 0.0),
        };
        let keys = self.key_sizes(&mut conn, check_keys).await?;
        Ok(Snapshot {
            info,
            databases,
            io_threads,
            slowlog_len,
            slowlog_last_id,
            slowlog_last_duration,
            ping,
            connect,
            keys,
        })
    }

    /// One `CONFIG GET` value; `None` when CONFIG is denied, renamed or slow. One
    /// parameter per call: several in one CONFIG GET needs Redis 7.
    async fn config_get(&self, conn: &mut MultiplexedConnection, param: &str) -> Option<String> {
        match tokio::time::timeout(
            self.command_timeout,
            redis::cmd("CONFIG")
                .arg("GET")
                .arg(param)
                .query_async::<Vec<String>>(conn),
        )
        .await
        {
            Ok(Ok(mut v)) if v.len() >= 2 => Some(v.swap_remove(1)),
            _ => None,
        }
    }

    /// Length of each configured key, by type, in one pipeline per database.
    async fn key_sizes(
        &self,
        conn: &mut MultiplexedConnection,
        keys: &[(u32, String)],
    ) -> Result<Vec<(u32, String, f64)>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut by_db: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for (db, k) in keys {
            by_db.entry(*db).or_default().push(k);
        }
        for (db, names) in by_db {
            let mut pipe = redis::pipe();
            pipe.cmd("SELECT").arg(db).ignore();
            for k in &names {
                pipe.cmd("TYPE").arg(*k);
            }
            pipe.cmd("SELECT").arg(0).ignore();
            let types: Vec<String> = self.run_pipeline(conn, &pipe).await?;
            let mut pipe = redis::pipe();
            pipe.cmd("SELECT").arg(db).ignore();
            let mut present = Vec::new();
            for (k, ty) in names.iter().zip(&types) {
                let cmd = match ty.as_str() {
                    "string" => "STRLEN",
                    "list" => "LLEN",
                    "set" => "SCARD",
                    "zset" => "ZCARD",
                    "hash" => "HLEN",
                    "stream" => "XLEN",
                    _ => continue,
                };
                pipe.cmd(cmd).arg(*k);
                present.push(*k);
            }
            pipe.cmd("SELECT").arg(0).ignore();
            let sizes: Vec<f64> = self.run_pipeline(conn, &pipe).await?;
            out.extend(
                present
                    .into_iter()
                    .zip(sizes)
                    .map(|(k, n)| (db, k.to_string(), n)),
            );
        }
        Ok(out)
    }
}

fn as_f64(v: &redis::Value) -> Option<f64> {
    match v {
        redis::Value::Int(i) => Some(*i as f64),
        redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        redis::Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A lock that a panic elsewhere does not take away: error counts and the last logged
/// error stay usable (a poisoned lock used to silently stop both).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize_and_passwords_are_refused() {
        assert_eq!(
            Target::normalize("localhost:6379").as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(
            Target::normalize("redis://127.0.0.1").as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        let e = Target::parse(
            "redis://:hunter2@db:6379",
            BTreeMap::new(),
            Credentials::default(),
        )
        .expect_err("inline password");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("--redis.password-file"), "{e}");
        assert!(Target::parse("http://x", BTreeMap::new(), Credentials::default()).is_err());
        let creds = Credentials {
            user: None,
            password: Some(Secret::new("s3cret")),
        };
        let t = Target::parse("db:6380", BTreeMap::new(), creds).expect("valid");
        assert_eq!(t.display, "redis://db:6380");
        assert!(!format!("{t:?}").contains("s3cret"));
        let info = t.connection_info().expect("connection info");
        assert_eq!(info.redis_settings().password(), Some("s3cret"));
        assert!(!format!("{info:?}").contains("s3cret"), "{info:?}");
    }
}
