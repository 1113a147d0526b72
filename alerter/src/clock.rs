//! Time, injected: the dispatcher, silences and alert expiry all read the wall clock
//! through a [`Clock`], so tests run on tokio's paused time and assert exact instants.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// 2026-01-01T00:00:00Z, the instant unit tests start their clocks at.
#[cfg(test)]
pub(crate) fn test_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// `None`: the system clock. `Some`: wall time advances with tokio's clock from here.
    origin: Option<(DateTime<Utc>, Instant)>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { origin: None }
    }

    /// A clock that reads `wall` now and then follows tokio's (possibly paused) time.
    pub fn following_tokio(wall: DateTime<Utc>) -> Clock {
        Clock {
            origin: Some((wall, Instant::now())),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.origin {
            None => Utc::now(),
            Some((wall, at)) => {
                wall + chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::TimeDelta::MAX)
            }
        }
    }

    /// The tokio instant at which the wall clock reads `t` (now, if `t` is past).
    pub fn instant_at(&self, t: DateTime<Utc>) -> Instant {
        let ahead = (t - self.now()).to_std().unwrap_or_default();
        Instant::now() + ahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::following_tokio(start);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(c.now(), start + chrono::Duration::milliseconds(1500));
        let at = c.instant_at(start + chrono::Duration::seconds(3));
        assert_eq!(at - Instant::now(), Duration::from_millis(1500));
    }
}
