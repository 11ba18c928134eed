//! A reader for exactly the part of MATLAB's level-5 MAT-file format that data sets use:
//! real numeric arrays, stored plainly or in zlib-compressed elements (the SVHN
//! `*_32x32.mat` files).
//!
//! # Format (MathWorks, "MAT-File Format", level 5)
//!
//! - **Header**, 128 bytes: 116 bytes of descriptive text (`MATLAB 5.0 MAT-file, …`), an
//!   8-byte subsystem-data offset, a 2-byte version (`0x0100`) and a 2-byte endian
//!   indicator: the characters `IM` when the file was written little-endian, `MI` when
//!   big-endian. Every later number uses that byte order.
//! - **Data elements** follow until the end of the file. Each starts with an 8-byte tag,
//!   a 4-byte data type and a 4-byte byte count, then that many bytes of data padded to a
//!   multiple of 8. In the *small element* form (data of 1 to 4 bytes) the upper two bytes
//!   of the first word hold the byte count, the lower two the type, and the data sits in
//!   the second word.
//! - Data types: 1 `miINT8`, 2 `miUINT8`, 3 `miINT16`, 4 `miUINT16`, 5 `miINT32`,
//!   6 `miUINT32`, 7 `miSINGLE`, 9 `miDOUBLE`, 12 `miINT64`, 13 `miUINT64`,
//!   14 `miMATRIX`, 15 `miCOMPRESSED`, 16–18 `miUTF8/16/32`.
//! - A top-level element is an `miMATRIX` (one variable) or an `miCOMPRESSED` element
//!   whose bytes are a zlib stream that inflates to one `miMATRIX` element. A compressed
//!   element is not padded.
//! - An `miMATRIX` element holds subelements: **array flags** (`miUINT32`, 8 bytes; the
//!   low byte of the first word is the class, the next byte the flags: `0x08` complex,
//!   `0x04` global, `0x02` logical), **dimensions** (`miINT32`, at least two), the
//!   **array name** (`miINT8`), then for numeric classes the **real part** (and, when
//!   complex, the imaginary part). The real part's storage type may be narrower than the
//!   class (MATLAB writes a `double` array of small integers as `miUINT8`); values are in
//!   column-major order.
//! - Classes: 1 cell, 2 struct, 3 object, 4 char, 5 sparse, 6 double, 7 single, 8 int8,
//!   9 uint8, 10 int16, 11 uint16, 12 int32, 13 uint32, 14 int64, 15 uint64.
//!
//! Non-numeric, complex and empty variables are listed in [`MatFile::skipped`] rather than
//! decoded. Every malformed input is a typed [`MatError`]; the reader never panics and
//! never allocates more than the data actually present (capped by [`MatLimits`]).

use std::io::{self, Read};

use flate2::read::ZlibDecoder;

use crate::error::MatError;

const HEADER_BYTES: usize = 128;
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
/// Longest array name accepted (MATLAB allows 63 characters).
const MAX_NAME_BYTES: u32 = 4096;
/// Largest buffer reserved ahead of the data actually read.
const MAX_RESERVE: u64 = 64 << 20;

/// Caps on what one file may make the reader hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatLimits {
    /// Largest real part of one array, in stored bytes (SVHN's extra split holds 1.63 GB).
    pub max_array_bytes: u64,
    /// Most dimensions of one array.
    pub max_rank: usize,
}

impl Default for MatLimits {
    fn default() -> Self {
        Self {
            max_array_bytes: 2 << 30,
            max_rank: 32,
        }
    }
}

/// MATLAB class of a decoded (numeric) array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatClass {
    /// `double`
    Double,
    /// `single`
    Single,
    /// `int8`
    Int8,
    /// `uint8`
    UInt8,
    /// `int16`
    Int16,
    /// `uint16`
    UInt16,
    /// `int32`
    Int32,
    /// `uint32`
    UInt32,
    /// `int64`
    Int64,
    /// `uint64`
    UInt64,
}

