//! Reading backbones: the shared CATH data set (gzip JSON Lines) and users' PDB/mmCIF files
//! through pdbtbx.
//!
//! Structure files are cut down to what the modality models: one continuous run of residues
//! that all have N, CA, C and O. Anything else (missing atoms, chain breaks, ligands) is
//! handled here, once, and reported as warnings the caller can show or log.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use diffgen_core::error::quiet_catch_unwind;
use serde::Deserialize;

use crate::error::ProteinError;
use crate::structure::{Backbone, Vec3};

/// The data set, relative to the data root (`--data`, `$DIFFGEN_DATA`, `../shared/datasets`).
pub const SHARED_FILE: &str = "proteins/cath_s40_bb_40-256.jsonl.gz";

/// The data set's splits: the names [`load_split`] accepts.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// Largest C_i–N_{i+1} peptide bond length (Å) read as bonded; the data set's filter too.
pub const MAX_PEPTIDE_BOND: f64 = 2.0;
/// Largest consecutive CA–CA distance (Å) read as bonded; the data set's filter too.
pub const MAX_CA_CA: f64 = 4.2;

#[derive(Deserialize)]
struct SplitOnly {
    split: String,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    split: String,
    #[serde(default)]
    sequence: Option<String>,
    #[serde(default)]
    dssp: Option<String>,
    coords: Coords,
}

#[derive(Deserialize)]
struct Coords {
    #[serde(rename = "N")]
    n: Vec<[f64; 3]>,
    #[serde(rename = "CA")]
    ca: Vec<[f64; 3]>,
    #[serde(rename = "C")]
    c: Vec<[f64; 3]>,
    #[serde(rename = "O")]
    o: Vec<[f64; 3]>,
}

fn to_vec3(points: &[[f64; 3]]) -> Vec<Vec3> {
    points.iter().map(|p| Vec3::new(p[0], p[1], p[2])).collect()
}

impl Record {
    fn into_backbone(self) -> Result<Backbone, String> {
        let l = self.coords.ca.len();
        if l == 0 {
            return Err(format!("domain {}: no residues", self.id));
        }
        for (name, len) in [
            ("N", self.coords.n.len()),
            ("C", self.coords.c.len()),
            ("O", self.coords.o.len()),
        ] {
            if len != l {
                return Err(format!(
                    "domain {}: {len} {name} atoms for {l} CA atoms",
                    self.id
                ));
            }
        }
        for (name, s) in [("sequence", &self.sequence), ("dssp", &self.dssp)] {
            if let Some(s) = s {
                if s.chars().count() != l {
                    return Err(format!(
                        "domain {}: {name} has {} characters for {l} residues",
                        self.id,
                        s.chars().count()
                    ));
                }
            }
        }
        let c = &self.coords;
        if [&c.n, &c.ca, &c.c, &c.o]
            .iter()
            .any(|v| v.iter().flatten().any(|x| !x.is_finite()))
        {
            return Err(format!("domain {}: non-finite coordinate", self.id));
        }
        Ok(Backbone {
            id: self.id,
            n: to_vec3(&c.n),
            ca: to_vec3(&c.ca),
            c: to_vec3(&c.c),
            o: to_vec3(&c.o),
            sequence: self.sequence,
            dssp: self.dssp,
        })
    }
}

