//! The simulated market: a few symbols, and prices that take a small
//! random step every tick: no thread, no socket, so the tests can run
//! hours of ticks in a moment.

/// The simulated market.
pub(super) const SYMBOLS: [(&str, f64); 5] = [
    ("ACME", 101.0),
    ("GLOBEX", 54.5),
    ("INITECH", 12.8),
    ("UMBRELLA", 230.0),
    ("HOOLI", 77.7),
];

/// One tick of a simulated price: a random walk of at most ±0.4 % a step
/// (`unit` uniform in [0, 1)), pulled back towards `open` by 0.1 % of the
/// distance. A plain random walk drifts without bound: after a two-hour
/// class a price could be up or down by half, and the chart would show
/// nothing but that drift.
pub(super) fn step(price: f64, open: f64, unit: f64) -> f64 {
    price * (1.0 + (unit - 0.5) * 0.008) - (price - open) * 0.001
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::XorShift;

    #[test]
    fn simulated_prices_wander_but_stay_near_their_open_for_hours() {
        let mut r = XorShift::seeded();
        let mut price = 100.0;
        let mut furthest: f64 = 0.0;
        // Four hours of ticks at 250 ms.
        for _ in 0..4 * 3600 * 4 {
            price = step(price, 100.0, r.unit());
            furthest = furthest.max((price - 100.0).abs());
        }
        assert!(furthest > 1.0, "it moves: at most {furthest}");
        assert!(furthest < 30.0, "it stays near the open: {furthest}");
    }

    #[test]
    fn the_generator_stays_in_the_unit_interval_and_varies() {
        let mut r = XorShift::seeded();
        let xs: Vec<f64> = (0..1000).map(|_| r.unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