impl MatClass {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            6 => Self::Double,
            7 => Self::Single,
            8 => Self::Int8,
            9 => Self::UInt8,
            10 => Self::Int16,
            11 => Self::UInt16,
            12 => Self::Int32,
            13 => Self::UInt32,
            14 => Self::Int64,
            15 => Self::UInt64,
            _ => return None,
        })
    }

    /// The class code of the array flags.
    pub fn code(self) -> u8 {
        match self {
            Self::Double => 6,
            Self::Single => 7,
            Self::Int8 => 8,
            Self::UInt8 => 9,
            Self::Int16 => 10,
            Self::UInt16 => 11,
            Self::Int32 => 12,
            Self::UInt32 => 13,
            Self::Int64 => 14,
            Self::UInt64 => 15,
        }
    }
}

/// Name of a non-numeric class code, for [`SkippedVariable::reason`].
fn class_name(code: u8) -> String {
    match code {
        1 => "a cell array".into(),
        2 => "a struct".into(),
        3 => "an object".into(),
        4 => "a char array".into(),
        5 => "a sparse array".into(),
        c => format!("of class {c}"),
    }
}

/// The values of an array's real part, column-major.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    /// Stored as `miUINT8`: the bytes, unconverted.
    U8(Vec<u8>),
    /// Any other numeric storage type, converted to `f64`.
    F64(Vec<f64>),
}

impl MatData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::F64(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as `f64` (`None` past the end).
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        match self {
            Self::U8(v) => v.get(i).map(|&b| f64::from(b)),
            Self::F64(v) => v.get(i).copied(),
        }
    }
}

/// One decoded variable.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// Variable name.
    pub name: String,
    /// MATLAB class (the type the values had in MATLAB, not their storage type).
    pub class: MatClass,
    /// Dimensions as stored (MATLAB order, at least two).
    pub dims: Vec<usize>,
    /// The values, column-major.
    pub data: MatData,
}

/// A variable the reader did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedVariable {
    /// Variable name ("" for an empty element).
    pub name: String,
    /// Why: "a struct", "complex", "an empty element", ...
    pub reason: String,
}

/// Every variable of a file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatFile {
    /// Real numeric arrays, in file order.
    pub arrays: Vec<MatArray>,
    /// Everything else, in file order.
    pub skipped: Vec<SkippedVariable>,
}

impl MatFile {
    /// The numeric array named `name`, or an error that lists what the file holds.
    pub fn array(&self, name: &str) -> Result<&MatArray, MatError> {
        if let Some(a) = self.arrays.iter().find(|a| a.name == name) {
            return Ok(a);
        }
        if let Some(s) = self.skipped.iter().find(|s| s.name == name) {
            return Err(MatError::Unsupported {
                name: name.to_string(),
                what: s.reason.clone(),
            });
        }
        Err(MatError::MissingVariable {
            name: name.to_string(),
            found: self
                .arrays
                .iter()
                .map(|a| a.name.clone())
                .chain(self.skipped.iter().map(|s| s.name.clone()))
                .collect(),
        })
    }
}

/// Decodes a whole MAT-file held in memory, with the default [`MatLimits`].
pub fn parse_mat(bytes: &[u8]) -> Result<MatFile, MatError> {
    read_mat(bytes, &MatLimits::default())
}

/// Decodes a MAT-file from a stream (a `BufReader<File>` keeps memory to the decoded
/// arrays: compressed elements are inflated as they are read).
pub fn read_mat<R: Read>(reader: R, limits: &MatLimits) -> Result<MatFile, MatError> {
    let mut header = [0u8; HEADER_BYTES];
    let mut s = Stream {
        inner: reader,
        offset: 0,
        big_endian: false,
    };
    let got = s.fill(&mut header)?;
    if got < HEADER_BYTES {
        return Err(MatError::Truncated {
            what: "the 128-byte header",
            offset: 0,
            needed: HEADER_BYTES as u64,
            available: got as u64,
        });
    }
    s.big_endian = check_header(&header)?;
    let mut file = MatFile::default();
    while let Some(tag) = s.top_level_tag()? {
        match tag.ty {
            MI_MATRIX => {
                read_matrix(&mut s, &tag, limits, &mut file)?;
                s.skip(padding(tag.bytes), "padding", tag.offset)?;
            }
            MI_COMPRESSED => read_compressed(&mut s, &tag, limits, &mut file)?,
            other => {
                return Err(MatError::BadElement {
                    what: "top-level data element",
                    offset: tag.offset,
                    reason: format!(
                        "type {other} ({}); expected miMATRIX (14) or miCOMPRESSED (15)",
                        type_name(other)
                    ),
                });
            }
        }
    }
    Ok(file)
}

