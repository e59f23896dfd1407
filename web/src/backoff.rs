//! Reconnect delays: exponential backoff with jitter, so a server that restarts is
//! not hit by every browser at the same instant, and a flaky link retries quickly
//! at first.

/// First retry after about this long.
pub const BASE_MS: u32 = 500;
/// Never wait longer than this between attempts.
pub const MAX_MS: u32 = 10_000;

/// Delay before reconnect attempt `attempt` (1 for the first retry). `jitter` is a
/// random number in `0.0..1.0` (the caller passes `Math.random()`), spreading the
/// delay over 75%..125% of the nominal value.
pub fn delay_ms(attempt: u32, jitter: f64) -> u32 {
    let doublings = attempt.saturating_sub(1).min(16);
    let nominal = BASE_MS.saturating_mul(1 << doublings).min(MAX_MS);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    (f64::from(nominal) * factor).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let nominal: Vec<u32> = (1..=7).map(|a| delay_ms(a, 0.5)).collect();
        assert_eq!(nominal, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(delay_ms(1000, 0.5), MAX_MS);
    }

    #[test]
    fn jitter_spreads_a_quarter_either_way() {
        assert_eq!(delay_ms(2, 0.0), 750);
        assert_eq!(delay_ms(2, 1.0), 1250);
        assert_eq!(delay_ms(2, 7.0), 1250);
    }
}
