//! Silences: what the v2 API accepts and shows (Alertmanager's JSON, field for field),
//! the rules for creating, updating and expiring them (alertmanager silence.go 0.25 and
//! the checks of api/v2 postSilencesHandler, with their error texts), and muting.
//!
//! State owned: every silence (also expired ones, until `retention` after their end),
//! kept in memory and in the data directory's `silences` log. A change is on disk
//! (fsync) before [`Silences::set`] or [`Silences::expire`] returns: a silence the API
//! acknowledged survives a crash. If the disk refuses the write, the change is undone
//! in memory too and the caller gets [`SilenceError::NotSaved`]: what the API
//! answered is what a restart has, and a retry does not make a duplicate.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::labels::{LabelSet, MatchType, Matcher, Matchers, valid_label_name};
use crate::mute::Muter;
use crate::store::stats::MaintenanceStats;
use crate::store::{self, Health, Log, Recovery};
use crate::sync::{lock, read, write};

/// The file in the data directory.
pub const LOG_NAME: &str = "silences";

/// `status.state` (types.SilenceState). Declared in the order the API lists them.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    #[default]
    Expired,
}

impl SilenceState {
    pub const ALL: [SilenceState; 3] = [
        SilenceState::Active,
        SilenceState::Pending,
        SilenceState::Expired,
    ];

    /// Alertmanager's `CalcSilenceState`: active from `starts_at` up to, not
    /// including, `ends_at`, so an expired silence reads `expired` at once.
    pub fn at(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now < starts_at {
            SilenceState::Pending
        } else if now < ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
            SilenceState::Expired => "expired",
        }
    }
}

impl fmt::Display for SilenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// A silence matcher as the API shows it (fields in Alertmanager's output order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub is_equal: bool,
    pub is_regex: bool,
    pub name: String,
    pub value: String,
}

impl SilenceMatcher {
    pub fn match_type(&self) -> MatchType {
        match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        }
    }

    /// Checks and compiles it (silence.go `ValidateMatcher`, with its texts).
    fn compile(&self) -> Result<Matcher, String> {
        if !valid_label_name(&self.name) {
            return Err(format!("invalid label name {:?}", self.name));
        }
        Matcher::new(&self.name, self.match_type(), &self.value)
    }

    /// silence.go `matchesEmpty`: only `=` and `=~` count; a negative matcher
    /// never makes a silence "match everything".
    fn matches_empty(&self, compiled: &Matcher) -> bool {
        match self.match_type() {
            MatchType::Equal => self.value.is_empty(),
            MatchType::Regexp => compiled.matches_value(""),
            _ => false,
        }
    }
}

impl From<&Matcher> for SilenceMatcher {
    fn from(m: &Matcher) -> Self {
        SilenceMatcher {
            is_equal: m.is_equal(),
            is_regex: m.is_regex(),
            name: m.name.clone(),
            value: m.value.clone(),
        }
    }
}

/// A stored silence, serialized exactly as `GET /api/v2/silence/{id}` shows it.
/// `status` is computed from the clock whenever a silence is handed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub comment: String,
    pub created_by: String,
    #[serde(with = "crate::timefmt::millis")]
    pub ends_at: DateTime<Utc>,
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    #[serde(with = "crate::timefmt::millis")]
    pub starts_at: DateTime<Utc>,
    #[serde(default)]
    pub status: SilenceStatus,
    #[serde(with = "crate::timefmt::millis")]
    pub updated_at: DateTime<Utc>,
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        SilenceState::at(self.starts_at, self.ends_at, now)
    }
}

/// The body of `POST /api/v2/silences`. Every field is optional here so that a
/// missing one gets Alertmanager's answer (`createdBy in body is required`) from
/// [`Silences::set`] instead of a serde message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    /// Set: update (or replace) that silence. Empty means new, as in Alertmanager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub matchers: Option<Vec<PostableMatcher>>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// One posted matcher; `isEqual` defaults to true (openapi.yaml).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableMatcher {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub is_regex: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_equal: Option<bool>,
}

impl PostableSilence {
    /// A new silence over `matchers` (a convenience for callers and tests).
    pub fn new(
        matchers: &Matchers,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        created_by: &str,
        comment: &str,
    ) -> PostableSilence {
        PostableSilence {
            id: None,
            matchers: Some(
                matchers
                    .0
                    .iter()
                    .map(|m| PostableMatcher {
                        name: Some(m.name.clone()),
                        value: Some(m.value.clone()),
                        is_regex: Some(m.is_regex()),
                        is_equal: Some(m.is_equal()),
                    })
                    .collect(),
            ),
            starts_at: Some(starts_at),
            ends_at: Some(ends_at),
            created_by: Some(created_by.to_string()),
            comment: Some(comment.to_string()),
        }
    }
}

