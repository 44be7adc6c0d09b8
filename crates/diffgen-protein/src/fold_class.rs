//! A chain's fold class from its secondary structure: the top level of CATH's hierarchy
//! (mainly α, mainly β, α/β, few secondary structures), approximated from DSSP as the shared
//! data set's `ss_class` is. Proteina conditions on CATH classes and guides toward one with
//! classifier-free guidance; an unconditional model that under-produces β-sheets can be
//! steered toward them so.

use std::fmt;

use crate::dssp::three_state;

/// Classes a fold-class model's label embedding knows; the null label is this index.
pub const FOLD_CLASSES: usize = FoldClass::ALL.len();

/// The four classes, in the order of the model's label embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FoldClass {
    /// Helix ≥ 30 % and strand < 10 %.
    MainlyAlpha,
    /// Strand ≥ 20 % and helix < 10 %.
    MainlyBeta,
    /// Everything else with at least 20 % in helices and strands.
    AlphaBeta,
    /// Helix and strand together under 20 %.
    FewSecondaryStructure,
}

impl FoldClass {
    /// Every class, by label index.
    pub const ALL: [FoldClass; 4] = [
        FoldClass::MainlyAlpha,
        FoldClass::MainlyBeta,
        FoldClass::AlphaBeta,
        FoldClass::FewSecondaryStructure,
    ];

    /// The class of a DSSP 8-state string, by the data set's rule: helix = H, G, I and
    /// strand = E, B, as fractions of the residues.
    pub fn of_dssp(dssp: &str) -> Self {
        let (mut helix, mut strand, mut all) = (0usize, 0usize, 0usize);
        for c in dssp.chars() {
            match three_state(c) {
                'H' => helix += 1,
                'E' => strand += 1,
                _ => {}
            }
            all += 1;
        }
        let total = all.max(1) as f64;
        let (h, e) = (helix as f64 / total, strand as f64 / total);
        if h >= 0.3 && e < 0.1 {
            FoldClass::MainlyAlpha
        } else if e >= 0.2 && h < 0.1 {
            FoldClass::MainlyBeta
        } else if h + e < 0.2 {
            FoldClass::FewSecondaryStructure
        } else {
            FoldClass::AlphaBeta
        }
    }

    /// Its label index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The data set's name for it (`mainly_beta`).
    pub fn name(self) -> &'static str {
        match self {
            FoldClass::MainlyAlpha => "mainly_alpha",
            FoldClass::MainlyBeta => "mainly_beta",
            FoldClass::AlphaBeta => "alpha_beta",
            FoldClass::FewSecondaryStructure => "few_ss",
        }
    }

    /// The class named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for FoldClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_draws_its_borders_where_the_data_set_does() {
        // 30 % helix, no strand: mainly α; one helix residue fewer: α/β.
        assert_eq!(FoldClass::of_dssp("HHH-------"), FoldClass::MainlyAlpha);
        assert_eq!(FoldClass::of_dssp("HH-E------"), FoldClass::AlphaBeta);
        // G and I count as helix, B as strand.
        assert_eq!(FoldClass::of_dssp("GGI-------"), FoldClass::MainlyAlpha);
        assert_eq!(FoldClass::of_dssp("EB--------"), FoldClass::MainlyBeta);
        assert_eq!(
            FoldClass::of_dssp("E-TTSS----"),
            FoldClass::FewSecondaryStructure
        );
        // 10 % helix is too much for mainly β.
        assert_eq!(FoldClass::of_dssp("EE--------"), FoldClass::MainlyBeta);
        assert_eq!(FoldClass::of_dssp("EEH-------"), FoldClass::AlphaBeta);
        for class in FoldClass::ALL {
            assert_eq!(FoldClass::parse(class.name()), Some(class));
            assert_eq!(FoldClass::ALL[class.index()], class);
        }
        assert_eq!(FoldClass::parse("beta"), None);
    }

    #[test]
    fn the_option_offers_exactly_the_classes() {
        let spec = crate::CA_OPTIONS
            .iter()
            .find(|o| o.name == "fold_class")
            .expect("a fold_class option");
        let diffgen_core::pipeline::OptionKind::Choice(choices) = spec.kind else {
            panic!("fold_class is not a choice");
        };
        let names: Vec<&str> = FoldClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(choices, names.as_slice());
    }
}
