//! `ets serve` and `ets admin`: the HTTP server over the store, and creating regulators.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ets_server::clock::{self, Clock, StartedClock, SystemClock};
use ets_server::core::Policy;
use ets_server::store::Location;
use ets_server::{App, Limits};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Simulation clock: start at this Beijing time (YYYY-MM-DDTHH:MM) and run from there.
    #[arg(long)]
    clock: Option<String>,
    /// Hours before a new trusted account takes effect.
    #[arg(long, default_value_t = 24)]
    trusted_delay_hours: i64,
    /// Requests per second per token, session or address.
    #[arg(long, default_value_t = 200)]
    rate_limit: u32,
    /// Requests allowed at once above the rate.
    #[arg(long, default_value_t = 400)]
    burst: u32,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Milliseconds before an unanswered request gets 503.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Requests that may wait for the writer; beyond that, 503 `queue_full` with Retry-After.
    #[arg(long, default_value_t = 4096)]
    queue: usize,
    /// Account requests (anonymous) one address may send per hour; 429 beyond.
    #[arg(long, default_value_t = 20)]
    applications_per_hour: u32,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); needs
    /// --tls-key. Session cookies are then marked Secure.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Create a regulator user (the first one, before the server starts).
    CreateRegulator {
        #[arg(long)]
        name: String,
        #[arg(long)]
        display: Option<String>,
        /// The password (at least 12 characters); better from the environment.
        #[arg(long, env = "ETS_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Set a user's password (a regulator locked out, say): revokes the user's API tokens and
    /// ends their sessions. Runs on the store without a server, like create-regulator.
    SetPassword {
        #[arg(long)]
        name: String,
        /// The new password (at least 12 characters); better from the environment.
        #[arg(long, env = "ETS_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

fn clock_of(start: Option<&str>) -> Result<Arc<dyn Clock>> {
    Ok(match start {
        None => Arc::new(SystemClock),
        Some(s) => Arc::new(StartedClock::new(
            clock::parse_beijing(s).map_err(anyhow::Error::msg)?,
        )),
    })
}

pub fn serve(location: &Location, args: ServeArgs) -> Result<()> {
    let clock = clock_of(args.clock.as_deref())?;
    let (genesis, _) = clock::beijing(clock.now_ms());
    let policy = Policy {
        trusted_delay_ms: args.trusted_delay_hours * 3600 * 1000,
        ..Policy::default()
    };
    let limits = Limits {
        body_bytes: args.max_body_bytes,
        rate_per_second: args.rate_limit,
        burst: args.burst,
        timeout: Duration::from_millis(args.timeout_ms),
        queue: args.queue,
        applications_per_hour: args.applications_per_hour,
        ..Limits::default()
    };
    // A wrong certificate or key is refused before the store is opened.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ets_server::tls::load(cert, key)?),
        _ => None,
    };
    let app = App::open(location, genesis, policy, clock, limits)
        .with_context(|| format!("opening the {}", location.describe()))?;
    app.secure_cookies
        .store(tls.is_some(), std::sync::atomic::Ordering::Relaxed);
    // Business dates never go back: a clock set before the journal's latest business date would
    // open trading days dated before days that already traded.
    let last = app.read().last_date();
    if let Some(last) = last
        && genesis < last
    {
        bail!(
            "the server's clock says {genesis} (Beijing), before {last}, the latest business date in the {}: business dates never go back; start the clock on or after {last} (--clock {last}T09:00)",
            location.describe()
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        {
            let st = app.read();
            if !st.access.has_users() {
                eprintln!("no users yet: create the first regulator with `ets admin create-regulator --name <name>`");
            }
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "ets serving the {} on {scheme}://{addr} (dashboard /, API /api, docs /docs, OpenAPI /openapi.json)",
            location.describe()
        );
        match tls {
            Some(config) => {
                let listener = ets_server::tls::TlsListener::new(listener, config)?;
                ets_server::serve(app, listener).await?;
            }
            None => ets_server::serve(app, listener).await?,
        }
        anyhow::Ok(())
    })
}

pub fn admin(location: &Location, cmd: AdminCmd) -> Result<()> {
    match cmd {
        AdminCmd::CreateRegulator {
            name,
            display,
            password,
        } => {
            let now = SystemClock.now_ms();
            let (genesis, _) = clock::beijing(now);
            let display = display.unwrap_or_else(|| name.clone());
            if let Err(e) =
                ets_server::create_regulator(location, genesis, &name, &display, &password, now)
            {
                bail!(
                    "creating regulator {name} in the {}: {e}",
                    location.describe()
                );
            }
            println!("regulator {name} created in the {}", location.describe());
            Ok(())
        }
        AdminCmd::SetPassword { name, password } => {
            let now = SystemClock.now_ms();
            let (genesis, _) = clock::beijing(now);
            if let Err(e) = ets_server::api::account::admin_set_password(
                location, genesis, &name, &password, now,
            ) {
                bail!(
                    "setting the password of {name} in the {}: {e}",
                    location.describe()
                );
            }
            println!(
                "password of {name} set in the {}; their API tokens and sessions are revoked",
                location.describe()
            );
            Ok(())
        }
    }
}
