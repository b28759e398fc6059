//! Tables the commands print: step profiles and benchmark results.

use crate::train::profile::{gflops, StepProfile};

/// A step profile as a table: one row per launch, then per layer, then totals.
pub fn profile_table(p: &StepProfile, peak_gflops: Option<f64>) -> String {
    let mut s = format!(
        "Profile of one training step (batch {}, {} dispatches, {}):\n",
        p.batch,
        p.launches.len(),
        p.clock.name()
    );
    s += &format!(
        "  {:<28} {:<16} {:>9} {:>6} {:>9} {:>8}{}  variant\n",
        "scope",
        "kernel",
        "ms",
        "share",
        "GFLOP/s",
        "GB/s",
        if peak_gflops.is_some() {
            "  of peak"
        } else {
            ""
        }
    );
    let total = p.kernel_seconds().max(1e-12);
    for l in &p.launches {
        let g = gflops(l.flops, l.seconds);
        let row = format!(
            "  {:<28} {:<16} {:>9.3} {:>5.1}% {:>9} {:>8.2}{}  {}",
            l.scope,
            l.kernel,
            l.seconds * 1e3,
            100.0 * l.seconds / total,
            if l.flops > 0 {
                format!("{g:.2}")
            } else {
                "-".into()
            },
            l.bytes as f64 / l.seconds.max(1e-12) / 1e9,
            match peak_gflops {
                Some(peak) if l.flops > 0 => format!("  {:>6.1}%", 100.0 * g / peak),
                Some(_) => "        -".into(),
                None => String::new(),
            },
            l.variant
        );
        s += row.trim_end();
        s += "\n";
    }
    s += "  per layer:";
    for (layer, secs) in p.per_layer() {
        s += &format!(
            " {layer} {:.2} ms ({:.0}%);",
            secs * 1e3,
            100.0 * secs / total
        );
    }
    s.pop();
    s += "\n";
    s += &match p.gap_seconds {
        Some(gaps) => format!(
            "  kernels {:.3} ms + between them {:.3} ms = the whole step, {:.3} ms, in one pass; {:.1}% of the step outside kernels\n",
            p.kernel_seconds() * 1e3,
            gaps * 1e3,
            p.step_seconds * 1e3,
            100.0 * p.outside_share()
        ),
        None => format!(
            "  kernels {:.3} ms (each timed alone); whole step {:.3} ms in one pass (wall clock); {:.1}% of the step outside kernels\n",
            p.kernel_seconds() * 1e3,
            p.step_seconds * 1e3,
            100.0 * p.outside_share()
        ),
    };
    s
}

/// One step's launches as `bench --plan` prints them, with their count and totals.
pub fn plan_table(name: &str, launches: &[crate::train::bench::PlannedLaunch]) -> String {
    let flops: u64 = launches.iter().map(|l| l.flops).sum();
    let bytes: u64 = launches.iter().map(|l| l.bytes).sum();
    let n = launches.len();
    let mut s = format!(
        "  {name}: {n} dispatch{}, {:.3} GFLOP, {:.2} MB\n",
        if n == 1 { "" } else { "es" },
        flops as f64 / 1e9,
        bytes as f64 / 1e6
    );
    // The text columns as wide as their longest entry.
    let width = |head: &str, f: fn(&crate::train::bench::PlannedLaunch) -> &str| {
        launches
            .iter()
            .map(|l| f(l).len())
            .chain([head.len()])
            .max()
            .unwrap_or(0)
    };
    let ws = [
        width("scope", |l| &l.scope),
        width("kernel", |l| &l.kernel),
        width("variant", |l| &l.variant),
    ];
    s += &format!(
        "    {:<w0$} {:<w1$} {:<w2$} {:>14} {:>9} {:>6} {:>9} {:>9} {:>8} {:>6}\n",
        "scope",
        "kernel",
        "variant",
        "grid",
        "wgs",
        "thr/wg",
        "threads",
        "MFLOP",
        "MB",
        "fill",
        w0 = ws[0],
        w1 = ws[1],
        w2 = ws[2]
    );
    for l in launches {
        let grid = format!("{}x{}x{}", l.grid[0], l.grid[1], l.grid[2]);
        s += &format!(
            "    {:<w0$} {:<w1$} {:<w2$} {:>14} {:>9} {:>6} {:>9} {:>9.2} {:>8.3} {:>6.2}\n",
            l.scope,
            l.kernel,
            l.variant,
            grid,
            l.workgroups,
            l.threads_per_workgroup,
            l.threads,
            l.flops as f64 / 1e6,
            l.bytes as f64 / 1e6,
            l.fill,
            w0 = ws[0],
            w1 = ws[1],
            w2 = ws[2]
        );
    }
    s
}