/// Domains of one split ("train" | "valid" | "test") from `<data_root>/` [`SHARED_FILE`],
/// in file order, keeping the records whose `split` field names it (it equals splits.json).
/// Errors name the file and the line.
pub fn load_split(data_root: &Path, split: &str) -> Result<Vec<Backbone>, ProteinError> {
    if !SPLITS.contains(&split) {
        return Err(ProteinError::setting(
            "split",
            format!("`{split}` is not one of train, valid, test"),
        ));
    }
    let path = data_root.join(SHARED_FILE);
    let file = std::fs::File::open(&path).map_err(|e| ProteinError::io(&path, e))?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for (k, line) in reader.lines().enumerate() {
        let line_no = k + 1;
        let parse_error = |reason: String| ProteinError::Parse {
            path: path.clone(),
            line: line_no,
            reason,
        };
        let line = line.map_err(|e| parse_error(format!("cannot read (truncated gzip?): {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        // Most lines belong to another split: look at `split` before parsing coordinates.
        let head: SplitOnly =
            serde_json::from_str(&line).map_err(|e| parse_error(e.to_string()))?;
        if head.split != split {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|e| parse_error(e.to_string()))?;
        debug_assert_eq!(record.split, split);
        out.push(record.into_backbone().map_err(parse_error)?);
    }
    Ok(out)
}

/// One-letter code of a residue name; modified residues map to their parent, others to `X`.
pub fn one_letter(name: &str) -> char {
    match name.trim().to_ascii_uppercase().as_str() {
        "ALA" => 'A',
        "ARG" => 'R',
        "ASN" => 'N',
        "ASP" => 'D',
        "CYS" | "CSO" | "CSD" | "CME" => 'C',
        "GLN" => 'Q',
        "GLU" | "PCA" => 'E',
        "GLY" => 'G',
        "HIS" | "HSD" | "HSE" | "HIE" | "HID" => 'H',
        "ILE" => 'I',
        "LEU" => 'L',
        "LYS" | "MLY" | "KCX" => 'K',
        "MET" | "MSE" => 'M',
        "PHE" => 'F',
        "PRO" | "HYP" => 'P',
        "SER" | "SEP" => 'S',
        "THR" | "TPO" => 'T',
        "TRP" => 'W',
        "TYR" | "PTR" => 'Y',
        "VAL" => 'V',
        _ => 'X',
    }
}

/// The two structure formats read through pdbtbx.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    /// PDB: `.pdb`, `.ent`, `.pdb1`, and any file not recognised as mmCIF.
    Pdb,
    /// mmCIF: `.cif`, `.mmcif`, or content that starts with `data_`.
    Mmcif,
}

/// Format from the file name (a `.gz` suffix aside); an unknown extension is sniffed from
/// the content (mmCIF files start with `data_`). Compression is decided by [`read_bytes`].
fn format_of(path: &Path, text_start: &[u8]) -> Format {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".cif") || name.ends_with(".mmcif") {
        return Format::Mmcif;
    }
    if name.ends_with(".pdb") || name.ends_with(".ent") || name.ends_with(".pdb1") {
        return Format::Pdb;
    }
    let text = String::from_utf8_lossy(&text_start[..text_start.len().min(4096)]);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    if first.is_some_and(|l| l.starts_with("data_")) {
        Format::Mmcif
    } else {
        Format::Pdb
    }
}

/// The file's bytes, gunzipped when they are gzip (by magic number, whatever the name).
fn read_bytes(path: &Path) -> Result<Vec<u8>, ProteinError> {
    let raw = std::fs::read(path).map_err(|e| ProteinError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| ProteinError::structure(path, format!("cannot decompress: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Line number and text of a pdbtbx error context, if it points into the file.
fn context_line(context: &pdbtbx::Context) -> Option<(usize, String)> {
    use pdbtbx::Context as C;
    match context {
        C::FullLine { linenumber, line }
        | C::Line {
            linenumber, line, ..
        } => Some((*linenumber, line.clone())),
        C::Range {
            start_linenumber,
            lines,
            ..
        }
        | C::RangeHighlights {
            start_linenumber,
            lines,
            ..
        } => Some((
            *start_linenumber,
            lines.first().cloned().unwrap_or_default(),
        )),
        C::Multiple { contexts } => contexts.iter().find_map(|(_, c)| context_line(c)),
        C::None | C::Show { .. } => None,
    }
}

/// One pdbtbx error on one line: where, its title and its explanation.
fn describe(e: &pdbtbx::PDBError) -> String {
    let what = format!("{} ({})", e.short_description(), e.long_description());
    match context_line(e.context()) {
        Some((line, text)) => {
            let text: String = text.trim_end().chars().take(80).collect();
            format!("line {line}: {what}: `{text}`")
        }
        None => what,
    }
}

/// Parses with pdbtbx what [`prepare_text`] has checked and cut down, so that pdbtbx sees
/// nothing it is known to panic on; errors name the file and, where there is one, the line.
/// pdbtbx is still not promised panic-free on arbitrary input, so a remaining panic is
/// caught — silently, see [`quiet_catch_unwind`] — and turned into an error naming the file.
fn parse(path: &Path, bytes: &[u8]) -> Result<(pdbtbx::PDB, Vec<String>), ProteinError> {
    let format = format_of(path, bytes);
    let text = prepare_text(path, bytes, format)?;
    let mut options = pdbtbx::ReadOptions::new();
    options
        .set_format(match format {
            Format::Pdb => pdbtbx::Format::Pdb,
            Format::Mmcif => pdbtbx::Format::Mmcif,
        })
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .set_only_first_model(true)
        // Only ATOM/HETATM/MODEL/TER/END records are used: the others (HEADER, CRYST1,
        // SCALE, ANISOU, …) are not handed to pdbtbx's lexers at all.
        .set_only_atomic_coords(true);
    let result = quiet_catch_unwind(|| options.read_raw(BufReader::new(text.as_bytes())));
    let kind = match format {
        Format::Pdb => "PDB",
        Format::Mmcif => "mmCIF",
    };
    match result {
        Err(panic) => Err(ProteinError::structure(
            path,
            format!("the {kind} reader (pdbtbx) failed on this file ({panic}); it is malformed"),
        )),
        Ok(Err(errors)) => {
            let list: Vec<String> = errors
                .iter()
                .filter(|e| e.fails(pdbtbx::StrictnessLevel::Loose))
                .take(3)
                .map(describe)
                .collect();
            let list = if list.is_empty() {
                errors.iter().take(3).map(describe).collect()
            } else {
                list
            };
            Err(ProteinError::structure(
                path,
                format!("not a readable {kind} file: {}", list.join("; ")),
            ))
        }
        Ok(Ok((pdb, _warnings))) => Ok((pdb, Vec::new())),
    }
}

/// Checks a structure file's text before pdbtbx sees it and returns the text to give it;
/// errors name the file and line.
///
/// * The text must be UTF-8.
/// * PDB: every line ASCII (the format is; pdbtbx slices lines by byte and panics on a
///   multi-byte character). In ATOM/HETATM records: no control characters, a residue name,
///   finite coordinates, occupancy and B-factor where they are numbers, and an occupancy
///   that is not negative (pdbtbx panics on each of these). The text is passed on whole.
/// * mmCIF: ASCII without control characters (tabs and line ends aside), lexed as pdbtbx
///   lexes it ([`mmcif`]); in the atom table (`_atom_site` with `group_PDB`), a whole
///   number of rows, the columns pdbtbx requires, and in every row the values pdbtbx takes
///   as present (`id` an unsigned integer; `type_symbol`, `label_atom_id`, `label_comp_id`
///   and a chain id given; `Cartn_x/y/z` finite numbers; occupancy and B-factor finite and
///   occupancy not negative when given). Only the data block's atom tables are passed on:
///   pdbtbx `expect`s values of other categories (`_cell.length_a ?` panics) that a
///   backbone does not need.
/// * A file without any atom is an error.
fn prepare_text(path: &Path, bytes: &[u8], format: Format) -> Result<String, ProteinError> {
    let bad = |line: usize, reason: String| ProteinError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        bad(line, "not UTF-8 text".into())
    })?;
    let (text, atoms) = match format {
        Format::Pdb => (text.to_string(), check_pdb(text, &bad)?),
        Format::Mmcif => mmcif::atom_tables(text, &bad)?,
    };
    if atoms == 0 {
        return Err(ProteinError::structure(
            path,
            match format {
                Format::Pdb => "no atoms in the file (no ATOM/HETATM records)",
                Format::Mmcif => "no atoms in the file (no `_atom_site` rows)",
            },
        ));
    }
    Ok(text)
}

/// Which ASCII control characters [`bad_character`] refuses.
#[derive(Clone, Copy, PartialEq)]
enum Controls {
    Allowed,
    /// All but the tab (mmCIF: whitespace).
    NoneButTab,
    None,
}

/// The first character of `line` that is not ASCII, or an ASCII control character that
/// `controls` refuses: its 1-based column and what it is.
fn bad_character(line: &str, controls: Controls) -> Option<(usize, &'static str)> {
    line.chars().enumerate().find_map(|(k, c)| {
        if !c.is_ascii() {
            Some((k + 1, "non-ASCII character"))
        } else if c.is_ascii_control()
            && (controls == Controls::None || (controls == Controls::NoneButTab && c != '\t'))
        {
            Some((k + 1, "control character"))
        } else {
            None
        }
    })
}

/// The number of ATOM/HETATM records.
fn check_pdb(
    text: &str,
    bad: &dyn Fn(usize, String) -> ProteinError,
) -> Result<usize, ProteinError> {
    let mut atoms = 0;
    for (k, line) in text.lines().enumerate() {
        let line_no = k + 1;
        let atom = line.starts_with("ATOM  ") || line.starts_with("HETATM");
        // pdbtbx refuses (panics on) a tab in the identifiers of an atom record too.
        let controls = if atom {
            Controls::None
        } else {
            Controls::Allowed
        };
        if let Some((col, what)) = bad_character(line, controls) {
            return Err(bad(
                line_no,
                format!("{what} at column {col} (PDB files are printable ASCII)"),
            ));
        }
        if !atom {
            continue;
        }
        atoms += 1;
        if line.get(17..20).is_none_or(|name| name.trim().is_empty()) {
            return Err(bad(
                line_no,
                "the record has no residue name (columns 18-20)".into(),
            ));
        }
        for (name, range) in [
            ("x coordinate", 30..38),
            ("y coordinate", 38..46),
            ("z coordinate", 46..54),
            ("occupancy", 54..60),
            ("B-factor", 60..66),
        ] {
            let Some(field) = line.get(range.clone()).map(str::trim) else {
                continue; // a short line: pdbtbx reports it
            };
            let Ok(value) = field.parse::<f64>() else {
                continue; // not a number: pdbtbx reports it
            };
            let problem = if !value.is_finite() {
                "is not a finite number"
            } else if name == "occupancy" && value < 0.0 {
                "is negative"
            } else {
                continue;
            };
            return Err(bad(
                line_no,
                format!(
                    "{name} `{field}` (columns {}-{}) {problem}",
                    range.start + 1,
                    range.end
                ),
            ));
        }
    }
    Ok(atoms)
}

/// mmCIF as pdbtbx 0.12 reads it. Its lexer is not quite CIF 1.1 (a quote closes a string
/// wherever it stands, `.x` and `?x` are two values, `;` opens a text field wherever a value
/// starts), and its parser panics on some values; the functions here follow that lexer step
/// by step, so that what they accept pdbtbx reads the same way.
mod mmcif {
    use crate::error::ProteinError;

    /// A value as pdbtbx lexes it.
    #[derive(Debug, Clone, PartialEq)]
    enum Value {
        /// `.`
        Inapplicable,
        /// `?`
        Unknown,
        Text(String),
        Numeric(f64),
        NumericWithUncertainty,
        /// A number whose integer, exponent or uncertainty part overflows pdbtbx's `u32`.
        Overflow,
    }

    struct Cell {
        value: Value,
        /// Byte offset where the value starts.
        at: usize,
        /// Its source text (for messages).
        source: String,
    }

    struct Lexer<'a, 'b> {
        text: &'a str,
        pos: usize,
        bad: &'b dyn Fn(usize, String) -> ProteinError,
    }

    /// A lexing failure: pdbtbx returns an error (or stops a list of values) here.
    struct Stop;

    impl<'a> Lexer<'a, '_> {
        fn rest(&self) -> &'a str {
            &self.text[self.pos..]
        }

        fn line_of(&self, at: usize) -> usize {
            1 + self.text.as_bytes()[..at.min(self.text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        }

        fn error(&self, at: usize, reason: impl Into<String>) -> ProteinError {
            (self.bad)(self.line_of(at), reason.into())
        }

        fn trim_whitespace(&mut self) {
            let skip = self
                .rest()
                .bytes()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            self.pos += skip;
        }

        fn trim_comments_and_whitespace(&mut self) {
            loop {
                self.trim_whitespace();
                if !self.rest().starts_with('#') {
                    return;
                }
                let to_eol = self
                    .rest()
                    .find(['\n', '\r'])
                    .map_or(self.rest().len(), |k| k + 1);
                self.pos += to_eol;
            }
        }

        /// pdbtbx's `start_with`: a case-insensitive prefix (of a lower-case pattern),
        /// consumed when it matches.
        fn start_with(&mut self, pattern: &str) -> bool {
            let matches = self.rest().len() >= pattern.len()
                && self.rest().as_bytes()[..pattern.len()]
                    .iter()
                    .zip(pattern.bytes())
                    .all(|(c, p)| c.to_ascii_lowercase() == p);
            if matches {
                self.pos += pattern.len();
            }
            matches
        }

        fn peek_start_with(&self, pattern: &str) -> bool {
            self.rest().len() >= pattern.len()
                && self.rest().as_bytes()[..pattern.len()]
                    .iter()
                    .zip(pattern.bytes())
                    .all(|(c, p)| c.to_ascii_lowercase() == p)
        }

        /// Everything up to the next ASCII whitespace.
        fn identifier(&mut self) -> &'a str {
            let rest = self.rest();
            let end = rest
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            self.pos += end;
            &rest[..end]
        }

        fn value(&mut self) -> Result<Cell, Stop> {
            self.trim_comments_and_whitespace();
            let at = self.pos;
            let rest = self.rest();
            if rest.is_empty()
                || ["data_", "global_", "loop_", "save_", "stop_"]
                    .iter()
                    .any(|w| self.peek_start_with(w))
            {
                return Err(Stop);
            }
            let cell = |value: Value, end: usize| Cell {
                value,
                at,
                source: rest[..end].to_string(),
            };
            let first = rest.as_bytes()[0];
            match first {
                b'.' => {
                    let word = self.identifier();
                    if let Some(v) = numeric(word) {
                        return Ok(cell(v, word.len()));
                    }
                    // pdbtbx takes the `.` alone and lexes the rest as the next value.
                    self.pos = at + 1;
                    Ok(cell(Value::Inapplicable, 1))
                }
                b'?' => {
                    self.pos += 1;
                    Ok(cell(Value::Unknown, 1))
                }
                b'\'' | b'"' => {
                    let body = &rest[1..];
                    let close = body.find([first as char, '\n', '\r']).ok_or(Stop)?;
                    if body.as_bytes()[close] != first {
                        return Err(Stop);
                    }
                    self.pos += close + 2;
                    Ok(cell(Value::Text(body[..close].to_string()), close + 2))
                }
                b';' => {
                    // Up to a `;` right after a line end.
                    let bytes = rest.as_bytes();
                    let mut eol = false;
                    for (k, &b) in bytes.iter().enumerate().skip(1) {
                        if eol && b == b';' {
                            self.pos += k + 1;
                            return Ok(cell(Value::Text(rest[1..k].to_string()), k + 1));
                        }
                        eol = b == b'\n' || b == b'\r';
                    }
                    Err(Stop)
                }
                _ if is_ordinary(first) => {
                    let word = self.identifier();
                    Ok(cell(
                        numeric(word).unwrap_or_else(|| Value::Text(word.to_string())),
                        word.len(),
                    ))
                }
                _ => Err(Stop),
            }
        }
    }

    fn is_ordinary(c: u8) -> bool {
        !matches!(
            c,
            b'#' | b'$' | b'\'' | b'"' | b'_' | b'[' | b']' | b';' | b' ' | b'\t'
        ) && c.is_ascii_graphic()
    }

    /// pdbtbx's number syntax `[+-]digits[.digits][e[+-]digits][(digits)]` with its
    /// arithmetic. Its integer, exponent and uncertainty parts are `u32`s, accumulated digit
    /// by digit as far as the text goes (even in a word that turns out not to be a number),
    /// so a long run of digits overflows — a panic in debug builds, a wrong value in release.
    /// Such a word is [`Value::Overflow`], refused by the checks.
    fn numeric(text: &str) -> Option<Value> {
        let b = text.as_bytes();
        let mut i = 0;
        let minus = b.first() == Some(&b'-');
        if matches!(b.first(), Some(b'-' | b'+')) {
            i += 1;
        }
        // A digit run as pdbtbx accumulates it: whether there was one, and its value
        // (`None`: it overflowed).
        let digits = |i: &mut usize| -> (bool, Option<u32>) {
            let mut value: Option<u32> = Some(0);
            let mut any = false;
            while let Some(d) = b.get(*i).filter(|c| c.is_ascii_digit()) {
                any = true;
                value = value
                    .and_then(|v| v.checked_mul(10))
                    .and_then(|v| v.checked_add(u32::from(d - b'0')));
                *i += 1;
            }
            (any, value)
        };
        let (integer_set, integer) = digits(&mut i);
        let Some(integer) = integer else {
            return Some(Value::Overflow);
        };
        let mut decimal = 0.0;
        let mut decimal_set = false;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let mut power = 1.0f64;
            while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
                decimal_set = true;
                power *= 10.0;
                decimal += f64::from(d - b'0') / power;
                i += 1;
            }
        }
        let mut exponent = 0i32;
        let mut exponent_set = false;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if i == b.len() {
                return None;
            }
            let exp_minus = b.get(i) == Some(&b'-');
            if matches!(b.get(i), Some(b'-' | b'+')) {
                i += 1;
            }
            let (set, value) = digits(&mut i);
            // pdbtbx casts the u32 to i32; refuse what does not fit either.
            let Some(value) = value.and_then(|v| i32::try_from(v).ok()) else {
                return Some(Value::Overflow);
            };
            exponent_set = set;
            exponent = if exp_minus { -value } else { value };
        }
        let mut uncertain = false;
        if b.get(i) == Some(&b'(') {
            uncertain = true;
            i += 1;
            if digits(&mut i).1.is_none() {
                return Some(Value::Overflow);
            }
            if b.get(i) != Some(&b')') {
                return None;
            }
            i += 1;
        }
        if (!integer_set && !decimal_set) || i != b.len() {
            return None;
        }
        let mut number = f64::from(integer) + decimal;
        if minus {
            number = -number;
        }
        if exponent_set {
            number *= 10f64.powi(exponent);
        }
        Some(if uncertain {
            Value::NumericWithUncertainty
        } else {
            Value::Numeric(number)
        })
    }

    /// A `loop_`: its column names (without the `_`), its values, and where it lies.
    struct Loop {
        header: Vec<String>,
        cells: Vec<Cell>,
        start: usize,
        end: usize,
    }

    /// pdbtbx's `parse_data_item`: `Ok(Some(loop))`, `Ok(None)` for a single `_tag value`,
    /// `Err(Stop)` where pdbtbx fails.
    fn data_item(lx: &mut Lexer<'_, '_>) -> Result<Result<Option<Loop>, Stop>, ProteinError> {
        lx.trim_comments_and_whitespace();
        let start = lx.pos;
        if lx.start_with("loop_") {
            let mut header = Vec::new();
            lx.trim_comments_and_whitespace();
            while lx.start_with("_") {
                header.push(lx.identifier().to_string());
                lx.trim_comments_and_whitespace();
            }
            let mut cells = Vec::new();
            let mut end = lx.pos;
            while let Ok(cell) = lx.value() {
                cells.push(cell);
                end = lx.pos;
            }
            if header.is_empty() {
                // pdbtbx divides by the number of columns.
                return Err(lx.error(start, "a `loop_` without column names"));
            }
            if !cells.len().is_multiple_of(header.len()) {
                return Err(lx.error(
                    start,
                    format!(
                        "the `_{}` table has {} values for {} columns (not a whole number of rows)",
                        header[0].split('.').next().unwrap_or(""),
                        cells.len(),
                        header.len()
                    ),
                ));
            }
            Ok(Ok(Some(Loop {
                header,
                cells,
                start,
                end,
            })))
        } else if lx.start_with("_") {
            lx.identifier();
            Ok(lx.value().map(|_| None))
        } else {
            Ok(Err(Stop))
        }
    }

    /// The data block's atom tables, checked: the text pdbtbx is to read (the `data_` line and
    /// those tables) and the number of atom rows.
    pub(super) fn atom_tables(
        text: &str,
        bad: &dyn Fn(usize, String) -> ProteinError,
    ) -> Result<(String, usize), ProteinError> {
        for (k, line) in text.lines().enumerate() {
            if let Some((col, what)) = super::bad_character(line, super::Controls::NoneButTab) {
                return Err(bad(
                    k + 1,
                    format!("{what} at column {col} (mmCIF files here must be printable ASCII)"),
                ));
            }
        }
        let mut lx = Lexer { text, pos: 0, bad };
        lx.trim_comments_and_whitespace();
        if lx.rest().is_empty() {
            return Ok((String::new(), 0));
        }
        if !lx.start_with("data_") {
            return Err(lx.error(lx.pos, "an mmCIF file starts with a `data_` line"));
        }
        lx.identifier();
        // Byte ranges passed on to pdbtbx: the `data_` word and the atom tables. The rest is
        // blanked (line ends kept), so that pdbtbx's line and column numbers stay the file's.
        let mut keep: Vec<std::ops::Range<usize>> = Vec::new();
        keep.push(0..lx.pos);
        let mut atoms = 0;
        loop {
            lx.trim_comments_and_whitespace();
            if lx.rest().is_empty() {
                break;
            }
            let at = lx.pos;
            let fail = |lx: &Lexer<'_, '_>| {
                let shown: String = lx
                    .rest()
                    .chars()
                    .take(40)
                    .take_while(|&c| c != '\n')
                    .collect();
                lx.error(
                    lx.pos,
                    format!("not an mmCIF data item or value here: `{shown}`"),
                )
            };
            if lx.start_with("save_") {
                // A save frame: its items, then `save_`. pdbtbx reads no atoms from it.
                lx.identifier();
                while let Ok(_item) = data_item(&mut lx)? {}
                if !lx.start_with("save_") {
                    return Err(lx.error(at, "a `save_` frame that is not closed"));
                }
                continue;
            }
            match data_item(&mut lx)? {
                Err(Stop) => return Err(fail(&lx)),
                Ok(None) => {}
                Ok(Some(table)) => {
                    if table.header.iter().any(|h| h == "atom_site.group_PDB") {
                        atoms += check_atoms(&lx, &table)?;
                        keep.push(table.start..table.end);
                    }
                }
            }
        }
        let mut out = text.as_bytes().to_vec();
        let mut kept = keep.iter().peekable();
        for (i, b) in out.iter_mut().enumerate() {
            while kept.peek().is_some_and(|r| r.end <= i) {
                kept.next();
            }
            if !kept.peek().is_some_and(|r| r.contains(&i)) && !matches!(*b, b'\n' | b'\r') {
                *b = b' ';
            }
        }
        let out = String::from_utf8(out).expect("ASCII stays ASCII");
        Ok((out, atoms))
    }

    /// The checks of one atom table; returns its number of rows.
    fn check_atoms(lx: &Lexer<'_, '_>, table: &Loop) -> Result<usize, ProteinError> {
        // pdbtbx looks columns up by exact name, the first of duplicates.
        let column = |name: &str| {
            table
                .header
                .iter()
                .position(|h| h == &format!("atom_site.{name}"))
        };
        for name in [
            "label_asym_id",
            "label_comp_id",
            "id",
            "label_atom_id",
            "label_seq_id",
            "type_symbol",
            "Cartn_x",
            "Cartn_y",
            "Cartn_z",
        ] {
            if column(name).is_none() {
                return Err(lx.error(
                    table.start,
                    format!("the `_atom_site` table has no `_atom_site.{name}` column"),
                ));
            }
        }
        let col = |name: &str| column(name).expect("checked above");
        let rows = table.cells.len() / table.header.len();
        for row in table.cells.chunks(table.header.len()) {
            let fail = |cell: &Cell, name: &str, why: &str| {
                lx.error(
                    cell.at,
                    format!("`_atom_site.{name}` value `{}` {why}", cell.source),
                )
            };
            let given = |v: &Value| !matches!(v, Value::Inapplicable | Value::Unknown);
            // Identifiers (pdbtbx `expect`s them valid): given, not blank, printable ASCII
            // only (a `;` text field holds line ends, a quoted one may hold tabs).
            let identifier = |cell: &Cell| match &cell.value {
                Value::Text(t) => !t.trim().is_empty() && t.bytes().all(|b| (32..127).contains(&b)),
                v => given(v),
            };
            if let Some(cell) = row.iter().find(|c| c.value == Value::Overflow) {
                return Err(lx.error(
                    cell.at,
                    format!(
                        "the value `{}` holds a run of digits too long for pdbtbx (it reads them into 32 bits)",
                        cell.source
                    ),
                ));
            }
            for name in ["type_symbol", "label_atom_id", "label_comp_id"] {
                let cell = &row[col(name)];
                if !identifier(cell) {
                    return Err(fail(cell, name, "is missing, blank or not printable"));
                }
            }
            // pdbtbx takes `auth_asym_id` when given, else `label_asym_id`.
            let (chain, chain_column) = match column("auth_asym_id")
                .map(|c| &row[c])
                .filter(|c| given(&c.value))
            {
                Some(auth) => (auth, "auth_asym_id"),
                None => (&row[col("label_asym_id")], "label_asym_id"),
            };
            if !identifier(chain) {
                return Err(fail(
                    chain,
                    chain_column,
                    "is missing, blank or not printable: the atom has no chain id",
                ));
            }
            if let Some(c) = column("pdbx_PDB_ins_code") {
                if matches!(&row[c].value, Value::Text(_)) && !identifier(&row[c]) {
                    return Err(fail(
                        &row[c],
                        "pdbx_PDB_ins_code",
                        "is blank or not printable",
                    ));
                }
            }
            let id = &row[col("id")];
            if !matches!(id.value, Value::Numeric(v) if v >= 0.0 && v.fract() == 0.0 && v < 1e15) {
                return Err(fail(id, "id", "is not an unsigned integer"));
            }
            for name in [
                "Cartn_x",
                "Cartn_y",
                "Cartn_z",
                "occupancy",
                "B_iso_or_equiv",
            ] {
                let Some(c) = column(name) else { continue };
                let cell = &row[c];
                let required = name.starts_with("Cartn");
                match cell.value {
                    Value::Numeric(v) if !v.is_finite() => {
                        return Err(fail(cell, name, "is not a finite number"))
                    }
                    Value::Numeric(v) if name == "occupancy" && v < 0.0 => {
                        return Err(fail(cell, name, "is negative"))
                    }
                    Value::Numeric(_) => {}
                    Value::Inapplicable | Value::Unknown if !required => {}
                    Value::NumericWithUncertainty if !required => {}
                    _ => return Err(fail(cell, name, "is not a finite number")),
                }
            }
        }
        Ok(rows)
    }
}