/// Checks the header; returns whether the file is big-endian.
fn check_header(h: &[u8; HEADER_BYTES]) -> Result<bool, MatError> {
    if h[..4] == [0, 0, 0, 0] {
        return Err(MatError::NotLevel5 {
            reason: "the first four bytes are zero, as in a level-4 MAT-file".into(),
        });
    }
    let big_endian = match [h[126], h[127]] {
        [b'I', b'M'] => false,
        [b'M', b'I'] => true,
        found => {
            return Err(MatError::NotLevel5 {
                reason: format!(
                    "endian indicator is {found:02x?}, expected \"IM\" or \"MI\" at bytes 126–127"
                ),
            });
        }
    };
    let v = [h[124], h[125]];
    let version = if big_endian {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    };
    match version {
        0x0100 => Ok(big_endian),
        0x0200 => Err(MatError::NotLevel5 {
            reason: "version 0x0200 is a v7.3 (HDF5) MAT-file; save it with `save -v7`".into(),
        }),
        other => Err(MatError::NotLevel5 {
            reason: format!("version 0x{other:04x}, expected 0x0100"),
        }),
    }
}

fn type_name(ty: u32) -> &'static str {
    match ty {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        MI_UTF8 => "miUTF8",
        17 => "miUTF16",
        18 => "miUTF32",
        _ => "unknown",
    }
}

/// Bytes per value of a numeric storage type.
fn numeric_size(ty: u32) -> Option<u64> {
    Some(match ty {
        MI_INT8 | MI_UINT8 => 1,
        MI_INT16 | MI_UINT16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => return None,
    })
}

/// Padding after `bytes` of element data (to a multiple of 8).
fn padding(bytes: u32) -> u64 {
    (8 - u64::from(bytes) % 8) % 8
}

/// A data element tag.
#[derive(Debug, Clone, Copy)]
struct Tag {
    ty: u32,
    bytes: u32,
    /// The data of a small element (first `bytes` bytes are valid).
    small: Option<[u8; 4]>,
    /// Where the tag starts.
    offset: u64,
}

/// A byte stream that knows its offset and byte order.
struct Stream<R> {
    inner: R,
    offset: u64,
    big_endian: bool,
}

