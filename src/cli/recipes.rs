//! `shaderfit recipes`: every recipe `train --recipe` takes, one block each.

use crate::error::Result;
use crate::recipes;

pub fn run() -> Result<()> {
    for r in recipes::all() {
        println!("{}", r.name);
        println!("    {}", r.description);
        println!("    {}", r.phrase());
        if let Some(n) = &r.notebook {
            println!("    the notebook reported: {n}");
        }
    }
    Ok(())
}
