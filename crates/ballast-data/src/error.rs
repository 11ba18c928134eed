//! The crate's error type for everything that works on bytes and memory.
//!
//! Parsers, splits, noise generators and toy sets never panic on bad input;
//! they return one of these typed variants instead, so callers (and the
//! fuzz / property tests) can tell the failure modes apart.

use thiserror::Error;

/// Every way a parse, split or generator call can fail without touching the file system.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DataError {
    /// The first two bytes of an IDX file must be zero.
    #[error("bad IDX magic: expected the first two bytes to be 00 00, found {found:02x?}")]
    BadMagic {
        /// The first two bytes found.
        found: [u8; 2],
    },
    /// An IDX element type this crate does not decode (only 0x08, unsigned byte, is supported).
    #[error(
        "unsupported IDX element type 0x{code:02x} ({name}); only 0x08 (unsigned byte) is supported"
    )]
    UnsupportedDtype {
        /// The type byte from the header.
        code: u8,
        /// The IDX name of that type, or "unknown" if it is not an IDX type at all.
        name: &'static str,
    },
    /// The IDX header declares zero dimensions or more than the crate accepts.
    #[error("IDX header declares {rank} dimensions; expected 1 to {max}")]
    BadRank {
        /// Number of dimensions declared.
        rank: u8,
        /// The largest rank accepted.
        max: u8,
    },
    /// The input ends before a header or payload is complete.
    #[error("truncated {what}: need {needed} bytes, only {available} present")]
    Truncated {
        /// Which part was cut short ("IDX header", "IDX payload", ...).
        what: &'static str,
        /// Bytes required.
        needed: u64,
        /// Bytes actually present.
        available: u64,
    },
    /// Bytes follow the end of the declared payload.
    #[error("{extra} trailing bytes after the {expected}-byte IDX payload")]
    TrailingBytes {
        /// Payload length implied by the header.
        expected: u64,
        /// Number of additional bytes found (at least this many, for gzip input).
        extra: u64,
    },
    /// The product of the declared dimensions overflows `u64`.
    #[error("IDX dimensions {dims:?} overflow when multiplied")]
    DimOverflow {
        /// The declared dimensions.
        dims: Vec<u64>,
    },
    /// The declared element count is larger than the allowed cap.
    #[error("IDX header declares {elements} elements, more than the cap of {cap}")]
    TooLarge {
        /// Elements declared (or decompressed so far).
        elements: u64,
        /// The cap in force.
        cap: u64,
    },
    /// A gzip stream could not be decoded.
    #[error("gzip decoding failed: {0}")]
    Gzip(String),
    /// An array has a shape other than the one the caller needs.
    #[error("{what}: expected shape {expected}, found {found:?}")]
    UnexpectedShape {
        /// What was being decoded.
        what: &'static str,
        /// Human-readable description of the expected shape.
        expected: &'static str,
        /// The shape found.
        found: Vec<usize>,
    },
    /// Images and labels disagree on the number of examples.
    #[error("{images} images but {labels} labels")]
    CountMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is not below the number of classes.
    #[error("label {label} of example {index} is out of range for {num_classes} classes")]
    LabelOutOfRange {
        /// Position of the example.
        index: usize,
        /// The offending label.
        label: u32,
        /// Number of classes.
        num_classes: usize,
    },
    /// A CIFAR-10 / CIFAR-100 binary file whose length is not a whole number of records.
    #[error(
        "CIFAR binary length {len} is not a multiple of the {record}-byte record size: \
         {complete} complete records and {leftover} bytes left over"
    )]
    CifarLength {
        /// Input length in bytes.
        len: usize,
        /// Record size (3073 for CIFAR-10, 3074 for CIFAR-100).
        record: usize,
        /// Number of complete records.
        complete: usize,
        /// Bytes after the last complete record.
        leftover: usize,
    },
    /// An input that must hold at least one example holds none.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The buffers of a [`crate::Dataset`] do not fit together.
    #[error("inconsistent data set: {what} has length {actual}, expected {expected}")]
    SizeMismatch {
        /// Which buffer is wrong.
        what: &'static str,
        /// Length it should have.
        expected: usize,
        /// Length it has.
        actual: usize,
    },
    /// A class has fewer examples than a split or subset asks for.
    #[error("class {class} has {available} examples, {needed} needed")]
    NotEnoughExamples {
        /// The class (in the labels of the input data set).
        class: u32,
        /// Examples requested.
        needed: usize,
        /// Examples present.
        available: usize,
    },
    /// An argument outside its valid range (rate not in [0, 1], zero classes, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A picture with a zero width or height (see [`crate::digit_image`]).
    #[error("a {width}×{height} image has no pixels: width and height must both be at least 1")]
    EmptyImage {
        /// Declared width in pixels.
        width: usize,
        /// Declared height in pixels.
        height: usize,
    },
    /// An RGBA8 buffer whose length is not 4 bytes per pixel of its declared size.
    #[error(
        "the RGBA8 buffer of a {width}×{height} image must hold 4·{width}·{height} = {expected} \
         bytes, found {actual}"
    )]
    ImageBufferLength {
        /// Declared width in pixels.
        width: usize,
        /// Declared height in pixels.
        height: usize,
        /// `4·width·height` (saturating, so it cannot overflow).
        expected: u128,
        /// Length of the buffer passed.
        actual: usize,
    },
    /// A label value that is not an integer of the expected range (e.g. an SVHN `y` of 2.5).
    #[error("label {value} of example {index} is invalid: expected {expected}")]
    InvalidLabel {
        /// Position of the example.
        index: usize,
        /// The value found, as written in the file.
        value: String,
        /// What a valid label is.
        expected: &'static str,
    },
    /// A MATLAB MAT-file could not be decoded (see [`crate::mat`]).
    #[error(transparent)]
    Mat(#[from] MatError),
}

