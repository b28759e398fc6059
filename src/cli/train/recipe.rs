//! `train --recipe NAME`: the recipe's settings fill in the flags not given.

use super::TrainArgs;
use crate::error::{Error, Result};
use crate::settings;

/// `args` with the settings of `--recipe` (if given) wherever the flag itself was not given.
pub fn with_recipe(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<TrainArgs> {
    let Some(name) = &args.recipe else {
        return Ok(args.clone());
    };
    let recipe = crate::recipes::find(name)?;
    let mut map = settings::to_map(&args.run);
    let fixed = settings::to_map(&recipe.settings);
    for key in recipe.given.keys().filter(|k| !given(k)) {
        map.insert(key.clone(), fixed[key].clone());
    }
    let mut a = args.clone();
    // Each value is the recipe's (checked when it was read) or one typed on the command line.
    a.run = settings::from_map(&map, None)?;
    // A combination the recipe's settings and the flags typed make that means nothing is the
    // recipe's doing where it set the flag the error names: say so.
    a.run
        .check()
        .map_err(|e| blame_recipe(e, name, &recipe, given))?;
    Ok(a)
}

/// `e` naming the recipe, where the flag it names is one the recipe set and was not typed.
fn blame_recipe(
    e: Error,
    name: &str,
    recipe: &crate::recipes::Recipe,
    given: &dyn Fn(&str) -> bool,
) -> Error {
    let Error::Flag { flag, message } = &e else {
        return e;
    };
    let key = flag.trim_start_matches("--").replace('-', "_");
    match recipe.given.get(&key) {
        Some(value) if !given(&key) => Error::flag(
            flag.clone(),
            format!(
                "{message} (recipe {name} sets {flag} {}; give it yourself, or another recipe)",
                settings::show(Some(value))
            ),
        ),
        _ => e,
    }
}