impl<R: Read> Stream<R> {
    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, MatError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(MatError::Read {
                        offset: self.offset + got as u64,
                        message: e.to_string(),
                    });
                }
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), MatError> {
        let start = self.offset;
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(MatError::Truncated {
                what,
                offset: start,
                needed: buf.len() as u64,
                available: got as u64,
            });
        }
        Ok(())
    }

    /// Reads `n` bytes into a new buffer, growing it only as data arrives.
    fn bytes(&mut self, n: u64, what: &'static str) -> Result<Vec<u8>, MatError> {
        let start = self.offset;
        let mut out = Vec::with_capacity(n.min(MAX_RESERVE) as usize);
        let got = (&mut self.inner)
            .take(n)
            .read_to_end(&mut out)
            .map_err(|e| MatError::Read {
                offset: start,
                message: e.to_string(),
            })?;
        self.offset += got as u64;
        if (got as u64) < n {
            return Err(MatError::Truncated {
                what,
                offset: start,
                needed: n,
                available: got as u64,
            });
        }
        Ok(out)
    }

    fn skip(&mut self, n: u64, what: &'static str, element: u64) -> Result<(), MatError> {
        if n == 0 {
            return Ok(());
        }
        let start = self.offset;
        let got = io::copy(&mut (&mut self.inner).take(n), &mut io::sink()).map_err(|e| {
            MatError::Read {
                offset: start,
                message: e.to_string(),
            }
        })?;
        self.offset += got;
        if got < n {
            return Err(MatError::Truncated {
                what,
                offset: element,
                needed: n,
                available: got,
            });
        }
        Ok(())
    }

    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn decode_tag(&self, raw: [u8; 8], offset: u64, what: &'static str) -> Result<Tag, MatError> {
        let w0 = self.u32([raw[0], raw[1], raw[2], raw[3]]);
        let data = [raw[4], raw[5], raw[6], raw[7]];
        if w0 >> 16 != 0 {
            let (ty, bytes) = (w0 & 0xFFFF, w0 >> 16);
            if bytes > 4 {
                return Err(MatError::BadElement {
                    what,
                    offset,
                    reason: format!("small data element declares {bytes} bytes (at most 4)"),
                });
            }
            return Ok(Tag {
                ty,
                bytes,
                small: Some(data),
                offset,
            });
        }
        Ok(Tag {
            ty: w0,
            bytes: self.u32(data),
            small: None,
            offset,
        })
    }

    fn tag(&mut self, what: &'static str) -> Result<Tag, MatError> {
        let offset = self.offset;
        let mut raw = [0u8; 8];
        self.exact(&mut raw, what)?;
        self.decode_tag(raw, offset, what)
    }

    /// The next top-level tag, or `None` at the end of the file (up to seven zero bytes
    /// of trailing padding are accepted).
    fn top_level_tag(&mut self) -> Result<Option<Tag>, MatError> {
        let offset = self.offset;
        let mut raw = [0u8; 8];
        let got = self.fill(&mut raw)?;
        if got == 0 || (got < 8 && raw[..got].iter().all(|&b| b == 0)) {
            return Ok(None);
        }
        if got < 8 {
            return Err(MatError::Truncated {
                what: "data element tag",
                offset,
                needed: 8,
                available: got as u64,
            });
        }
        let tag = self.decode_tag(raw, offset, "top-level data element")?;
        if tag.small.is_some() {
            return Err(MatError::BadElement {
                what: "top-level data element",
                offset,
                reason: "a variable cannot be a small data element".into(),
            });
        }
        Ok(Some(tag))
    }

    /// Reads the data of a subelement (small or not); its padding is left to [`Budget::pad`].
    fn element_data(
        &mut self,
        tag: &Tag,
        what: &'static str,
        cap: u64,
    ) -> Result<Vec<u8>, MatError> {
        if let Some(data) = tag.small {
            return Ok(data[..tag.bytes as usize].to_vec());
        }
        if u64::from(tag.bytes) > cap {
            return Err(MatError::TooLarge {
                what,
                offset: tag.offset,
                bytes: u64::from(tag.bytes),
                cap,
            });
        }
        self.bytes(u64::from(tag.bytes), what)
    }
}

/// Tracks the bytes left inside an `miMATRIX` element while its subelements are read.
struct Budget {
    left: u64,
    element: u64,
}

impl Budget {
    /// Charges a subelement's tag and data (not its padding).
    fn charge(&mut self, tag: &Tag, what: &'static str) -> Result<(), MatError> {
        let data = if tag.small.is_some() {
            0
        } else {
            u64::from(tag.bytes)
        };
        let need = 8 + data;
        if need > self.left {
            return Err(MatError::BadElement {
                what,
                offset: tag.offset,
                reason: format!(
                    "needs {need} bytes but only {} remain in the miMATRIX element at byte {}",
                    self.left, self.element
                ),
            });
        }
        self.left -= need;
        Ok(())
    }

    /// Skips the padding after a subelement's data; a last subelement may lack it.
    fn pad<R: Read>(&mut self, s: &mut Stream<R>, tag: &Tag) -> Result<(), MatError> {
        let pad = if tag.small.is_some() {
            0
        } else {
            padding(tag.bytes).min(self.left)
        };
        s.skip(pad, "padding", tag.offset)?;
        self.left -= pad;
        Ok(())
    }
}

fn expect_type(tag: &Tag, what: &'static str, allowed: &[u32]) -> Result<(), MatError> {
    if allowed.contains(&tag.ty) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|&t| type_name(t)).collect();
    Err(MatError::BadElement {
        what,
        offset: tag.offset,
        reason: format!(
            "data type {} ({}), expected {}",
            tag.ty,
            type_name(tag.ty),
            names.join(" or ")
        ),
    })
}

