//! A minimal MATLAB level-5 MAT-file writer for tests: real numeric arrays, each element
//! stored plainly or zlib-compressed, little- or big-endian. It writes the layout the
//! reader expects independently of the reader's code (see `ballast_data::mat` for the
//! format).
#![allow(dead_code)]

use std::io::Write;

use flate2::{Compression, write::ZlibEncoder};

/// Stored values of one array and the MAT data type they use.
#[derive(Debug, Clone)]
pub enum Values {
    /// `miUINT8` (2).
    U8(Vec<u8>),
    /// `miDOUBLE` (9).
    F64(Vec<f64>),
    /// `miINT16` (3).
    I16(Vec<i16>),
}

impl Values {
    fn mi_type(&self) -> u32 {
        match self {
            Values::U8(_) => 2,
            Values::F64(_) => 9,
            Values::I16(_) => 3,
        }
    }
}

/// One variable to write.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    /// MATLAB class code (6 double, 9 uint8, 2 struct, ...).
    pub class: u8,
    pub dims: Vec<i32>,
    pub values: Values,
    /// Write it inside an `miCOMPRESSED` element.
    pub compressed: bool,
    /// Set the complex flag (the values are then written as real and imaginary parts).
    pub complex: bool,
}

impl Var {
    pub fn new(name: &str, class: u8, dims: &[i32], values: Values, compressed: bool) -> Self {
        Self {
            name: name.into(),
            class,
            dims: dims.to_vec(),
            values,
            compressed,
            complex: false,
        }
    }
}

struct W {
    big: bool,
    out: Vec<u8>,
}

impl W {
    fn u32(&mut self, v: u32) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }
    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(8) {
            self.out.push(0);
        }
    }
    /// A subelement; data of 1–4 bytes uses the small element form when `small_ok`.
    fn element(&mut self, ty: u32, data: &[u8], small_ok: bool) {
        if small_ok && !data.is_empty() && data.len() <= 4 {
            self.u32(((data.len() as u32) << 16) | ty);
            let mut d = data.to_vec();
            d.resize(4, 0);
            self.out.extend_from_slice(&d);
            return;
        }
        self.u32(ty);
        self.u32(data.len() as u32);
        self.out.extend_from_slice(data);
        self.pad();
    }
}

fn value_bytes(v: &Values, big: bool) -> Vec<u8> {
    match v {
        Values::U8(b) => b.clone(),
        Values::F64(f) => f
            .iter()
            .flat_map(|x| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            })
            .collect(),
        Values::I16(f) => f
            .iter()
            .flat_map(|x| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            })
            .collect(),
    }
}

/// The bytes of one `miMATRIX` element (tag included).
fn matrix(var: &Var, big: bool) -> Vec<u8> {
    let mut body = W {
        big,
        out: Vec::new(),
    };
    let flags = u32::from(var.class) | if var.complex { 0x0800 } else { 0 };
    let mut fl = W {
        big,
        out: Vec::new(),
    };
    fl.u32(flags);
    fl.u32(0);
    body.element(6, &fl.out, false);
    let mut dims = W {
        big,
        out: Vec::new(),
    };
    for &d in &var.dims {
        dims.u32(d as u32);
    }
    body.element(5, &dims.out, false);
    body.element(1, var.name.as_bytes(), true);
    let data = value_bytes(&var.values, big);
    body.element(var.values.mi_type(), &data, true);
    if var.complex {
        body.element(var.values.mi_type(), &data, true);
    }
    let mut out = W {
        big,
        out: Vec::new(),
    };
    out.u32(14);
    out.u32(body.out.len() as u32);
    out.out.extend_from_slice(&body.out);
    out.out
}

/// A whole MAT-file: the 128-byte header, then one element per variable.
pub fn write_mat(vars: &[Var], big_endian: bool) -> Vec<u8> {
    let mut text = b"MATLAB 5.0 MAT-file, written by the ballast-data tests".to_vec();
    text.resize(116, b' ');
    let mut w = W {
        big: big_endian,
        out: text,
    };
    w.out.extend_from_slice(&[0; 8]); // subsystem data offset
    let version: u16 = 0x0100;
    w.out.extend_from_slice(&if big_endian {
        version.to_be_bytes()
    } else {
        version.to_le_bytes()
    });
    w.out
        .extend_from_slice(if big_endian { b"MI" } else { b"IM" });
    for var in vars {
        let m = matrix(var, big_endian);
        if var.compressed {
            let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
            z.write_all(&m).unwrap();
            let packed = z.finish().unwrap();
            w.u32(15);
            w.u32(packed.len() as u32);
            w.out.extend_from_slice(&packed);
        } else {
            w.out.extend_from_slice(&m);
        }
    }
    w.out
}

/// An SVHN-style file: `X` uint8 [32, 32, 3, n] from CHW images (bytes), `y` double [n, 1]
/// from digits (0 written as 10).
pub fn svhn_mat(images_chw: &[Vec<u8>], digits: &[u32], compressed: bool) -> Vec<u8> {
    let n = images_chw.len();
    let mut x = vec![0u8; n * 3072];
    for (k, img) in images_chw.iter().enumerate() {
        for c in 0..3 {
            for i in 0..32 {
                for j in 0..32 {
                    x[k * 3072 + c * 1024 + i + 32 * j] = img[c * 1024 + i * 32 + j];
                }
            }
        }
    }
    let y: Vec<f64> = digits
        .iter()
        .map(|&d| if d == 0 { 10.0 } else { f64::from(d) })
        .collect();
    write_mat(
        &[
            Var::new("X", 9, &[32, 32, 3, n as i32], Values::U8(x), compressed),
            Var::new("y", 6, &[n as i32, 1], Values::F64(y), compressed),
        ],
        false,
    )
}
