//! Sampling options a modality declares (`--atoms 19`, `--format both`).
//!
//! A modality lists its options as [`OptionSpec`]s; the CLI turns them into flags, lists
//! them in `--help` and `diffgen modalities --options`, and hands the values back as
//! [`OptionValues`], already checked against their kind and range. The CLI itself names no
//! modality's option.

use std::collections::BTreeMap;
use std::fmt;

use crate::CoreError;

/// What values an option takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionKind {
    /// A whole number in `min..=max`.
    Count {
        /// The smallest value accepted.
        min: usize,
        /// The largest value accepted.
        max: usize,
    },
    /// A finite number in `min..=max`.
    Number {
        /// The smallest value accepted.
        min: f64,
        /// The largest value accepted.
        max: f64,
    },
    /// `true`/`false` (also `yes`/`no`, `1`/`0`).
    Flag,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// Free text, checked by the modality.
    Text,
}

impl fmt::Display for OptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionKind::Count { min, max } => write!(f, "integer {min}–{max}"),
            OptionKind::Number { min, max } => write!(f, "number {min}–{max}"),
            OptionKind::Flag => f.write_str("true/false"),
            OptionKind::Choice(words) => f.write_str(&words.join("|")),
            OptionKind::Text => f.write_str("text"),
        }
    }
}

/// One declared option.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionSpec {
    /// The key (`--<name>` or `--opt <name>=…`).
    pub name: &'static str,
    /// The values it takes.
    pub kind: OptionKind,
    /// What happens when it is not given, in words (`"drawn from the training lengths"`).
    pub default: &'static str,
    /// What it does, in one line.
    pub help: &'static str,
}

impl OptionSpec {
    /// The one-line description the CLI shows: help, kind and default.
    pub fn describe(&self) -> String {
        format!("{} [{}; default: {}]", self.help, self.kind, self.default)
    }

    fn check(&self, value: &str) -> Result<String, CoreError> {
        let bad = |reason: String| CoreError::setting(self.name, reason);
        let value = value.trim();
        match self.kind {
            OptionKind::Count { min, max } => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(format!("`{value}` is not a whole number")))?;
                if !(min..=max).contains(&n) {
                    return Err(bad(format!("{n} is outside {min}–{max}")));
                }
                Ok(n.to_string())
            }
            OptionKind::Number { min, max } => {
                let x: f64 = value
                    .parse()
                    .map_err(|_| bad(format!("`{value}` is not a number")))?;
                if !x.is_finite() || x < min || x > max {
                    return Err(bad(format!("{value} is outside {min}–{max}")));
                }
                Ok(value.to_string())
            }
            OptionKind::Flag => match value {
                "true" | "yes" | "1" | "" => Ok("true".into()),
                "false" | "no" | "0" => Ok("false".into()),
                _ => Err(bad(format!("`{value}` is not true/false"))),
            },
            OptionKind::Choice(words) => words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(value))
                .map(|w| w.to_string())
                .ok_or_else(|| bad(format!("`{value}`: expected {}", words.join(", ")))),
            OptionKind::Text => Ok(value.to_string()),
        }
    }
}

/// Option values checked against their declarations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionValues {
    values: BTreeMap<String, String>,
}

impl OptionValues {
    /// Checks `raw` against `specs`: an unknown key or a value of the wrong kind is an error
    /// naming the option and listing what is known.
    pub fn parse(
        modality: &str,
        specs: &[OptionSpec],
        raw: &BTreeMap<String, String>,
    ) -> Result<Self, CoreError> {
        let mut values = BTreeMap::new();
        for (key, value) in raw {
            let spec = specs.iter().find(|s| s.name == key).ok_or_else(|| {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                CoreError::setting(
                    key,
                    format!(
                        "unknown for the {modality} modality (known: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
            values.insert(key.clone(), spec.check(value)?);
        }
        Ok(Self { values })
    }

    /// A count option's value.
    pub fn count(&self, name: &str) -> Option<usize> {
        self.values.get(name).and_then(|v| v.parse().ok())
    }

    /// A number option's value.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.values.get(name).and_then(|v| v.parse().ok())
    }

    /// A flag's value.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.values.get(name).map(|v| v == "true")
    }

    /// A choice's or text option's value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every value given, by name.
    pub fn given(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec {
            name: "length",
            kind: OptionKind::Count { min: 3, max: 10 },
            default: "drawn",
            help: "residues",
        },
        OptionSpec {
            name: "format",
            kind: OptionKind::Choice(&["pdb", "cif"]),
            default: "pdb",
            help: "file format",
        },
        OptionSpec {
            name: "gif",
            kind: OptionKind::Flag,
            default: "true",
            help: "write a GIF",
        },
    ];

    fn parse(pairs: &[(&str, &str)]) -> Result<OptionValues, CoreError> {
        let raw = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OptionValues::parse("test", SPECS, &raw)
    }

    #[test]
    fn values_are_checked_against_their_kind_and_range() {
        let v = parse(&[("length", "7"), ("format", "CIF"), ("gif", "no")]).unwrap();
        assert_eq!(v.count("length"), Some(7));
        assert_eq!(v.text("format"), Some("cif"));
        assert_eq!(v.flag("gif"), Some(false));
        for bad in [
            ("length", "2"),
            ("length", "x"),
            ("format", "xyz"),
            ("gif", "maybe"),
        ] {
            let e = parse(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad.0), "{e}");
        }
        let e = parse(&[("colour", "red")]).unwrap_err().to_string();
        assert!(e.contains("known: length, format, gif"), "{e}");
    }

    #[test]
    fn numbers_must_be_finite() {
        let specs = [OptionSpec {
            name: "scale",
            kind: OptionKind::Number {
                min: 0.0,
                max: 10.0,
            },
            default: "1",
            help: "",
        }];
        let raw = |v: &str| [("scale".to_string(), v.to_string())].into();
        assert!(OptionValues::parse("t", &specs, &raw("nan")).is_err());
        assert!(OptionValues::parse("t", &specs, &raw("inf")).is_err());
        assert_eq!(
            OptionValues::parse("t", &specs, &raw("2.5"))
                .unwrap()
                .number("scale"),
            Some(2.5)
        );
    }
}