/// Reads one `miMATRIX` element's data (`tag.bytes`, padding excluded) and records it.
fn read_matrix<R: Read>(
    s: &mut Stream<R>,
    tag: &Tag,
    limits: &MatLimits,
    file: &mut MatFile,
) -> Result<(), MatError> {
    if tag.bytes == 0 {
        file.skipped.push(SkippedVariable {
            name: String::new(),
            reason: "an empty element".into(),
        });
        return Ok(());
    }
    let mut budget = Budget {
        left: u64::from(tag.bytes),
        element: tag.offset,
    };

    // Array flags: class in the low byte, flags in the next.
    let flags_tag = s.tag("array flags")?;
    budget.charge(&flags_tag, "array flags")?;
    expect_type(&flags_tag, "array flags", &[MI_UINT32])?;
    if flags_tag.bytes != 8 || flags_tag.small.is_some() {
        return Err(MatError::BadElement {
            what: "array flags",
            offset: flags_tag.offset,
            reason: format!("{} bytes, expected 8", flags_tag.bytes),
        });
    }
    let flags = s.element_data(&flags_tag, "array flags", 8)?;
    budget.pad(s, &flags_tag)?;
    let word = s.u32([flags[0], flags[1], flags[2], flags[3]]);
    let class_code = (word & 0xFF) as u8;
    let complex = word & 0x0800 != 0;

    // Dimensions: int32, at least two, none negative.
    let dims_tag = s.tag("dimensions")?;
    budget.charge(&dims_tag, "dimensions")?;
    expect_type(&dims_tag, "dimensions", &[MI_INT32])?;
    let rank = (dims_tag.bytes / 4) as usize;
    if dims_tag.bytes % 4 != 0 || rank < 2 || rank > limits.max_rank {
        return Err(MatError::BadElement {
            what: "dimensions",
            offset: dims_tag.offset,
            reason: format!(
                "{} bytes; expected 4 per dimension and 2 to {} dimensions",
                dims_tag.bytes, limits.max_rank
            ),
        });
    }
    let raw = s.element_data(&dims_tag, "dimensions", 4 * limits.max_rank as u64)?;
    budget.pad(s, &dims_tag)?;
    let mut dims = Vec::with_capacity(rank);
    for c in raw.chunks_exact(4) {
        let d = s.u32([c[0], c[1], c[2], c[3]]) as i32;
        let d = usize::try_from(d).map_err(|_| MatError::BadElement {
            what: "dimensions",
            offset: dims_tag.offset,
            reason: format!("negative dimension {d}"),
        })?;
        dims.push(d);
    }

    // Array name: int8 (UTF-8 accepted too), possibly empty.
    let name_tag = s.tag("array name")?;
    budget.charge(&name_tag, "array name")?;
    expect_type(&name_tag, "array name", &[MI_INT8, MI_UINT8, MI_UTF8])?;
    let name_bytes = s.element_data(&name_tag, "array name", u64::from(MAX_NAME_BYTES))?;
    budget.pad(s, &name_tag)?;
    let name = String::from_utf8(name_bytes).map_err(|_| MatError::BadElement {
        what: "array name",
        offset: name_tag.offset,
        reason: "not valid UTF-8".into(),
    })?;

    let skip_rest = |s: &mut Stream<R>, budget: &Budget| {
        s.skip(budget.left, "miMATRIX element", budget.element)
    };
    let Some(class) = MatClass::from_code(class_code) else {
        skip_rest(s, &budget)?;
        file.skipped.push(SkippedVariable {
            name,
            reason: class_name(class_code),
        });
        return Ok(());
    };
    if complex {
        skip_rest(s, &budget)?;
        file.skipped.push(SkippedVariable {
            name,
            reason: "complex".into(),
        });
        return Ok(());
    }

    // Real part: any numeric storage type, one value per element of the dimensions.
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| MatError::BadElement {
            what: "dimensions",
            offset: dims_tag.offset,
            reason: format!("{dims:?} overflow when multiplied"),
        })?;
    let real_tag = s.tag("real part")?;
    budget.charge(&real_tag, "real part")?;
    let Some(size) = numeric_size(real_tag.ty) else {
        return Err(MatError::BadElement {
            what: "real part",
            offset: real_tag.offset,
            reason: format!(
                "data type {} ({}) is not numeric",
                real_tag.ty,
                type_name(real_tag.ty)
            ),
        });
    };
    let expected = count.checked_mul(size);
    if expected != Some(u64::from(real_tag.bytes)) {
        return Err(MatError::BadElement {
            what: "real part",
            offset: real_tag.offset,
            reason: format!(
                "{} bytes of {} for dimensions {dims:?}; expected {count} × {size}",
                real_tag.bytes,
                type_name(real_tag.ty)
            ),
        });
    }
    let raw = s.element_data(&real_tag, "real part", limits.max_array_bytes)?;
    budget.pad(s, &real_tag)?;
    let data = decode_numeric(real_tag.ty, raw, s.big_endian);
    skip_rest(s, &budget)?;
    file.arrays.push(MatArray {
        name,
        class,
        dims,
        data,
    });
    Ok(())
}

