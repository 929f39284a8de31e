//! 費用按分 (cost allocation): the platform's monthly cost shared between its tenants by equal
//! share, by population (residents registered), by usage (queries sent and answered: the
//! traffic, 000 §3.3), or by a weighted mix of the three set per consortium. Shares are exact
//! fractions, computed in integers; each is rounded down to the yen and the yen left over go
//! one each to the largest remainders (最大剰余法), ties by tenant id, so the statement always
//! adds up to the cost.

use serde::{Deserialize, Serialize};

/// The rounding rule, as the statement prints it.
pub const ROUNDING_RULE: &str = "各団体の按分額の1円未満を切り捨て、切り捨てで残った円を端数の大きい団体から1円ずつ配分する（最大剰余法。端数が等しいときは団体IDの順）。";

/// How much each basis weighs in the mix (e.g. 1:1:2); the default is an equal share alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub equal: u32,
    pub population: u32,
    pub usage: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { equal: 1, population: 0, usage: 0 }
    }
}

impl Weights {
    /// `E:P:U`, three whole numbers up to 1000 (e.g. `1:1:2`), as a consortium's are stored.
    pub fn parse(text: &str) -> Option<Weights> {
        let parts: Vec<Option<u32>> = text.split(':').map(|p| p.trim().parse().ok().filter(|n| *n <= 1000)).collect();
        match parts[..] {
            [Some(equal), Some(population), Some(usage)] => Some(Weights { equal, population, usage }),
            _ => None,
        }
    }
}

/// What a tenant's month measured, for its share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub tenant: String,
    /// Residents registered (住民数).
    pub population: u64,
    /// Queries sent and answered.
    pub usage: u64,
}

/// A tenant's share of the cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Share {
    pub tenant: String,
    pub yen: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("there is no tenant to share the cost between")]
    NoTenants,
    #[error("the weights are all zero: give at least one basis a weight")]
    NoWeight,
    #[error("the figures are too large to share exactly")]
    TooLarge,
}

/// Shares `cost` yen between `measured` by `weights`. A basis whose total is zero (no usage at
/// all in the month) shares its weight equally.
pub fn allocate(cost: u64, weights: Weights, measured: &[Measured]) -> Result<Vec<Share>, AllocationError> {
    if measured.is_empty() {
        return Err(AllocationError::NoTenants);
    }
    let n = measured.len() as u128;
    let w = [weights.equal, weights.population, weights.usage].map(u128::from);
    let weight_sum: u128 = w.iter().sum();
    if weight_sum == 0 {
        return Err(AllocationError::NoWeight);
    }
    let totals = [n, measured.iter().map(|m| u128::from(m.population)).sum(), measured.iter().map(|m| u128::from(m.usage)).sum()];
    // Each tenant's part of a basis: x / total, or 1 / n when the total is zero.
    let part = |m: &Measured, k: usize| -> (u128, u128) {
        let x = [1, u128::from(m.population), u128::from(m.usage)][k];
        if totals[k] == 0 { (1, n) } else { (x, totals[k]) }
    };
    let mul = |a: u128, b: u128| a.checked_mul(b).ok_or(AllocationError::TooLarge);
    // share = cost × Σ_k w_k × x_k / T_k / W, over the common denominator W × Π T_k.
    let mut denominator = weight_sum;
    for k in (0..3).filter(|&k| w[k] > 0) {
        denominator = mul(denominator, part(&measured[0], k).1)?;
    }
    let mut exact = Vec::with_capacity(measured.len());
    for m in measured {
        let mut numerator: u128 = 0;
        for k in (0..3).filter(|&k| w[k] > 0) {
            let (x, t) = part(m, k);
            let term = mul(mul(w[k], x)?, denominator / weight_sum / t)?;
            numerator = numerator.checked_add(term).ok_or(AllocationError::TooLarge)?;
        }
        exact.push(mul(numerator, u128::from(cost))?);
    }
    let mut shares: Vec<(usize, u128, u128)> = exact.iter().enumerate().map(|(i, e)| (i, e / denominator, e % denominator)).collect();
    let given: u128 = shares.iter().map(|s| s.1).sum();
    let mut left = u128::from(cost) - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then_with(|| measured[a].tenant.cmp(&measured[b].tenant)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    Ok(shares.into_iter().map(|(i, yen, _)| Share { tenant: measured[i].tenant.clone(), yen: yen as u64 }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(tenant: &str, population: u64, usage: u64) -> Measured {
        Measured { tenant: tenant.into(), population, usage }
    }

    fn yen(shares: &[Share]) -> Vec<u64> {
        shares.iter().map(|s| s.yen).collect()
    }

    #[test]
    fn an_equal_share_of_a_cost_that_does_not_divide_gives_the_odd_yen_by_tenant_id() {
        let s = allocate(100, Weights::default(), &[m("c", 1, 1), m("a", 1, 1), m("b", 1, 1)]).expect("shares");
        assert_eq!(yen(&s), vec![33, 34, 33], "a first among equal remainders");
    }

    #[test]
    fn by_population_and_by_usage_the_shares_follow_the_figures_and_add_up() {
        let tenants = [m("a", 1_000, 10), m("b", 3_000, 0), m("c", 6_000, 90)];
        let by_pop = allocate(1_000_000, Weights { equal: 0, population: 1, usage: 0 }, &tenants).expect("shares");
        assert_eq!(yen(&by_pop), vec![100_000, 300_000, 600_000]);
        let by_use = allocate(1_000_000, Weights { equal: 0, population: 0, usage: 1 }, &tenants).expect("shares");
        assert_eq!(yen(&by_use), vec![100_000, 0, 900_000]);
        // Half equal, half usage: a gets 1/6 + 1/20 of it.
        let mixed = allocate(999_999, Weights { equal: 1, population: 0, usage: 1 }, &tenants).expect("shares");
        assert_eq!(yen(&mixed).iter().sum::<u64>(), 999_999);
        assert_eq!(mixed[0].yen, 216_666, "999 999 × 13/60 = 216 666.45, rounded down");
    }

    #[test]
    fn the_total_is_the_cost_to_the_yen_whatever_the_figures() {
        let tenants: Vec<Measured> = (0..37).map(|i| m(&format!("t{i:02}"), 1 + i * 7919 % 1000, i * 104_729 % 997)).collect();
        for cost in [0, 1, 36, 37, 1_234_567, 98_765_432_101] {
            for w in [Weights::default(), Weights { equal: 1, population: 2, usage: 3 }, Weights { equal: 0, population: 0, usage: 1 }] {
                let s = allocate(cost, w, &tenants).expect("shares");
                assert_eq!(s.iter().map(|s| s.yen).sum::<u64>(), cost, "{cost} {w:?}");
            }
        }
    }

    #[test]
    fn a_basis_with_no_figures_is_shared_equally_and_nonsense_is_refused() {
        let s = allocate(90, Weights { equal: 0, population: 0, usage: 1 }, &[m("a", 1, 0), m("b", 1, 0), m("c", 1, 0)]).expect("shares");
        assert_eq!(yen(&s), vec![30, 30, 30]);
        assert_eq!(allocate(90, Weights::default(), &[]), Err(AllocationError::NoTenants));
        assert_eq!(allocate(90, Weights { equal: 0, population: 0, usage: 0 }, &[m("a", 1, 1)]), Err(AllocationError::NoWeight));
    }
}