/// Every way [`crate::mat::read_mat`] can reject a MAT-file. Offsets are byte positions in
/// the stream being read; inside a compressed element they count from the start of its
/// decompressed bytes, and the error is wrapped in [`MatError::InCompressed`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatError {
    /// The 128-byte header is not that of a level-5 MAT-file (a level-4 or v7.3/HDF5 file,
    /// a bad version or endian indicator, or not a MAT-file at all).
    #[error("not a MATLAB level-5 MAT-file: {reason}")]
    NotLevel5 {
        /// What was found instead.
        reason: String,
    },
    /// The input ends inside a header, tag or element.
    #[error(
        "MAT-file ends inside {what} at byte {offset}: {needed} bytes needed, {available} present"
    )]
    Truncated {
        /// The part cut short ("header", "data element tag", "array dimensions", ...).
        what: &'static str,
        /// Where that part starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes that were present.
        available: u64,
    },
    /// A data element whose type, size or contents break the format.
    #[error("bad {what} at byte {offset}: {reason}")]
    BadElement {
        /// The element or subelement ("array flags", "array name", ...).
        what: &'static str,
        /// Where its tag starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An element declares more bytes than the reader's cap ([`crate::mat::MatLimits`]).
    #[error("{what} at byte {offset} declares {bytes} bytes, more than the cap of {cap}")]
    TooLarge {
        /// The element.
        what: &'static str,
        /// Where its tag starts.
        offset: u64,
        /// Bytes declared.
        bytes: u64,
        /// The cap in force.
        cap: u64,
    },
    /// Reading failed (an I/O error, or a corrupt zlib stream inside a compressed element).
    #[error("cannot read the MAT-file at byte {offset}: {message}")]
    Read {
        /// Position of the failed read.
        offset: u64,
        /// The underlying error.
        message: String,
    },
    /// An error inside the decompressed bytes of an `miCOMPRESSED` element.
    #[error("in the compressed element at byte {offset}: {source}")]
    InCompressed {
        /// Where the compressed element's tag starts in the file.
        offset: u64,
        /// The error, with offsets into the decompressed bytes.
        source: Box<MatError>,
    },
    /// The file holds no numeric variable of this name.
    #[error("no numeric variable `{name}` in the MAT-file (variables: {})", list_or_none(.found))]
    MissingVariable {
        /// The name asked for.
        name: String,
        /// Every variable present (skipped ones included).
        found: Vec<String>,
    },
    /// The variable exists but is of a kind the reader does not decode (complex, sparse,
    /// cell, struct, char, object).
    #[error("variable `{name}` is {what}; only real numeric arrays are decoded")]
    Unsupported {
        /// The variable.
        name: String,
        /// Its kind.
        what: String,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