/// Converts stored values (`ty` is a numeric type whose size divides `raw.len()`).
fn decode_numeric(ty: u32, raw: Vec<u8>, big_endian: bool) -> MatData {
    fn words<const N: usize>(raw: &[u8], big: bool, f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        raw.chunks_exact(N)
            .map(|c| {
                let mut b = [0u8; N];
                b.copy_from_slice(c);
                if big {
                    b.reverse();
                }
                f(b)
            })
            .collect()
    }
    let big = big_endian;
    MatData::F64(match ty {
        MI_UINT8 => return MatData::U8(raw),
        MI_INT8 => raw.iter().map(|&b| f64::from(b as i8)).collect(),
        MI_INT16 => words::<2>(&raw, big, |b| f64::from(i16::from_le_bytes(b))),
        MI_UINT16 => words::<2>(&raw, big, |b| f64::from(u16::from_le_bytes(b))),
        MI_INT32 => words::<4>(&raw, big, |b| f64::from(i32::from_le_bytes(b))),
        MI_UINT32 => words::<4>(&raw, big, |b| f64::from(u32::from_le_bytes(b))),
        MI_SINGLE => words::<4>(&raw, big, |b| f64::from(f32::from_le_bytes(b))),
        MI_DOUBLE => words::<8>(&raw, big, f64::from_le_bytes),
        MI_INT64 => words::<8>(&raw, big, |b| i64::from_le_bytes(b) as f64),
        _ => words::<8>(&raw, big, |b| u64::from_le_bytes(b) as f64),
    })
}

/// Inflates one `miCOMPRESSED` element and reads the `miMATRIX` element inside.
fn read_compressed<R: Read>(
    s: &mut Stream<R>,
    tag: &Tag,
    limits: &MatLimits,
    file: &mut MatFile,
) -> Result<(), MatError> {
    let wrap = |e: MatError| MatError::InCompressed {
        offset: tag.offset,
        source: Box::new(e),
    };
    let start = s.offset;
    let compressed = (&mut s.inner).take(u64::from(tag.bytes));
    let mut z = Stream {
        inner: ZlibDecoder::new(compressed),
        offset: 0,
        big_endian: s.big_endian,
    };
    let inner = (|| {
        let Some(inner) = z.top_level_tag()? else {
            return Err(MatError::Truncated {
                what: "the compressed variable",
                offset: 0,
                needed: 8,
                available: 0,
            });
        };
        expect_type(&inner, "compressed data element", &[MI_MATRIX])?;
        read_matrix(&mut z, &inner, limits, file)?;
        // Padding of the inner element, then nothing else.
        let mut rest = [0u8; 8];
        let extra = z.fill(&mut rest)?;
        if extra as u64 > padding(inner.bytes) || z.fill(&mut [0u8; 1])? > 0 {
            return Err(MatError::BadElement {
                what: "compressed data element",
                offset: inner.offset,
                reason: "bytes follow the variable inside the compressed element".into(),
            });
        }
        Ok(())
    })();
    inner.map_err(wrap)?;
    // Whatever zlib left unread (nothing in a well-formed file) still belongs to the element.
    let mut compressed = z.inner.into_inner();
    io::copy(&mut compressed, &mut io::sink()).map_err(|e| MatError::Read {
        offset: start,
        message: e.to_string(),
    })?;
    let consumed = u64::from(tag.bytes) - compressed.limit();
    s.offset = start + consumed;
    if compressed.limit() > 0 {
        return Err(MatError::Truncated {
            what: "compressed data element",
            offset: tag.offset,
            needed: u64::from(tag.bytes),
            available: consumed,
        });
    }
    Ok(())
}
