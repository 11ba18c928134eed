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
    /// A CIFAR-10 binary file whose length is not a whole number of records.
    #[error(
        "CIFAR-10 binary length {len} is not a multiple of the {record}-byte record size: \
         {complete} complete records and {leftover} bytes left over"
    )]
    CifarLength {
        /// Input length in bytes.
        len: usize,
        /// Record size (3073).
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
}
