//! `orakl status` and `orakl health`: what an operator asks a running (or
//! stopped) service, answered from the state database.

use super::{Cli, Failure};

pub(super) fn status(_cli: &Cli) -> Result<(), Failure> {
    Err(Failure::runtime(anyhow::anyhow!("status: not built yet")))
}

pub(super) fn health(_cli: &Cli) -> Result<(), Failure> {
    Err(Failure::runtime(anyhow::anyhow!("health: not built yet")))
}