impl From<&Silence> for PostableSilence {
    /// The body a client such as amtool sends back to edit a silence.
    fn from(s: &Silence) -> Self {
        PostableSilence {
            id: Some(s.id.clone()),
            matchers: Some(
                s.matchers
                    .iter()
                    .map(|m| PostableMatcher {
                        name: Some(m.name.clone()),
                        value: Some(m.value.clone()),
                        is_regex: Some(m.is_regex),
                        is_equal: Some(m.is_equal),
                    })
                    .collect(),
            ),
            starts_at: Some(s.starts_at),
            ends_at: Some(s.ends_at),
            created_by: Some(s.created_by.clone()),
            comment: Some(s.comment.clone()),
        }
    }
}

/// Why a change was refused. The API maps them to Alertmanager's statuses:
/// `Missing` 422 (`{"code":602,"message":...}`), `Invalid` 400, `NotFound` 404
/// (0.25 answers a DELETE of an unknown id with 500 and this text; HEAD with 404),
/// `NotSaved` 500.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// A required field is absent (go-swagger's body validation).
    #[error("{0} in body is required")]
    Missing(String),
    /// Refused, with Alertmanager's text.
    #[error("{0}")]
    Invalid(String),
    #[error("silence not found")]
    NotFound,
    /// The change did not reach the disk (full, read-only), so it was undone: not
    /// in effect. The caller may retry once the data directory takes writes.
    #[error(
        "silence {id} could not be saved to the data directory, so the change was not made: {reason}; retry once it accepts writes"
    )]
    NotSaved { id: String, reason: String },
}

/// Silences by state, for the `alertmanager_silences{state}` gauge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub active: usize,
    pub pending: usize,
    pub expired: usize,
}

impl StateCounts {
    pub fn get(&self, s: SilenceState) -> usize {
        match s {
            SilenceState::Active => self.active,
            SilenceState::Pending => self.pending,
            SilenceState::Expired => self.expired,
        }
    }
}

#[derive(Clone)]
struct Entry {
    silence: Silence,
    compiled: Matchers,
}

pub struct Silences {
    clock: Clock,
    retention: chrono::Duration,
    map: RwLock<HashMap<String, Entry>>,
    /// Held for a whole change (memory, then log), so the log's order is memory's.
    writer: Mutex<()>,
    log: Option<Log<Silence>>,
    recovery: Recovery,
    stats: Arc<MaintenanceStats>,
}

impl Silences {
    /// Silences kept in memory only (tests, and callers without a data directory).
    pub fn new(clock: Clock, retention: Duration) -> Silences {
        Silences {
            clock,
            retention: chrono::Duration::from_std(retention).unwrap_or(chrono::TimeDelta::MAX),
            map: RwLock::new(HashMap::new()),
            writer: Mutex::new(()),
            log: None,
            recovery: Recovery::default(),
            stats: Arc::default(),
        }
    }

    /// Loads `dir/silences` (created if missing) and drops what is past retention.
    /// A torn or unreadable file is not fatal; see [`Silences::recovery`].
    pub fn open(dir: &Path, clock: Clock, retention: Duration) -> Result<Silences, String> {
        let (log, live, recovery) =
            Log::<Silence>::open(dir, LOG_NAME).map_err(|e| e.to_string())?;
        let mut s = Silences::new(clock, retention);
        let mut map = HashMap::with_capacity(live.len());
        for (id, silence) in live {
            match compile_all(&silence.matchers) {
                Ok(compiled) => {
                    map.insert(id, Entry { silence, compiled });
                }
                Err(e) => tracing::warn!(
                    file = %log.path().display(),
                    silence = %id,
                    "dropping a stored silence whose matchers no longer compile: {e}"
                ),
            }
        }
        s.map = RwLock::new(map);
        s.log = Some(log.report_with(report).with_stats(s.stats.clone()));
        s.recovery = recovery;
        s.gc();
        Ok(s)
    }

    /// What opening the data file found (dropped torn lines, a file set aside).
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Its queries, GC and snapshots, for Alertmanager's `alertmanager_silences_*`.
    pub fn maintenance(&self) -> Arc<MaintenanceStats> {
        self.stats.clone()
    }

    /// Failed writes to the data directory so far (a metric).
    pub fn errors(&self) -> u64 {
        self.log.as_ref().map_or(0, Log::errors)
    }