/// The four backbone atoms of a residue, first alternate location first.
fn backbone_atoms(residue: &pdbtbx::Residue) -> [Option<Vec3>; 4] {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            residue
                .atoms()
                .find(|a| a.name().trim().eq_ignore_ascii_case(name))
                .map(|a| {
                    let (x, y, z) = a.pos();
                    Vec3::new(x, y, z)
                })
        })
    };
    [
        find(&["N"]),
        find(&["CA"]),
        find(&["C"]),
        find(&["O", "OT1", "O1"]),
    ]
}

fn residue_label(residue: &pdbtbx::Residue) -> String {
    let (number, insertion) = residue.id();
    format!(
        "{}{}{}",
        residue.name().unwrap_or("?"),
        number,
        insertion.unwrap_or("")
    )
}

/// A user's PDB or mmCIF file (optionally gzip) through pdbtbx, first model only.
///
/// `chains` picks chains by id (`None` = all; asking for a chain the file lacks is an error).
/// Residues missing any of N/CA/C/O are skipped; chains are split into segments at breaks
/// (C_i–N_{i+1} > 2.0 Å or CA–CA > 4.2 Å). Segment ids are `file_stem:chain:k`. Warnings,
/// each naming the file, chain and residue, are returned rather than printed.
pub fn read_structure(
    path: &Path,
    chains: Option<&[String]>,
) -> Result<(Vec<Backbone>, Vec<String>), ProteinError> {
    let bytes = read_bytes(path)?;
    read_structure_bytes(path, &bytes, chains)
}

