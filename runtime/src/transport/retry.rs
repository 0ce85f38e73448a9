//! Which failures are sent again, and after how long.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// When and how often a failed request is sent again.
///
/// | failure | resent by default | with [`resend_unanswered(false)`](Self::resend_unanswered) |
/// |---|---|---|
/// | connecting failed (the request never left) | yes | yes |
/// | `429` | yes, unless the body says `insufficient_quota` (waiting does not fix that) | yes, likewise |
/// | `503` | yes | yes: the server turned the request away |
/// | `500`, `502`, `504` | yes | **no**: the server, or a gateway's upstream, may have run (and billed) the completion |
/// | the connection failed after the request was written, before any reply | yes | **no**: the server may have started the work |
/// | no response headers within [`first_byte_timeout`](super::TransportBuilder::first_byte_timeout) | no | no |
/// | any other status, or a failure after the response headers (inside a body or a stream) | no | no |
///
/// Chat Completions has no idempotency key of its own: when a duplicate
/// completion costs more than a failed call, use `resend_unanswered(false)`.
/// Servers and gateways that honour an `Idempotency-Key` header can be sent
/// one with [`idempotency_key`](super::TransportBuilder::idempotency_key);
/// it is the same on every attempt of one call, so such a server runs the
/// work once however often it is resent.
///
/// A server's `Retry-After` (seconds or an HTTP date) replaces the computed
/// backoff when it is not longer than
/// [`max_retry_after`](Self::max_retry_after); a longer one, however large
/// (`1e20`, a date in the year 9999), ends the retries at once and is kept
/// in the error ([`ApiError::retry_after`](crate::ApiError::retry_after)),
/// so the caller can decide. A negative or unreadable `Retry-After` is
/// ignored.
///
/// Defaults: 2 retries, backoff 500 ms doubling up to 8 s, `Retry-After`
/// honoured up to 60 s, unanswered requests resent.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    resend_unanswered: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            resend_unanswered: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// How many times a request may be sent again.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The first backoff; it doubles with each retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The longest computed backoff.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The longest `Retry-After` waited for; longer ones end the retries.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Whether a request that may have reached the server, or a gateway's
    /// upstream, is sent again (default `true`); see the table above for
    /// what `false` still resends.
    pub fn resend_unanswered(mut self, yes: bool) -> Self {
        self.resend_unanswered = yes;
        self
    }

    /// Whether a response with `status` and `body` is worth sending again.
    pub(super) fn resends_status(&self, status: StatusCode, body: &str) -> bool {
        match status.as_u16() {
            429 => !body.contains("insufficient_quota"),
            503 => true,
            500 | 502 | 504 => self.resend_unanswered,
            _ => false,
        }
    }

    /// Whether a failure before any response is worth sending again.
    pub(super) fn resends_failure(&self, e: &reqwest::Error) -> bool {
        e.is_connect() || self.resend_unanswered && e.is_request() && !e.is_timeout()
    }

    /// How long to wait before retry number `attempt` (0-based), or `None`
    /// to stop.
    pub(super) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => {
                let factor = 2u32.saturating_pow(attempt);
                Some(
                    self.initial_backoff
                        .saturating_mul(factor)
                        .min(self.max_backoff),
                )
            }
        }
    }
}

/// `Retry-After` as seconds or as an HTTP date. A value too large for a
/// [`Duration`] saturates to [`Duration::MAX`] (over any cap, so it ends
/// the retries); a negative, non-finite or unreadable one is `None`.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default().max_retries(5);
        assert_eq!(p.delay(0, None), Some(Duration::from_millis(500)));
        assert_eq!(p.delay(1, None), Some(Duration::from_secs(1)));
        assert_eq!(p.delay(4, None), Some(Duration::from_secs(8)));
        assert_eq!(p.delay(5, None), None);
    }

    #[test]
    fn backoff_saturates_with_extreme_settings() {
        let p = RetryPolicy::default()
            .max_retries(u32::MAX)
            .initial_backoff(Duration::MAX)
            .max_backoff(Duration::MAX);
        assert_eq!(p.delay(u32::MAX - 1, None), Some(Duration::MAX));
        assert_eq!(p.delay(40, None), Some(Duration::MAX));
    }

    #[test]
    fn retry_after_wins_within_its_cap() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(61))), None);
        assert_eq!(p.delay(0, Some(Duration::MAX)), None);
        assert_eq!(RetryPolicy::none().delay(0, Some(Duration::ZERO)), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn retry_after_extremes_saturate_or_are_ignored() {
        let mut h = HeaderMap::new();
        for huge in [
            "1e20",
            "18446744073709551616",
            "1e308",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            h.insert(RETRY_AFTER, huge.parse().unwrap());
            let wait = retry_after(&h).expect(huge);
            assert!(wait > Duration::from_secs(1 << 33), "{huge}: {wait:?}");
        }
        for ignored in ["-1", "NaN", "inf", "-inf", "", "1e400x", "\u{7f}"] {
            if let Ok(v) = ignored.parse() {
                h.insert(RETRY_AFTER, v);
                assert_eq!(retry_after(&h), None, "{ignored:?}");
            }
        }
        h.insert(RETRY_AFTER, "0.0000001".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_nanos(100)));
    }

    #[test]
    fn statuses_resent_under_each_setting() {
        let resend = RetryPolicy::default();
        let careful = RetryPolicy::default().resend_unanswered(false);
        let s = |n| StatusCode::from_u16(n).unwrap();
        for n in [429, 500, 502, 503, 504] {
            assert!(resend.resends_status(s(n), ""), "{n}");
        }
        for n in [429, 503] {
            assert!(careful.resends_status(s(n), ""), "{n}");
        }
        for n in [500, 502, 504] {
            assert!(!careful.resends_status(s(n), ""), "{n}");
        }
        for n in [400, 401, 403, 404, 408, 409, 413, 422, 501, 505, 599] {
            assert!(!resend.resends_status(s(n), ""), "{n}");
        }
        let quota = r#"{"error":{"code":"insufficient_quota"}}"#;
        assert!(!resend.resends_status(s(429), quota));
    }
}
