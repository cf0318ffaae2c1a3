//! Pacing requests to a service's budget, so a long run stays just under the limit instead of
//! running into it and waiting out 429s.
//!
//! Both services count requests in a sliding window (Dataverse and Business Central: 6,000 per
//! five minutes per user). The pacer keeps the same window of what it sent: a request leaves
//! at once while the window has room, else when the oldest request in it has left the window
//! (plus a small margin for the way there). Dataverse also says, in every answer, how many
//! requests the window has left (`x-ms-ratelimit-burst-remaining-xrm-requests`), counting
//! other clients of the same user; when that runs out before the pacer's own count does, the
//! pacer spaces requests at the steady rate the budget allows until the service reports room
//! again. A 429 that still happens is waited out as before (`Retry-After`).

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// The header in which Dataverse says how many requests the window has left.
pub const REMAINING_HEADER: &str = "x-ms-ratelimit-burst-remaining-xrm-requests";

/// A service's request budget: at most `requests` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub requests: u32,
    /// The window's length.
    pub window: Duration,
}

impl RateLimit {
    /// The interval between requests at the budget's steady rate.
    fn interval(self) -> Duration {
        self.window / self.requests.max(1)
    }

    /// Time added to the window for the way a request travels: a request that left when the
    /// window freed a place may arrive a little later than the one it replaces did.
    fn margin(self) -> Duration {
        (self.window / 200).min(Duration::from_secs(1))
    }
}

/// When requests may leave.
#[derive(Debug)]
pub(crate) struct Pacer {
    limit: Option<RateLimit>,
    state: std::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When each request of the current window left, oldest first.
    sent: VecDeque<Instant>,
    /// What the service last said the window has left, less what was sent since.
    remaining: Option<u32>,
}

impl Pacer {
    /// A pacer for a budget; without one, requests leave at once.
    pub fn new(limit: Option<RateLimit>) -> Pacer {
        Pacer {
            limit,
            state: std::sync::Mutex::new(State::default()),
        }
    }

    /// How long the next request must wait to stay within the budget, if at all; it is
    /// counted as leaving then, so requests leave in the order they ask.
    pub fn admit(&self) -> Option<Duration> {
        let limit = self.limit?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let at = Instant::now();
        let window = limit.window + limit.margin();
        while state
            .sent
            .front()
            .is_some_and(|t| at.duration_since(*t) >= window)
        {
            state.sent.pop_front();
        }
        let mut leave = at;
        if state.sent.len() >= limit.requests as usize {
            if let Some(oldest) = state.sent.front() {
                leave = leave.max(*oldest + window);
            }
        }
        if state.remaining == Some(0) {
            // The service's window is full (others share it): the steady rate, no faster.
            if let Some(last) = state.sent.back() {
                leave = leave.max(*last + limit.interval());
            }
        }
        state.remaining = state.remaining.map(|r| r.saturating_sub(1));
        let wait = leave.saturating_duration_since(at);
        state.sent.push_back(leave);
        while state.sent.len() > limit.requests as usize {
            state.sent.pop_front();
        }
        (!wait.is_zero()).then_some(wait)
    }

    /// Takes note of what an answer says of the budget.
    pub fn observe(&self, headers: &HeaderMap) {
        let Some(remaining) = headers
            .get(REMAINING_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return;
        };
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remaining = Some(remaining);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits a request and waits as told, as the client does.
    async fn leave(pacer: &Pacer) -> Option<Duration> {
        let wait = pacer.admit();
        if let Some(w) = wait {
            tokio::time::sleep(w).await;
        }
        wait
    }

    fn limit(requests: u32, secs: u64) -> RateLimit {
        RateLimit {
            requests,
            window: Duration::from_secs(secs),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_leave_at_once_while_the_window_has_room_then_as_it_frees() {
        let pacer = Pacer::new(Some(limit(3, 10)));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(leave(&pacer).await, None);
        }
        // The fourth waits for the first to leave the window (and the margin).
        let waited = leave(&pacer).await.unwrap();
        assert_eq!(waited, Duration::from_millis(10_050));
        assert_eq!(start.elapsed(), Duration::from_millis(10_050));
        // Within any window of 10 s (plus margin), never more than 3 left.
        let mut times = vec![start, start, start, start + waited];
        for _ in 0..6 {
            leave(&pacer).await;
            times.push(Instant::now());
        }
        for (i, t) in times.iter().enumerate() {
            let within = times[i..]
                .iter()
                .filter(|u| u.duration_since(*t) < Duration::from_secs(10))
                .count();
            assert!(within <= 3, "{within} requests within 10 s of request {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_says_its_window_is_full_is_asked_at_the_steady_rate() {
        let pacer = Pacer::new(Some(limit(100, 10)));
        let mut headers = HeaderMap::new();
        headers.insert(REMAINING_HEADER, "1".parse().unwrap());
        pacer.observe(&headers);
        assert_eq!(leave(&pacer).await, None);
        // The service's last place is taken: one request per 100 ms from now on.
        assert_eq!(leave(&pacer).await, Some(Duration::from_millis(100)));
        assert_eq!(leave(&pacer).await, Some(Duration::from_millis(100)));
        headers.insert(REMAINING_HEADER, "50".parse().unwrap());
        pacer.observe(&headers);
        assert_eq!(leave(&pacer).await, None);
    }

    #[tokio::test]
    async fn without_a_budget_nothing_waits() {
        let pacer = Pacer::new(None);
        for _ in 0..1000 {
            assert_eq!(leave(&pacer).await, None);
        }
    }
}
