//! `serve`, `migrate` and `check-config`: run the server, prepare its database, check its settings.

use crate::config::Config;
use crate::{Application, Core};

/// Runs the server until a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    if !config.is_production() {
        tracing::warn!("running in development mode; set GATEHOUSE_ENV=production for real use");
    } else if !config.limits.enabled {
        tracing::warn!("GATEHOUSE_RATE_LIMITS=off in production: sign-ins are not rate limited");
    }
    let app = Application::build(config).await?;
    app.run_until(crate::app::shutdown_signal()).await?;
    Ok(())
}

/// Applies the database migrations (opening the core does) and says so.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    println!("migrations applied ({})", core.db.dialect());
    Ok(())
}

/// Prints the effective settings, secrets hidden, once the keys they need are present.
pub fn check_config(config: &Config) -> anyhow::Result<()> {
    config.check_keys_present()?;
    for (name, value) in config.describe() {
        println!("{name}={value}");
    }
    Ok(())
}
