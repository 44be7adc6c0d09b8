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
    Pdb,
    Mmcif,
}

/// Format and compression from the file name; an unknown extension is sniffed from the
/// content (mmCIF files start with `data_`).
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

/// Parses with pdbtbx, after [`check_text`] has refused what pdbtbx is known to panic on
/// (non-ASCII PDB lines, non-finite or missing coordinates) with an error naming the line.
/// Its reader is still not promised panic-free on arbitrary input, so a remaining panic is
/// caught — silently, see [`quiet_catch_unwind`] — and turned into an error naming the file.
fn parse(path: &Path, bytes: &[u8]) -> Result<(pdbtbx::PDB, Vec<String>), ProteinError> {
    let format = format_of(path, bytes);
    check_text(path, bytes, format)?;
    let mut options = pdbtbx::ReadOptions::new();
    options
        .set_format(match format {
            Format::Pdb => pdbtbx::Format::Pdb,
            Format::Mmcif => pdbtbx::Format::Mmcif,
        })
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .set_only_first_model(true)
        // Only ATOM/HETATM/MODEL/TER/END records are used: the others (HEADER, CRYST1,
        // SCALE, …) are not handed to pdbtbx's lexers at all.
        .set_only_atomic_coords(true);
    let result = quiet_catch_unwind(|| options.read_raw(BufReader::new(bytes)));
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

/// Checks a structure file's text before pdbtbx sees it; errors name the file and line.
///
/// * the text must be UTF-8;
/// * PDB: every line ASCII (the format is; pdbtbx slices lines by byte and panics on a
///   multi-byte character), and the coordinates, occupancy and B-factor of ATOM/HETATM
///   records, where they are numbers, finite (pdbtbx panics on NaN/inf);
/// * mmCIF: in `_atom_site`, a whole number of rows, `Cartn_x/y/z` finite plain numbers,
///   occupancy and B-factor finite when given, and the columns pdbtbx takes as present
///   (`id` an unsigned integer, `type_symbol`, `label_atom_id`, `label_comp_id`, a chain
///   id) not `?` or `.`.
pub fn check_text(path: &Path, bytes: &[u8], format: Format) -> Result<(), ProteinError> {
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
    let atoms = match format {
        Format::Pdb => check_pdb(text, &bad)?,
        Format::Mmcif => check_mmcif(text, &bad)?,
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
    Ok(())
}

fn finite_or_not_a_number(s: &str) -> bool {
    s.parse::<f64>().map_or(true, f64::is_finite)
}

/// The number of ATOM/HETATM records.
fn check_pdb(
    text: &str,
    bad: &dyn Fn(usize, String) -> ProteinError,
) -> Result<usize, ProteinError> {
    let mut atoms = 0;
    for (k, line) in text.lines().enumerate() {
        let line_no = k + 1;
        if let Some(col) = line.chars().position(|c| !c.is_ascii()) {
            return Err(bad(
                line_no,
                format!(
                    "non-ASCII character at column {} (PDB files are ASCII)",
                    col + 1
                ),
            ));
        }
        if !(line.starts_with("ATOM  ") || line.starts_with("HETATM")) {
            continue;
        }
        atoms += 1;
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
            if !finite_or_not_a_number(field) {
                return Err(bad(
                    line_no,
                    format!(
                        "{name} `{field}` (columns {}-{}) is not a finite number",
                        range.start + 1,
                        range.end
                    ),
                ));
            }
        }
    }
    Ok(atoms)
}

/// One CIF token: its text, its line (1-based) and whether it was quoted (a quoted `?` is
/// text, not "unknown").
struct Token<'a> {
    text: &'a str,
    line: usize,
    quoted: bool,
}

/// CIF 1.1 tokens: whitespace-separated words, `'…'`/`"…"` strings (closed by the quote
/// followed by whitespace), `;` text fields, `#` comments.
fn cif_tokens<'a>(
    text: &'a str,
    bad: &dyn Fn(usize, String) -> ProteinError,
) -> Result<Vec<Token<'a>>, ProteinError> {
    let mut tokens = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((k, line)) = lines.next() {
        let line_no = k + 1;
        if line.starts_with(';') {
            // A text field runs to the next line that starts with `;`.
            if !lines.by_ref().any(|(_, l)| l.starts_with(';')) {
                return Err(bad(line_no, "the `;` text field is never closed".into()));
            }
            tokens.push(Token {
                text: "",
                line: line_no,
                quoted: true,
            });
            continue;
        }
        let mut rest = line;
        loop {
            rest = rest.trim_start();
            let Some(first) = rest.chars().next() else {
                break;
            };
            if first == '#' {
                break;
            }
            if first == '\'' || first == '"' {
                let body = &rest[1..];
                let close = body
                    .char_indices()
                    .find(|&(i, c)| {
                        c == first && body[i + 1..].chars().next().is_none_or(char::is_whitespace)
                    })
                    .map(|(i, _)| i)
                    .ok_or_else(|| bad(line_no, format!("the string `{rest}` is never closed")))?;
                tokens.push(Token {
                    text: &body[..close],
                    line: line_no,
                    quoted: true,
                });
                rest = &body[close + 1..];
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                tokens.push(Token {
                    text: &rest[..end],
                    line: line_no,
                    quoted: false,
                });
                rest = &rest[end..];
            }
        }
    }
    Ok(tokens)
}

