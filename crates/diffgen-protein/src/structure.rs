//! A protein backbone: N, CA, C, O per residue, in Å.

use nalgebra::Vector3;

/// A position or displacement, Å.
pub type Vec3 = Vector3<f64>;

/// One continuous chain segment with all four backbone atoms on every residue.
#[derive(Debug, Clone, PartialEq)]
pub struct Backbone {
    /// Where it came from (domain id, `file:chain:segment`, or `sample_0003`).
    pub id: String,
    /// Amide N per residue (Å).
    pub n: Vec<Vec3>,
    /// Cα per residue (Å); its length is the residue count.
    pub ca: Vec<Vec3>,
    /// Carbonyl C per residue (Å).
    pub c: Vec<Vec3>,
    /// Carbonyl O per residue (Å).
    pub o: Vec<Vec3>,
    /// One-letter codes when known (`X` unknown).
    pub sequence: Option<String>,
    /// Stored DSSP 8-state string when known (shared data set only).
    pub dssp: Option<String>,
}

impl Backbone {
    /// Number of residues.
    pub fn len(&self) -> usize {
        self.ca.len()
    }

    /// Whether it has no residues.
    pub fn is_empty(&self) -> bool {
        self.ca.is_empty()
    }

    /// Residues `range` as a new backbone (a crop).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Backbone {
        let cut = |s: &Option<String>| {
            s.as_ref()
                .map(|s| s.chars().skip(range.start).take(range.len()).collect())
        };
        Backbone {
            id: format!("{}[{}..{}]", self.id, range.start, range.end),
            n: self.n[range.clone()].to_vec(),
            ca: self.ca[range.clone()].to_vec(),
            c: self.c[range.clone()].to_vec(),
            o: self.o[range.clone()].to_vec(),
            sequence: cut(&self.sequence),
            dssp: cut(&self.dssp),
        }
    }
}