    /// Creates or updates a silence and returns its id. Alertmanager's rules: an
    /// existing silence is changed in place only when its matchers are the same and
    /// the change keeps its history honest (silence.go `canUpdate`); otherwise it is
    /// expired and the change becomes a new silence with a new id.
    pub fn set(&self, p: PostableSilence) -> Result<String, SilenceError> {
        let now = millis_floor(self.clock.now());
        let cand = candidate(p, now)?;
        let _w = lock(&self.writer);
        let mut map = write(&self.map);
        let prev = match cand.id.as_deref() {
            Some(id) => Some(map.get(id).ok_or(SilenceError::NotFound)?),
            None => None,
        };
        let mut writes: Vec<Silence> = Vec::with_capacity(2);
        let mut new = Silence {
            comment: cand.comment,
            created_by: cand.created_by,
            ends_at: cand.ends_at,
            id: String::new(),
            matchers: cand.matchers,
            starts_at: cand.starts_at,
            status: SilenceStatus::default(),
            updated_at: now,
        };
        match prev {
            Some(prev) if can_update(&prev.silence, &new, now) => {
                new.id.clone_from(&prev.silence.id);
            }
            prev => {
                // Replaced: the old one ends now (unless it already has).
                if let Some(old) = prev.and_then(|p| expired_copy(&p.silence, now)) {
                    writes.push(old);
                }
                new.id = uuid::Uuid::new_v4().to_string();
                if new.starts_at < now {
                    new.starts_at = now;
                }
            }
        }
        new.status.state = new.state(now);
        writes.push(new);
        let id = writes.last().map(|s| s.id.clone()).unwrap_or_default();
        let undo: Vec<(String, Option<Entry>)> = writes
            .iter()
            .map(|s| (s.id.clone(), map.get(&s.id).cloned()))
            .collect();
        for s in &writes {
            let compiled = match map.get(&s.id) {
                Some(e) if e.silence.matchers == s.matchers => e.compiled.clone(),
                _ => cand.compiled.clone(),
            };
            map.insert(
                s.id.clone(),
                Entry {
                    silence: s.clone(),
                    compiled,
                },
            );
        }
        drop(map);
        if let Err(e) = self.persist(&writes) {
            self.undo(undo);
            return Err(SilenceError::NotSaved {
                id,
                reason: e.to_string(),
            });
        }
        Ok(id)
    }

    /// Ends a silence now (DELETE /api/v2/silence/{id}). A pending one gets
    /// `startsAt = endsAt = now`. Expiring an expired silence changes nothing and is
    /// not an error (silence.go `expire` since 0.22).
    pub fn expire(&self, id: &str) -> Result<(), SilenceError> {
        let now = millis_floor(self.clock.now());
        let _w = lock(&self.writer);
        let mut map = write(&self.map);
        let e = map.get_mut(id).ok_or(SilenceError::NotFound)?;
        let Some(old) = expired_copy(&e.silence, now) else {
            return Ok(());
        };
        let undo = vec![(id.to_string(), Some(e.clone()))];
        e.silence = old.clone();
        drop(map);
        self.persist(&[old]).map_err(|e| {
            self.undo(undo);
            SilenceError::NotSaved {
                id: id.to_string(),
                reason: e.to_string(),
            }
        })
    }

    /// Puts entries back as they were before a change the disk refused (`None`:
    /// the entry did not exist). The writer lock is still held by the caller.
    fn undo(&self, undo: Vec<(String, Option<Entry>)>) {
        let mut map = write(&self.map);
        for (id, before) in undo {
            match before {
                Some(e) => map.insert(id, e),
                None => map.remove(&id),
            };
        }
    }

    /// One silence, its status as of now.
    pub fn get(&self, id: &str) -> Option<Silence> {
        let started = Instant::now();
        let now = self.clock.now();
        let found = read(&self.map)
            .get(id)
            .map(|e| with_status(&e.silence, now));
        // silence.go `QueryOne`: not found is not a failed query.
        self.stats.query(started.elapsed(), true);
        found
    }

    /// All silences, in the API's order (see [`sort_silences`]).
    pub fn list(&self) -> Vec<Silence> {
        self.query(&[])
    }

    /// `GET /api/v2/silences?filter=...`: the silences that carry *each* filter
    /// matcher verbatim (same name, operator and value; api/v2
    /// `CheckSilenceMatchesFilterLabels` in 0.25), in the API's order.
    pub fn query(&self, filter: &[Matcher]) -> Vec<Silence> {
        let started = Instant::now();
        let now = self.clock.now();
        let mut out: Vec<Silence> = read(&self.map)
            .values()
            .filter(|e| {
                filter.iter().all(|f| {
                    e.silence
                        .matchers
                        .iter()
                        .any(|m| m.name == f.name && m.match_type() == f.op && m.value == f.value)
                })
            })
            .map(|e| with_status(&e.silence, now))
            .collect();
        sort_silences(&mut out);
        self.stats.query(started.elapsed(), true);
        out
    }

    pub fn counts(&self) -> StateCounts {
        let now = self.clock.now();
        let mut c = StateCounts::default();
        for e in read(&self.map).values() {
            match e.silence.state(now) {
                SilenceState::Active => c.active += 1,
                SilenceState::Pending => c.pending += 1,
                SilenceState::Expired => c.expired += 1,
            }
        }
        c
    }

    /// Forgets silences that ended more than `retention` ago (`--data.retention`,
    /// silence.go `GC`) and compacts the file when it is mostly history. Returns how
    /// many were dropped. Run periodically.
    pub fn gc(&self) -> usize {
        let started = Instant::now();
        let now = self.clock.now();
        let _w = lock(&self.writer);
        let mut map = write(&self.map);
        let gone: Vec<String> = map
            .values()
            .filter(|e| {
                e.silence
                    .ends_at
                    .checked_add_signed(self.retention)
                    .is_some_and(|t| t <= now)
            })
            .map(|e| e.silence.id.clone())
            .collect();
        for id in &gone {
            map.remove(id);
        }
        if let Some(log) = &self.log {
            // A failure is reported by the log; the file stays dirty until a write heals it.
            log.delete_and_maintain(gone.iter().cloned(), map.len(), || live(&map))
                .ok();
        }
        self.stats.gc(started.elapsed());
        gone.len()
    }