/// [`read_structure`] of a file's (decompressed) bytes; `path` names it in messages and its
/// extension picks the format.
pub fn read_structure_bytes(
    path: &Path,
    bytes: &[u8],
    chains: Option<&[String]>,
) -> Result<(Vec<Backbone>, Vec<String>), ProteinError> {
    let (pdb, mut warnings) = parse(path, bytes)?;
    let Some(model) = pdb.models().next() else {
        return Err(ProteinError::structure(
            path,
            "no atoms (no model) in the file",
        ));
    };
    if let Some(wanted) = chains {
        let present: Vec<&str> = model.chains().map(|c| c.id()).collect();
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|w| !present.contains(&w.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(ProteinError::structure(
                path,
                format!("chain(s) {missing:?} not in the file; it has chains {present:?}"),
            ));
        }
    }
    let file = path.display().to_string();
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem
        .trim_end_matches(".gz")
        .rsplit_once('.')
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| stem.clone());
    let mut out = Vec::new();
    for chain in model.chains() {
        if chains.is_some_and(|w| !w.iter().any(|c| c == chain.id())) {
            continue;
        }
        let chain_id = chain.id();
        let mut segment: Option<Backbone> = None;
        let mut previous_label = String::new();
        let mut k = 0;
        let finish = |segment: &mut Option<Backbone>, out: &mut Vec<Backbone>| {
            if let Some(s) = segment.take() {
                out.push(s);
            }
        };
        for residue in chain.residues() {
            let atoms = backbone_atoms(residue);
            let label = residue_label(residue);
            let [Some(n), Some(ca), Some(c), Some(o)] = atoms else {
                // Waters and ligands have no CA (or no N and C): not worth a warning.
                let amino_like = atoms[1].is_some() || (atoms[0].is_some() && atoms[2].is_some());
                if amino_like {
                    let missing: Vec<&str> = ["N", "CA", "C", "O"]
                        .iter()
                        .zip(&atoms)
                        .filter(|(_, a)| a.is_none())
                        .map(|(name, _)| *name)
                        .collect();
                    warnings.push(format!(
                        "{file}: chain {chain_id}, residue {label}: missing backbone atom(s) {}; residue skipped",
                        missing.join(", ")
                    ));
                }
                continue;
            };
            if [n, ca, c, o]
                .iter()
                .any(|p| !p.iter().all(|x| x.is_finite()))
            {
                warnings.push(format!(
                    "{file}: chain {chain_id}, residue {label}: non-finite coordinate; residue skipped"
                ));
                continue;
            }
            if let Some(s) = &segment {
                let last = s.len() - 1;
                let peptide = (n - s.c[last]).norm();
                let ca_ca = (ca - s.ca[last]).norm();
                if peptide > MAX_PEPTIDE_BOND || ca_ca > MAX_CA_CA {
                    warnings.push(format!(
                        "{file}: chain {chain_id}: chain break between residue {previous_label} and residue {label} (C-N {peptide:.2} Å, CA-CA {ca_ca:.2} Å); split into segments"
                    ));
                    finish(&mut segment, &mut out);
                    k += 1;
                }
            }
            let s = segment.get_or_insert_with(|| Backbone {
                id: format!("{stem}:{chain_id}:{k}"),
                n: Vec::new(),
                ca: Vec::new(),
                c: Vec::new(),
                o: Vec::new(),
                sequence: Some(String::new()),
                dssp: None,
            });
            s.n.push(n);
            s.ca.push(ca);
            s.c.push(c);
            s.o.push(o);
            if let Some(seq) = &mut s.sequence {
                seq.push(one_letter(residue.name().unwrap_or("")));
            }
            previous_label = label;
        }
        finish(&mut segment, &mut out);
    }
    if out.is_empty() {
        return Err(ProteinError::structure(
            path,
            "no residue with all of N, CA, C, O (is it a protein structure?)",
        ));
    }
    Ok((out, warnings))
}

