//! Drawing a customer from BG/NBD or MBG/NBD, the model's own story (Fader, Hardie & Lee 2005,
//! section 3; Batislam et al. 2007): for `lifecycle generate --bgnbd`, and so for checking
//! that the fit recovers the parameters it was given.
//!
//! Each customer gets a purchase rate lambda ~ Gamma(r, rate alpha) per time unit and a
//! drop-out probability p ~ Beta(a, b). From the first transaction on, while alive, the next
//! transaction comes after an exponential time of rate lambda (a Poisson process). After
//! each repeat transaction (BG/NBD), or each transaction the first included (MBG/NBD), the
//! customer drops out for good with probability p.
//!
//! The draws are `rand_distr`'s (Marsaglia-Tsang Gamma, Cheng's Beta, Ziggurat exponential)
//! from any `rand_core` generator, so the caller keeps its own deterministic stream.

use rand_core::Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use super::model::{Model, Params};

/// One simulated customer's hidden traits and whether it is still alive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Buyer {
    model: Model,
    /// Transactions per time unit while alive.
    lambda: f64,
    /// The probability of dropping out at each chance.
    p: f64,
    /// Transactions so far (the first included).
    transactions: u32,
    alive: bool,
}

/// Parameters a distribution refuses (not finite and > 0).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the model's parameters must all be finite numbers above 0")]
pub struct InvalidParams;

impl Buyer {
    /// Draws a customer's lambda and p. Their first transaction is the caller's to place.
    pub fn draw<R: Rng + ?Sized>(
        params: &Params,
        model: Model,
        rng: &mut R,
    ) -> Result<Buyer, InvalidParams> {
        if !params.are_valid() {
            return Err(InvalidParams);
        }
        let gamma = Gamma::new(params.r, 1.0 / params.alpha).map_err(|_| InvalidParams)?;
        let beta = Beta::new(params.a, params.b).map_err(|_| InvalidParams)?;
        Ok(Buyer {
            model,
            lambda: gamma.sample(rng),
            p: beta.sample(rng),
            transactions: 0,
            alive: true,
        })
    }

    /// Records a transaction; the customer may drop out right after it.
    pub fn transact<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.transactions = self.transactions.saturating_add(1);
        let may_drop_out = match self.model {
            Model::BgNbd => self.transactions >= 2,
            Model::MbgNbd => true,
        };
        if self.alive && may_drop_out && uniform(rng) < self.p {
            self.alive = false;
        }
    }

    /// The time (in units) from the latest transaction to the next, or `None` once the
    /// customer has dropped out (or its rate is 0).
    pub fn next_gap<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<f64> {
        if !self.alive {
            return None;
        }
        Exp::new(self.lambda).ok().map(|exp| exp.sample(rng))
    }

    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// The drawn purchase rate (per unit).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
}

/// Uniform in [0, 1), from the top 53 bits.
fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in generator for the tests (SplitMix64, as `generate` uses).
    struct SplitMix(u64);

    impl rand_core::TryRng for SplitMix {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok((self.try_next_u64()? >> 32) as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Ok(z ^ (z >> 31))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for chunk in dst.chunks_mut(8) {
                let bytes = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            Ok(())
        }
    }

    const PARAMS: Params = Params {
        r: 2.0,
        alpha: 4.0,
        a: 1.0,
        b: 3.0,
    };

    #[test]
    fn refuses_parameters_the_models_do_not_have() {
        let mut rng = SplitMix(1);
        let bad = Params { r: 0.0, ..PARAMS };
        assert_eq!(
            Buyer::draw(&bad, Model::BgNbd, &mut rng),
            Err(InvalidParams)
        );
    }

    #[test]
    fn rates_and_drop_outs_have_the_models_means() {
        // E[lambda] = r / alpha = 0.5, E[p] = a / (a + b) = 0.25. Over 20000 draws the
        // standard errors are sqrt(r)/alpha/sqrt(n) = 0.0025 and ~0.0014: 5 of them allowed.
        let mut rng = SplitMix(42);
        let n = 20_000;
        let (mut lambda, mut p) = (0.0, 0.0);
        for _ in 0..n {
            let b = Buyer::draw(&PARAMS, Model::BgNbd, &mut rng).unwrap();
            lambda += b.lambda;
            p += b.p;
        }
        assert!(
            (lambda / f64::from(n) - 0.5).abs() < 5.0 * 0.0025,
            "{lambda}"
        );
        assert!((p / f64::from(n) - 0.25).abs() < 5.0 * 0.0014, "{p}");
    }

    #[test]
    fn bg_nbd_customers_survive_their_first_transaction_mbg_nbd_ones_may_not() {
        let certain = Params {
            a: 1e6,
            b: 1e-6,
            ..PARAMS
        }; // p = 1
        let mut rng = SplitMix(7);
        let mut bg = Buyer::draw(&certain, Model::BgNbd, &mut rng).unwrap();
        bg.transact(&mut rng);
        assert!(bg.is_alive() && bg.next_gap(&mut rng).is_some());
        bg.transact(&mut rng);
        assert!(!bg.is_alive() && bg.next_gap(&mut rng).is_none());
        let mut mbg = Buyer::draw(&certain, Model::MbgNbd, &mut rng).unwrap();
        mbg.transact(&mut rng);
        assert!(!mbg.is_alive());
    }

    #[test]
    fn gaps_are_exponential_with_the_customers_rate() {
        let mut rng = SplitMix(3);
        let buyer = Buyer::draw(&PARAMS, Model::BgNbd, &mut rng).unwrap();
        let n = 20_000;
        let mean = (0..n)
            .map(|_| buyer.next_gap(&mut rng).unwrap())
            .sum::<f64>()
            / f64::from(n);
        // Mean 1/lambda, standard error 1/lambda/sqrt(n).
        let want = 1.0 / buyer.lambda();
        assert!(
            (mean - want).abs() < 5.0 * want / f64::from(n).sqrt(),
            "{mean} vs {want}"
        );
    }
}