    /// Writes the changed silences with one fsync, or the whole set when an earlier
    /// write failed (the file may lack those changes).
    fn persist(&self, writes: &[Silence]) -> Result<(), store::Error> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        log.put_or_heal(writes.iter().map(|s| (s.id.clone(), s)), true, || {
            live(&read(&self.map))
        })
    }
}

/// Every silence under its id, the key in the file.
fn live(map: &HashMap<String, Entry>) -> Vec<(String, Silence)> {
    map.iter()
        .map(|(k, e)| (k.clone(), e.silence.clone()))
        .collect()
}

/// What the operator is told when the data directory refuses silences, and when
/// it takes them again.
fn report(h: Health<'_>) {
    match h {
        Health::Failing(e) => tracing::error!(
            "silences: cannot save to the data directory, changes are kept in memory only until a write succeeds: {e}"
        ),
        Health::Recovered => {
            tracing::info!("silences: writing to the data directory works again");
        }
    }
}

impl Muter for Silences {
    /// IDs of the active silences matching `labels`, sorted (silence.go `Mutes`).
    fn muted_by(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String> {
        let started = Instant::now();
        let mut ids: Vec<String> = read(&self.map)
            .values()
            .filter(|e| e.silence.state(now) == SilenceState::Active && e.compiled.matches(labels))
            .map(|e| e.silence.id.clone())
            .collect();
        ids.sort();
        // The Silencer's `Mutes` is a silence query in Alertmanager.
        self.stats.query(started.elapsed(), true);
        ids
    }
}

/// api/v2 `SortSilences`: active first (soonest end first), then pending (soonest
/// start first), then expired (most recently ended first). Ties by id, so the
/// order is stable.
pub fn sort_silences(sils: &mut [Silence]) {
    sils.sort_by(|a, b| {
        let (sa, sb) = (a.status.state, b.status.state);
        let by_state = sa.cmp(&sb);
        if by_state != CmpOrdering::Equal {
            return by_state;
        }
        let by_time = match sa {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        };
        by_time.then_with(|| a.id.cmp(&b.id))
    });
}

/// A checked request, before the store decides between update and replace.
struct Candidate {
    id: Option<String>,
    matchers: Vec<SilenceMatcher>,
    compiled: Matchers,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: String,
    comment: String,
}

/// Required fields (go-swagger, in its order), then api/v2's time checks, then
/// silence.go `validateSilence`.
fn candidate(p: PostableSilence, now: DateTime<Utc>) -> Result<Candidate, SilenceError> {
    let missing = |f: &str| SilenceError::Missing(f.to_string());
    let comment = p.comment.ok_or_else(|| missing("comment"))?;
    let created_by = p.created_by.ok_or_else(|| missing("createdBy"))?;
    let ends_at = millis_floor(p.ends_at.ok_or_else(|| missing("endsAt"))?);
    let posted = p.matchers.ok_or_else(|| missing("matchers"))?;
    let mut matchers = Vec::with_capacity(posted.len());
    for (i, m) in posted.into_iter().enumerate() {
        let is_regex = m
            .is_regex
            .ok_or_else(|| missing(&format!("matchers.{i}.isRegex")))?;
        let name = m
            .name
            .ok_or_else(|| missing(&format!("matchers.{i}.name")))?;
        let value = m
            .value
            .ok_or_else(|| missing(&format!("matchers.{i}.value")))?;
        matchers.push(SilenceMatcher {
            is_equal: m.is_equal.unwrap_or(true),
            is_regex,
            name,
            value,
        });
    }
    let starts_at = millis_floor(p.starts_at.ok_or_else(|| missing("startsAt"))?);

    if starts_at >= ends_at {
        return Err(SilenceError::Invalid(
            "Failed to create silence: start time must be before end time".into(),
        ));
    }
    if ends_at < now {
        return Err(SilenceError::Invalid(
            "Failed to create silence: end time can't be in the past".into(),
        ));
    }
    let invalid = |e: String| SilenceError::Invalid(format!("silence invalid: {e}"));
    if matchers.is_empty() {
        return Err(invalid("at least one matcher required".into()));
    }
    let compiled = compile_all(&matchers).map_err(invalid)?;
    if matchers
        .iter()
        .zip(&compiled.0)
        .all(|(m, c)| m.matches_empty(c))
    {
        return Err(invalid(
            "at least one matcher must not match the empty string".into(),
        ));
    }
    Ok(Candidate {
        id: p.id.filter(|id| !id.is_empty()),
        matchers,
        compiled,
        starts_at,
        ends_at,
        created_by,
        comment,
    })
}

fn compile_all(ms: &[SilenceMatcher]) -> Result<Matchers, String> {
    ms.iter()
        .enumerate()
        .map(|(i, m)| {
            m.compile()
                .map_err(|e| format!("invalid label matcher {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Matchers)
}

/// silence.go `canUpdate`: same matchers; an active silence keeps its start (to the
/// second) and may not end in the past; a pending one may not start in the past;
/// an expired one is never changed.
fn can_update(a: &Silence, b: &Silence, now: DateTime<Utc>) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now) {
        SilenceState::Active => {
            a.starts_at.timestamp() == b.starts_at.timestamp() && b.ends_at >= now
        }
        SilenceState::Pending => b.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// The silence ended at `now`, or `None` if it already has.
fn expired_copy(s: &Silence, now: DateTime<Utc>) -> Option<Silence> {
    let mut out = s.clone();
    match s.state(now) {
        SilenceState::Expired => return None,
        SilenceState::Active => out.ends_at = now,
        SilenceState::Pending => {
            out.starts_at = now;
            out.ends_at = now;
        }
    }
    out.updated_at = now;
    out.status.state = SilenceState::Expired;
    Some(out)
}

fn with_status(s: &Silence, now: DateTime<Utc>) -> Silence {
    let mut out = s.clone();
    out.status.state = s.state(now);
    out
}

/// Times are kept to the millisecond: what the API shows is what is stored.
fn millis_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::parse_matchers;
    use crate::store::testing::refuse_writes;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const T0: &str = "2026-11-22T08:00:00Z";

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    fn clock() -> Clock {
        Clock::following_tokio(t(T0))
    }

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A silence over `m` from `start` to `end` seconds after T0.
    fn post(m: &str, start: i64, end: i64) -> PostableSilence {
        PostableSilence::new(
            &parse_matchers(m).unwrap(),
            t(T0) + secs(start),
            t(T0) + secs(end),
            "admin",
            "deploying workers",
        )
    }

    async fn advance_to(c: Clock, at: i64) {
        let target = t(T0) + secs(at);
        let d = (target - c.now()).to_std().unwrap();
        tokio::time::advance(d).await;
    }

    // ../shared/specs/alertmanager-api-samples/silence_get.json, Alertmanager 0.25.
    const SILENCE_GET: &str = r#"{
      "comment": "deploying workers",
      "createdBy": "admin",
      "endsAt": "2026-11-22T10:25:38.196Z",
      "id": "264fc00f-d06c-4903-83ae-a350d504647c",
      "matchers": [
        { "isEqual": true, "isRegex": true, "name": "alertname", "value": "Celery.*" }
      ],
      "startsAt": "2026-11-22T08:25:38.197Z",
      "status": { "state": "active" },
      "updatedAt": "2026-11-22T08:25:38.197Z"
    }"#;

    #[test]
    fn json_is_alertmanagers() {
        let s: Silence = serde_json::from_str(SILENCE_GET).unwrap();
        assert_eq!(s.matchers[0].match_type(), MatchType::Regexp);
        assert_eq!(s.status.state, SilenceState::Active);
        let back = serde_json::to_value(&s).unwrap();
        let want: serde_json::Value = serde_json::from_str(SILENCE_GET).unwrap();
        assert_eq!(back, want);
        // Keys come out in Alertmanager's (alphabetical) order, times in millis.
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.starts_with(r#"{"comment":"deploying workers","createdBy":"admin","endsAt":"2026-11-22T10:25:38.196Z","id":"#), "{text}");
        assert!(text.contains(
            r#""matchers":[{"isEqual":true,"isRegex":true,"name":"alertname","value":"Celery.*"}]"#
        ));

        // What amtool posts; isEqual may be absent and then means true.
        let p: PostableSilence = serde_json::from_str(
            r#"{"matchers":[{"name":"alertname","value":"x","isRegex":false}],
                "startsAt":"2026-11-22T08:25:38.197Z","endsAt":"2026-11-22T10:25:38.196Z",
                "createdBy":"admin","comment":"c"}"#,
        )
        .unwrap();
        let m = &p.matchers.as_ref().unwrap()[0];
        assert_eq!(m.is_equal, None);
        assert!(p.id.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn validation_uses_alertmanagers_texts() {
        let s = Silences::new(clock(), Duration::from_secs(3600));
        let err = |p: PostableSilence| s.set(p).unwrap_err().to_string();
        assert_eq!(
            err(post(r#"alertname=~".*""#, 0, 60)),
            "silence invalid: at least one matcher must not match the empty string"
        );
        assert_eq!(
            err(post(r#"a="", b=~"x|""#, 0, 60)),
            "silence invalid: at least one matcher must not match the empty string"
        );
        // A negative matcher never counts as matching everything (matchesEmpty).
        assert!(s.set(post(r#"a!="x""#, 0, 60)).is_ok());
        assert_eq!(
            err(post(r#"a="x""#, -60, -1)),
            "Failed to create silence: end time can't be in the past"
        );
        assert_eq!(
            err(post(r#"a="x""#, 60, 30)),
            "Failed to create silence: start time must be before end time"
        );
        assert_eq!(
            err(post(r#"a="x""#, 60, 60)),
            "Failed to create silence: start time must be before end time"
        );
        let mut p = post(r#"a="x""#, 0, 60);
        p.matchers = Some(vec![]);
        assert_eq!(err(p), "silence invalid: at least one matcher required");

        let mut p = post(r#"a="x""#, 0, 60);
        p.matchers.as_mut().unwrap()[0].name = Some("bad-name".into());
        assert_eq!(
            err(p),
            r#"silence invalid: invalid label matcher 0: invalid label name "bad-name""#
        );
        let mut p = post(r#"a="x", b="y""#, 0, 60);
        let m = &mut p.matchers.as_mut().unwrap()[1];
        m.value = Some("(".into());
        m.is_regex = Some(true);
        let e = err(p);
        assert!(
            e.starts_with(
                r#"silence invalid: invalid label matcher 1: invalid regular expression "(""#
            ),
            "{e}"
        );

        for (field, f) in [
            (
                "createdBy",
                (|p: &mut PostableSilence| p.created_by = None) as fn(&mut _),
            ),
            ("comment", |p| p.comment = None),
            ("startsAt", |p| p.starts_at = None),
            ("endsAt", |p| p.ends_at = None),
            ("matchers", |p| p.matchers = None),
            ("matchers.0.isRegex", |p| {
                p.matchers.as_mut().unwrap()[0].is_regex = None;
            }),
        ] {
            let mut p = post(r#"a="x""#, 0, 60);
            f(&mut p);
            let e = s.set(p).unwrap_err();
            assert_eq!(e, SilenceError::Missing(field.into()));
            assert_eq!(e.to_string(), format!("{field} in body is required"));
        }

        let mut p = post(r#"a="x""#, 0, 60);
        p.id = Some("264fc00f-d06c-4903-83ae-a350d504647c".into());
        assert_eq!(s.set(p).unwrap_err(), SilenceError::NotFound);
        assert_eq!(s.expire("nope").unwrap_err(), SilenceError::NotFound);
        // Only the one valid silence was stored.
        assert_eq!(s.list().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn states_follow_the_clock_and_mute_only_when_active() {
        let c = clock();
        let s = Silences::new(c, Duration::from_secs(3600));
        // AT-09: created at 2.3 for [2.5, 4.5] (here in seconds).
        advance_to(c, 2).await;
        let id = s.set(post(r#"alertname="test1""#, 3, 5)).unwrap();
        let test1 = ls(&[("alertname", "test1")]);
        let test2 = ls(&[("alertname", "test2")]);
        assert_eq!(s.get(&id).unwrap().status.state, SilenceState::Pending);
        assert!(!s.mutes(&test1, c.now()));
        advance_to(c, 3).await;
        assert_eq!(s.get(&id).unwrap().status.state, SilenceState::Active);
        assert_eq!(s.muted_by(&test1, c.now()), vec![id.clone()]);
        assert!(!s.mutes(&test2, c.now()));
        advance_to(c, 5).await;
        assert_eq!(s.get(&id).unwrap().status.state, SilenceState::Expired);
        assert!(!s.mutes(&test1, c.now()));
        assert_eq!(
            s.counts(),
            StateCounts {
                expired: 1,
                ..StateCounts::default()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn regexes_are_anchored() {
        let c = clock();
        let s = Silences::new(c, Duration::from_secs(3600));
        let a = s.set(post(r#"alertname=~"Celery.*""#, 0, 60)).unwrap();
        let _b = s.set(post(r#"alertname=~"Celery""#, 0, 60)).unwrap();
        let q = ls(&[("alertname", "CeleryQueueLong")]);
        assert_eq!(s.muted_by(&q, c.now()), vec![a]);
        let mut ids: Vec<String> = s.list().into_iter().map(|x| x.id).collect();
        ids.sort();
        let both = ls(&[("alertname", "Celery")]);
        assert_eq!(s.muted_by(&both, c.now()), ids, "sorted ids");
    }

    #[tokio::test(start_paused = true)]
    async fn start_in_the_past_becomes_now_and_times_are_millis() {
        let c = clock();
        tokio::time::advance(Duration::from_micros(1_500_700)).await;
        let s = Silences::new(c, Duration::from_secs(3600));
        let id = s.set(post(r#"a="x""#, -600, 600)).unwrap();
        let got = s.get(&id).unwrap();
        assert_eq!(got.starts_at, t("2026-11-22T08:00:01.500Z"));
        assert_eq!(got.updated_at, got.starts_at);
        assert_eq!(got.created_by, "admin");
        assert_eq!(got.comment, "deploying workers");
        // Round trip through JSON is exact.
        let back: Silence = serde_json::from_str(&serde_json::to_string(&got).unwrap()).unwrap();
        assert_eq!(back, got);
    }

    #[tokio::test(start_paused = true)]
    async fn updates_in_place_or_replace_like_alertmanager() {
        let c = clock();
        let s = Silences::new(c, Duration::from_secs(3600));
        let id = s.set(post(r#"alertname="test1""#, 0, 60)).unwrap();
        advance_to(c, 10).await;

        // Same matchers, same start, later end: updated in place.
        let mut p = PostableSilence::from(&s.get(&id).unwrap());
        p.ends_at = Some(t(T0) + secs(120));
        p.comment = Some("longer".into());
        assert_eq!(s.set(p).unwrap(), id);
        let got = s.get(&id).unwrap();
        assert_eq!(got.ends_at, t(T0) + secs(120));
        assert_eq!(got.comment, "longer");
        assert_eq!(got.updated_at, t(T0) + secs(10));
        assert_eq!(s.list().len(), 1);

        // An active silence cannot move its start: a new silence replaces it.
        let mut p = PostableSilence::from(&got);
        p.starts_at = Some(t(T0) + secs(5));
        let id2 = s.set(p).unwrap();
        assert_ne!(id2, id);
        assert_eq!(s.get(&id).unwrap().status.state, SilenceState::Expired);
        assert_eq!(s.get(&id).unwrap().ends_at, t(T0) + secs(10));
        // A new silence never starts in the past.
        assert_eq!(s.get(&id2).unwrap().starts_at, t(T0) + secs(10));

        // AT-09: changing the matchers of an active silence gives a new id and
        // expires the old one at once.
        advance_to(c, 20).await;
        let mut p = PostableSilence::from(&s.get(&id2).unwrap());
        p.matchers = post(r#"alertname="test2""#, 0, 1).matchers;
        let id3 = s.set(p).unwrap();
        assert_ne!(id3, id2);
        let old = s.get(&id2).unwrap();
        assert_eq!(old.status.state, SilenceState::Expired);
        assert_eq!(old.ends_at, t(T0) + secs(20));
        let new = s.get(&id3).unwrap();
        assert_eq!(new.status.state, SilenceState::Active);
        assert_eq!(new.matchers[0].value, "test2");
        let test1 = ls(&[("alertname", "test1")]);
        assert!(!s.mutes(&test1, c.now()));

        // Editing an expired silence makes a new one and leaves the old alone.
        let mut p = PostableSilence::from(&old);
        p.ends_at = Some(t(T0) + secs(300));
        let id4 = s.set(p).unwrap();
        assert_ne!(id4, id2);
        assert_eq!(s.get(&id2).unwrap(), old);

        // A pending silence may be moved as long as it does not start in the past.
        let pid = s.set(post(r#"x="1""#, 100, 200)).unwrap();
        let mut p = PostableSilence::from(&s.get(&pid).unwrap());
        p.starts_at = Some(t(T0) + secs(50));
        assert_eq!(s.set(p).unwrap(), pid);
        let mut p = PostableSilence::from(&s.get(&pid).unwrap());
        p.starts_at = Some(t(T0) + secs(5));
        let pid2 = s.set(p).unwrap();
        assert_ne!(pid2, pid);
        let old = s.get(&pid).unwrap();
        assert_eq!((old.starts_at, old.ends_at), (c.now(), c.now()));
        assert_eq!(old.status.state, SilenceState::Expired);
    }

    #[tokio::test(start_paused = true)]
    async fn expire_ends_it_now_and_twice_is_harmless() {
        let c = clock();
        let s = Silences::new(c, Duration::from_secs(3600));
        let id = s.set(post(r#"a="x""#, 0, 600)).unwrap();
        advance_to(c, 30).await;
        s.expire(&id).unwrap();
        let got = s.get(&id).unwrap();
        assert_eq!(got.status.state, SilenceState::Expired);
        assert_eq!(got.ends_at, c.now());
        assert_eq!(got.updated_at, c.now());
        advance_to(c, 40).await;
        // As Alertmanager (silence.go expire): no error, nothing changes.
        s.expire(&id).unwrap();
        assert_eq!(s.get(&id).unwrap(), got);

        let pending = s.set(post(r#"a="y""#, 100, 600)).unwrap();
        s.expire(&pending).unwrap();
        let got = s.get(&pending).unwrap();
        assert_eq!((got.starts_at, got.ends_at), (c.now(), c.now()));
        assert_eq!(got.status.state, SilenceState::Expired);
    }

    #[tokio::test(start_paused = true)]
    async fn list_order_and_filter_are_the_apis() {
        let c = clock();
        let s = Silences::new(c, Duration::from_secs(3600));
        let e1 = s.set(post(r#"n="e1""#, 0, 10)).unwrap();
        let e2 = s.set(post(r#"n="e2""#, 0, 20)).unwrap();
        let a1 = s.set(post(r#"n="a1", team="db""#, 0, 500)).unwrap();
        let a2 = s.set(post(r#"n="a2", team=~"db""#, 0, 300)).unwrap();
        let p1 = s.set(post(r#"n="p1""#, 200, 900)).unwrap();
        let p2 = s.set(post(r#"n="p2", team="db""#, 100, 900)).unwrap();
        advance_to(c, 30).await;
        let ids: Vec<String> = s.list().into_iter().map(|x| x.id).collect();
        assert_eq!(ids, vec![a2.clone(), a1.clone(), p2.clone(), p1, e2, e1]);

        // The filter compares matchers verbatim: `team="db"` does not pick `team=~"db"`.
        let f = parse_matchers(r#"team="db""#).unwrap();
        let ids: Vec<String> = s.query(&f.0).into_iter().map(|x| x.id).collect();
        assert_eq!(ids, vec![a1.clone(), p2]);
        let f = parse_matchers(r#"team=~"db""#).unwrap();
        let ids: Vec<String> = s.query(&f.0).into_iter().map(|x| x.id).collect();
        assert_eq!(ids, vec![a2]);
        let f = parse_matchers(r#"team="db", n="a1""#).unwrap();
        let ids: Vec<String> = s.query(&f.0).into_iter().map(|x| x.id).collect();
        assert_eq!(ids, vec![a1]);
        assert!(s.query(&parse_matchers(r#"n="zz""#).unwrap().0).is_empty());
        assert_eq!(
            s.counts(),
            StateCounts {
                active: 2,
                pending: 2,
                expired: 2
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gc_drops_silences_past_retention() {
        let c = clock();
        let s = Silences::new(c, Duration::from_secs(100));
        let a = s.set(post(r#"a="1""#, 0, 10)).unwrap();
        let b = s.set(post(r#"a="2""#, 0, 50)).unwrap();
        advance_to(c, 109).await;
        assert_eq!(s.gc(), 0);
        advance_to(c, 110).await;
        assert_eq!(s.gc(), 1);
        assert!(s.get(&a).is_none());
        assert!(s.get(&b).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn silences_survive_reopen_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let c = clock();
        let (a, b);
        {
            let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
            a = s.set(post(r#"alertname=~"Celery.*""#, 0, 600)).unwrap();
            b = s.set(post(r#"alertname="x""#, 0, 600)).unwrap();
            advance_to(c, 10).await;
            s.expire(&b).unwrap();
            // Dropped without any shutdown step: what is on disk is all there is.
        }
        let path = dir.path().join(LOG_NAME);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, br#"{"k":"torn","v":{"comment":"#).unwrap();
        drop(f);
        let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
        assert_eq!(s.recovery().dropped_lines, 1);
        assert_eq!(s.list().len(), 2);
        assert_eq!(s.get(&a).unwrap().status.state, SilenceState::Active);
        let gone = s.get(&b).unwrap();
        assert_eq!(gone.status.state, SilenceState::Expired);
        assert_eq!(gone.ends_at, t(T0) + secs(10));
        assert!(s.mutes(&ls(&[("alertname", "CeleryQueueLong")]), c.now()));

        // Reopened after the retention: the expired one is gone, on disk too.
        drop(s);
        advance_to(c, 3700).await;
        let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
        assert!(s.get(&b).is_none());
        drop(s);
        let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
        assert!(s.get(&b).is_none());
        assert!(s.get(&a).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_disk_refuses_the_silence_and_a_retry_saves_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = clock();
        let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
        let first = s.set(post(r#"a="1""#, 0, 600)).unwrap();
        drop(s);
        // Reopened: the log has no handle open, so the next write opens the path.
        let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
        // The disk fills up: appends hit /dev/full (ENOSPC, even as root; a directory
        // where there is no such device) and rewrites cannot create their temp file.
        let path = dir.path().join(LOG_NAME);
        let tmp = path.with_extension("tmp");
        let repair = refuse_writes(&path);
        std::fs::create_dir(&tmp).unwrap();
        let err = s.set(post(r#"a="2""#, 0, 600)).unwrap_err();
        let SilenceError::NotSaved { id, reason } = &err else {
            panic!("{err:?}");
        };
        assert!(reason.contains("write failed"), "{reason}");
        assert!(err.to_string().contains("the change was not made"), "{err}");
        assert_eq!(s.errors(), 1);
        // Not acknowledged, so not in effect: what a restart would have.
        assert!(!s.mutes(&ls(&[("a", "2")]), c.now()));
        assert!(s.get(id).is_none());
        assert!(matches!(
            s.expire(&first),
            Err(SilenceError::NotSaved { .. })
        ));
        assert_eq!(s.errors(), 2);
        assert_eq!(s.get(&first).unwrap().status.state, SilenceState::Active);

        // The disk is back: the retried changes are saved, with nothing extra.
        std::fs::remove_dir(&tmp).unwrap();
        repair();
        let second = s.set(post(r#"a="2""#, 0, 600)).unwrap();
        s.expire(&first).unwrap();
        drop(s);
        let s = Silences::open(dir.path(), c, Duration::from_secs(3600)).unwrap();
        assert_eq!(s.list().len(), 2);
        assert!(s.get(&second).is_some());
        assert_eq!(s.get(&first).unwrap().status.state, SilenceState::Expired);
    }
}