fn is_reserved(t: &Token<'_>) -> bool {
    if t.quoted {
        return false;
    }
    let lower = t.text.to_ascii_lowercase();
    lower == "loop_"
        || lower == "global_"
        || lower == "stop_"
        || lower.starts_with("data_")
        || lower.starts_with("save_")
}

/// The number of `_atom_site` rows.
fn check_mmcif(
    text: &str,
    bad: &dyn Fn(usize, String) -> ProteinError,
) -> Result<usize, ProteinError> {
    let tokens = cif_tokens(text, bad)?;
    let mut atoms = 0;
    let is_tag = |t: &Token<'_>| !t.quoted && t.text.starts_with('_');
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if !t.quoted && t.text.eq_ignore_ascii_case("loop_") {
            let mut tags = Vec::new();
            i += 1;
            while i < tokens.len() && is_tag(&tokens[i]) {
                tags.push(tokens[i].text);
                i += 1;
            }
            let start = i;
            while i < tokens.len() && !is_tag(&tokens[i]) && !is_reserved(&tokens[i]) {
                i += 1;
            }
            let atom_site = !tags.is_empty()
                && tags
                    .iter()
                    .all(|tag| tag.to_ascii_lowercase().starts_with("_atom_site."));
            if atom_site {
                atoms += check_atom_site(&tags, &tokens[start..i], t.line, bad)?;
            }
        } else if is_tag(t) && t.text.to_ascii_lowercase().starts_with("_atom_site.") {
            // A single atom written as tag–value pairs.
            let mut tags = Vec::new();
            let mut values = Vec::new();
            while i + 1 < tokens.len()
                && is_tag(&tokens[i])
                && tokens[i]
                    .text
                    .to_ascii_lowercase()
                    .starts_with("_atom_site.")
            {
                tags.push(tokens[i].text);
                values.push(Token {
                    text: tokens[i + 1].text,
                    line: tokens[i + 1].line,
                    quoted: tokens[i + 1].quoted,
                });
                i += 2;
            }
            if tags.is_empty() {
                i += 1;
            } else {
                atoms += check_atom_site(&tags, &values, t.line, bad)?;
            }
        } else {
            i += 1;
        }
    }
    Ok(atoms)
}

fn check_atom_site(
    tags: &[&str],
    values: &[Token<'_>],
    loop_line: usize,
    bad: &dyn Fn(usize, String) -> ProteinError,
) -> Result<usize, ProteinError> {
    if !values.len().is_multiple_of(tags.len()) {
        return Err(bad(
            loop_line,
            format!(
                "the `_atom_site` table has {} values for {} columns (not a whole number of rows)",
                values.len(),
                tags.len()
            ),
        ));
    }
    let column = |name: &str| {
        tags.iter()
            .position(|t| t.eq_ignore_ascii_case(&format!("_atom_site.{name}")))
    };
    let missing = |t: &Token<'_>| !t.quoted && (t.text == "?" || t.text == ".");
    for row in values.chunks(tags.len()) {
        for name in [
            "Cartn_x",
            "Cartn_y",
            "Cartn_z",
            "occupancy",
            "B_iso_or_equiv",
        ] {
            let Some(c) = column(name) else { continue };
            let v = &row[c];
            let required = name.starts_with("Cartn");
            if missing(v) && !required {
                continue;
            }
            if !v.text.parse::<f64>().is_ok_and(f64::is_finite) {
                return Err(bad(
                    v.line,
                    format!(
                        "`_atom_site.{name}` value `{}` is not a finite number",
                        v.text
                    ),
                ));
            }
        }
        if let Some(c) = column("id") {
            let v = &row[c];
            if v.text.parse::<usize>().is_err() {
                return Err(bad(
                    v.line,
                    format!(
                        "`_atom_site.id` value `{}` is not an unsigned integer",
                        v.text
                    ),
                ));
            }
        }
        for name in ["type_symbol", "label_atom_id", "label_comp_id"] {
            if let Some(c) = column(name) {
                if missing(&row[c]) {
                    return Err(bad(
                        row[c].line,
                        format!("`_atom_site.{name}` is missing (`{}`)", row[c].text),
                    ));
                }
            }
        }
        let auth = column("auth_asym_id").map(|c| &row[c]);
        let label = column("label_asym_id").map(|c| &row[c]);
        if let Some(l) = label {
            if missing(l) && auth.is_none_or(missing) {
                return Err(bad(
                    l.line,
                    format!("`_atom_site.label_asym_id` is `{}` and there is no `auth_asym_id`: the atom has no chain id", l.text),
                ));
            }
        }
    }
    Ok(values.len() / tags.len())
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
