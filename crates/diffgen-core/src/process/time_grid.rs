//! Where a flow sampler spends its network calls along t ∈ [0, 1].
//!
//! Evenly spaced steps are the default. A model whose samples are decided in fine detail near
//! the data (a protein's 3.8 Å between neighbouring Cα, a bond length) gains from steps that
//! crowd there: `power:p` visits t_k = (k/N)^p, which for p = 2 puts a quarter of the steps
//! below t = 0.0625 (Proteina samples on such a grid; EDM's ρ-spacing is the same idea for
//! noise levels).

use std::fmt;
use std::str::FromStr;

/// The times a sampler visits (`--time-grid`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TimeGrid {
    /// t_k = k/N.
    #[default]
    Uniform,
    /// t_k = (k/N)^p with p ≥ 1: denser toward the data as p grows.
    Power(f64),
}

/// The largest exponent accepted: beyond it the first step from the prior covers nearly all
/// of [0, 1] at once.
const MAX_EXPONENT: f64 = 10.0;

impl TimeGrid {
    /// `steps + 1` times from the prior (1) down to the data (0).
    pub fn points(&self, steps: usize) -> Vec<f64> {
        let n = steps as f64;
        (0..=steps)
            .rev()
            .map(|k| match self {
                TimeGrid::Uniform => k as f64 / n,
                TimeGrid::Power(p) => (k as f64 / n).powf(*p),
            })
            .collect()
    }
}

impl FromStr for TimeGrid {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("unknown time grid `{s}`; expected `uniform` or `power:<p>`");
        match s.trim().split_once(':') {
            None if s.trim() == "uniform" => Ok(TimeGrid::Uniform),
            Some(("power", p)) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (1.0..=MAX_EXPONENT).contains(p))
                .map(TimeGrid::Power)
                .ok_or_else(|| {
                    format!(
                        "bad time-grid exponent `{p}`; expected a number in [1, {MAX_EXPONENT}]"
                    )
                }),
            _ => Err(bad()),
        }
    }
}

impl TimeGrid {
    /// Whether this is the default (serde's `skip_serializing_if`).
    pub fn is_uniform(&self) -> bool {
        *self == TimeGrid::Uniform
    }
}

impl serde::Serialize for TimeGrid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for TimeGrid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TimeGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeGrid::Uniform => write!(f, "uniform"),
            TimeGrid::Power(p) => write!(f, "power:{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_grid_crowds_toward_the_data() {
        let grid: TimeGrid = "power:2".parse().unwrap();
        assert_eq!(grid.points(4), vec![1.0, 0.5625, 0.25, 0.0625, 0.0]);
        assert_eq!(TimeGrid::Uniform.points(4), vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        assert_eq!(
            "power:1".parse::<TimeGrid>().unwrap().points(7),
            TimeGrid::Uniform.points(7)
        );
        assert_eq!(grid.to_string().parse::<TimeGrid>().unwrap(), grid);
    }

    #[test]
    fn bad_grids_are_refused_with_the_reason() {
        for bad in [
            "power:0.5",
            "power:nan",
            "power:inf",
            "power:",
            "cosine",
            "power",
        ] {
            let err = bad.parse::<TimeGrid>().unwrap_err();
            assert!(
                err.contains("time grid") || err.contains("time-grid"),
                "{bad}: {err}"
            );
        }
    }
}
