//! Keras's `model.summary()` table.

use super::Network;
use crate::floor::Shape;

/// `n` with thousands separated by commas, as Keras prints parameter counts.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn bytes(params: usize) -> String {
    let b = params as f64 * 4.0;
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2} KB", b / 1024.0)
    } else {
        format!("{b:.2} B")
    }
}

/// A batch of `shape` as Keras prints it: `(None, 26, 26, 32)`, or `(None, 10)` when flat.
pub fn shape_text(shape: Shape, flat: bool) -> String {
    match flat {
        true => format!("(None, {})", shape.c),
        false => format!("(None, {}, {}, {})", shape.h, shape.w, shape.c),
    }
}

/// The summary of `net` as Keras prints it: one row per layer with its output shape and
/// parameter count, then total, trainable and non-trainable counts.
pub fn summary(net: &Network) -> String {
    let rows: Vec<(String, String, String)> = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let shape = shape_text(l.output, l.flat);
            (
                format!("{} ({})", l.name, l.class),
                shape,
                thousands(net.layer_param_count(i)),
            )
        })
        .collect();
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(20)
        + 2;
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(12) + 2;
    let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(7) + 2;
    let line = |l: char, m: char, r: char, fill: char| {
        format!(
            "{l}{}{m}{}{m}{}{r}\n",
            fill.to_string().repeat(w0 + 2),
            fill.to_string().repeat(w1 + 2),
            fill.to_string().repeat(w2 + 2)
        )
    };
    let mut s = format!("Model: \"{}\"\n", net.name);
    s += &line('┏', '┳', '┓', '━');
    s += &format!(
        "┃ {:<w0$} ┃ {:<w1$} ┃ {:>w2$} ┃\n",
        "Layer (type)", "Output Shape", "Param #"
    );
    s += &line('┡', '╇', '┩', '━');
    for (i, (name, shape, params)) in rows.iter().enumerate() {
        s += &format!("│ {name:<w0$} │ {shape:<w1$} │ {params:>w2$} │\n");
        if i + 1 < rows.len() {
            s += &line('├', '┼', '┤', '─');
        }
    }
    s += &line('└', '┴', '┘', '─');
    let (t, tr, nt) = (
        net.param_count(),
        net.trainable_count(),
        net.non_trainable_count(),
    );
    s += &format!(" Total params: {} ({})\n", thousands(t), bytes(t));
    s += &format!(" Trainable params: {} ({})\n", thousands(tr), bytes(tr));
    s += &format!(" Non-trainable params: {} ({})\n", thousands(nt), bytes(nt));
    s
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(960), "960");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(356298), "356,298");
        assert_eq!(thousands(4738826), "4,738,826");
    }
}
