//! Shapes of one sample (NHWC without the batch) and the geometry of 2-D windows (convolution
//! kernels, pooling windows), for one sample ([`Window`]) and over a batch ([`Geom2d`]): the
//! one declaration that layers, kernels, the CPU twins and ONNX export read.

/// Height, width, channels of one sample. Flat tensors are `1 x 1 x features`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub fn new(h: usize, w: usize, c: usize) -> Shape {
        Shape { h, w, c }
    }

    pub fn flat(features: usize) -> Shape {
        Shape::new(1, 1, features)
    }

    pub fn features(&self) -> usize {
        self.h * self.w * self.c
    }

    /// `HEIGHTxWIDTHxCHANNELS` (`32x32x3`), or `HEIGHTxWIDTH` for one channel, as flags
    /// take it; the error says what was expected.
    pub fn parse(text: &str) -> Result<Shape, String> {
        let dims: Vec<usize> = text
            .split(['x', 'X', ','])
            .map(|d| d.trim().parse::<usize>().ok().filter(|&v| v > 0))
            .collect::<Option<_>>()
            .unwrap_or_default();
        let shape = match dims[..] {
            [h, w, c] => Shape::new(h, w, c),
            [h, w] => Shape::new(h, w, 1),
            _ => {
                return Err(format!(
                    "'{text}' is not a shape; expected HEIGHTxWIDTHxCHANNELS such as 28x28x1"
                ))
            }
        };
        // Every size derived from it (features, parameters) must fit in 64 bits unwrapped.
        let values = (shape.h.checked_mul(shape.w)).and_then(|hw| hw.checked_mul(shape.c));
        match values.filter(|&v| v <= Shape::MAX_VALUES) {
            Some(_) => Ok(shape),
            None => Err(format!(
                "'{text}' holds more than {} values an image; expected a smaller shape such as 28x28x1",
                Shape::MAX_VALUES
            )),
        }
    }

    /// The most values (height x width x channels) an input shape may hold: 2^32.
    pub const MAX_VALUES: usize = 1 << 32;
}

/// An image shape as errors and data lines say it: `28x28 grey`, `32x32 RGB`,
/// `8x8x5` for other channel counts.
pub fn describe(s: Shape) -> String {
    match s.c {
        1 => format!("{}x{} grey", s.h, s.w),
        3 => format!("{}x{} RGB", s.h, s.w),
        c => format!("{}x{}x{c}", s.h, s.w),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding: the output shrinks by kernel - 1 (Keras's default).
    #[default]
    Valid,
    /// Zero padding so that the output is ceil(input / stride), the extra pixel at the
    /// bottom and right when the total is odd (as TensorFlow).
    Same,
}

/// A 2-D window sliding over an NHWC input: convolution kernels and pooling windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: Shape,
    pub output: Shape,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    /// Zero rows above and columns left of the input (`same` padding only).
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Window {
    /// A `kernel` window moved by `stride` over `input`, with `out_c` output channels; the
    /// error says how the window does not fit (for a message naming the field).
    pub fn new(
        input: Shape,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
        out_c: usize,
    ) -> Result<Window, String> {
        let [kh, kw] = kernel;
        let [sh, sw] = stride;
        let (oh, ow, pad_top, pad_left) = match padding {
            Padding::Valid => {
                if kh > input.h || kw > input.w {
                    return Err(format!(
                        "is {kh}x{kw}, larger than its {}x{} input",
                        input.h, input.w
                    ));
                }
                ((input.h - kh) / sh + 1, (input.w - kw) / sw + 1, 0, 0)
            }
            Padding::Same => {
                let oh = input.h.div_ceil(sh);
                let ow = input.w.div_ceil(sw);
                let pad_h = ((oh - 1) * sh + kh).saturating_sub(input.h);
                let pad_w = ((ow - 1) * sw + kw).saturating_sub(input.w);
                (oh, ow, pad_h / 2, pad_w / 2)
            }
        };
        Ok(Window {
            input,
            output: Shape::new(oh, ow, out_c),
            kh,
            kw,
            sh,
            sw,
            pad_top,
            pad_left,
        })
    }

    /// Columns of the im2col matrix: one per (kh, kw, input channel), Keras's kernel order.
    pub fn patch(&self) -> usize {
        self.kh * self.kw * self.input.c
    }

    /// This window over a batch.
    pub fn geom(&self, batch: usize) -> Geom2d {
        Geom2d {
            batch,
            in_h: self.input.h,
            in_w: self.input.w,
            in_c: self.input.c,
            out_h: self.output.h,
            out_w: self.output.w,
            k_h: self.kh,
            k_w: self.kw,
            stride_h: self.sh,
            stride_w: self.sw,
            pad_top: self.pad_top,
            pad_left: self.pad_left,
        }
    }
}

/// Geometry of a window (convolution kernel or pooling window) over an NHWC batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom2d {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Geom2d {
    /// Rows of the im2col matrix: one per output pixel of the batch.
    pub fn rows(&self) -> usize {
        self.batch * self.out_h * self.out_w
    }

    /// Columns of the im2col matrix: (kh, kw, c) of one patch.
    pub fn patch(&self) -> usize {
        self.k_h * self.k_w * self.in_c
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
}
