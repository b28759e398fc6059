//! `train --recipe NAME`: the recipe's settings fill in the flags not given.

use super::TrainArgs;
use crate::error::Result;
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
    Ok(a)
}
