//! HTTP basic auth against bcrypt hashes. bcrypt is slow on purpose, so it runs on a
//! blocking thread, one comparison at a time, and each verdict is cached by
//! (user, hash, password) digest as exporter-toolkit does. Successes and failures
//! are cached apart: a flood of wrong passwords can fill and flush only the failure
//! cache, so a scraper with the right password keeps its cached success and never
//! queues behind the flood.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Verdicts kept per cache before it is emptied (a flush costs a few bcrypt runs).
const CACHE_MAX: usize = 4096;

type Key = [u8; 32];

pub struct BasicAuth {
    ok: Mutex<HashSet<Key>>,
    bad: Mutex<HashSet<Key>>,
    /// One bcrypt at a time, as the toolkit's mutex: a flood takes one thread.
    bcrypt: Semaphore,
}

impl Default for BasicAuth {
    fn default() -> Self {
        Self {
            ok: Mutex::default(),
            bad: Mutex::default(),
            bcrypt: Semaphore::new(1),
        }
    }
}

fn lock(m: &Mutex<HashSet<Key>>) -> std::sync::MutexGuard<'_, HashSet<Key>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn remember(m: &Mutex<HashSet<Key>>, key: Key) {
    let mut set = lock(m);
    if set.len() >= CACHE_MAX {
        set.clear();
    }
    set.insert(key);
}

/// A hash compared against when the user is unknown, so an unknown user costs the
/// same time as a wrong password (the toolkit does the same).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| bcrypt::hash("not a password", 10).unwrap_or_default())
}

/// The user and password of an `Authorization: Basic` header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn key(user: &str, hash: &str, pass: &str) -> Key {
    let mut h = Sha256::new();
    for part in [user, hash, pass] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl BasicAuth {
    /// Whether the request's credentials match a user. The caller answers 401 on
    /// false without saying which part was wrong.
    pub async fn allows(&self, users: &BTreeMap<String, String>, headers: &HeaderMap) -> bool {
        let Some((user, pass)) = credentials(headers) else {
            return false;
        };
        let known = users.get(&user);
        let hash = known.map_or_else(|| dummy_hash().to_string(), Clone::clone);
        let k = key(&user, &hash, &pass);
        if lock(&self.ok).contains(&k) {
            return known.is_some();
        }
        if lock(&self.bad).contains(&k) {
            return false;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else {
            return false;
        };
        // A twin request may have decided while this one waited.
        if lock(&self.ok).contains(&k) {
            return known.is_some();
        }
        if lock(&self.bad).contains(&k) {
            return false;
        }
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let verdict = matched && known.is_some();
        remember(if verdict { &self.ok } else { &self.bad }, k);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[tokio::test]
    async fn right_password_passes_wrong_password_and_unknown_user_do_not() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = BTreeMap::from([("prom".to_string(), hash)]);
        let auth = BasicAuth::default();
        assert!(auth.allows(&users, &basic("prom", "s3cret")).await);
        assert!(
            auth.allows(&users, &basic("prom", "s3cret")).await,
            "cached"
        );
        assert!(!auth.allows(&users, &basic("prom", "wrong")).await);
        assert!(!auth.allows(&users, &basic("nobody", "s3cret")).await);
        assert!(!auth.allows(&users, &HeaderMap::new()).await);
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert!(!auth.allows(&users, &bearer).await);
        // A changed hash (the file was edited) is a new cache key: the old password fails.
        let users2 = BTreeMap::from([("prom".to_string(), bcrypt::hash("other", 4).unwrap())]);
        assert!(!auth.allows(&users2, &basic("prom", "s3cret")).await);
    }
}