/// Whether `path`'s name marks a structure file: `.pdb`, `.ent`, `.cif`, `.mmcif`, each
/// optionally `.gz`.
pub fn is_structure_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".pdb", ".ent", ".cif", ".mmcif"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Every structure file in `dir` (see [`is_structure_file`]), sorted by name, through
/// [`read_structure`]. Segments shorter than `min_len` are dropped with a warning. A file
/// that cannot be read is skipped with a warning naming it (one bad file should not sink a
/// directory of thousands); it is an error only when no file gives a backbone.
pub fn read_structure_dir(
    dir: &Path,
    chains: Option<&[String]>,
    min_len: usize,
) -> Result<(Vec<Backbone>, Vec<String>), ProteinError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ProteinError::io(dir, e))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ProteinError::io(dir, e))?;
        let path = entry.path();
        if path.is_file() && is_structure_file(&path) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(ProteinError::structure(
            dir,
            "no .pdb, .ent, .cif or .mmcif file (optionally .gz) in the directory",
        ));
    }
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for file in &files {
        match read_structure(file, chains) {
            Ok((backbones, w)) => {
                warnings.extend(w);
                for b in backbones {
                    if b.len() < min_len {
                        warnings.push(format!(
                            "{}: segment {} has {} residues (< {min_len}); dropped",
                            file.display(),
                            b.id,
                            b.len()
                        ));
                    } else {
                        out.push(b);
                    }
                }
            }
            Err(e) => warnings.push(format!("skipped: {e}")),
        }
    }
    if out.is_empty() {
        return Err(ProteinError::structure(
            dir,
            format!(
                "none of the {} structure files gave a backbone of at least {min_len} residues{}",
                files.len(),
                warnings
                    .first()
                    .map(|w| format!(" (first problem: {w})"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok((out, warnings))
}
