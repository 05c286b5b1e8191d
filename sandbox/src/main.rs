//! `sandbox [COMMAND] [OPTIONS]`: the reference app's command line (clap; `sandbox --help`, and
//! `--help` after each command).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sandbox::accounts::{CreateUserError, NewUser, User};
use sandbox::{Config, Db, Sandbox};

/// The chanx-rs reference app: accounts, group chat, an AI assistant and a forum over WebSockets.
///
/// Without a command it serves. Every option may come from the environment variable named in
/// its help; the app's other settings (SECRET_KEY, REDIS_URL, SERVER_URL, OPENAI_API_KEY, SMTP_URL…)
/// are read from the environment only: see docs/sandbox.md.
#[derive(Debug, Parser)]
#[command(name = "sandbox", version, args_conflicts_with_subcommands = true, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s options, for `sandbox` without a command.
    #[command(flatten)]
    serve: ServeArgs,
    /// Log lines for people (the default) or for machines.
    #[arg(long, global = true, value_enum, env = "SANDBOX_LOG_FORMAT", default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    /// The database: sqlite://PATH (created when missing) or postgres://…
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the app (the default).
    Serve(ServeArgs),
    /// Create or update the database schema, then exit.
    Migrate,
    /// Create a staff superuser, for /admin/.
    ///
    /// The password is asked twice, or read from SANDBOX_SUPERUSER_PASSWORD (never from the
    /// command line, where other users of the machine could read it).
    Createsuperuser(SuperuserArgs),
    /// Print the AsyncAPI document of every socket, or write it to a file.
    Asyncapi(AsyncApiArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "SANDBOX_ADDR", default_value = "127.0.0.1:8000")]
    addr: String,
}

#[derive(Debug, Args)]
struct SuperuserArgs {
    /// The account's email (asked when missing).
    #[arg(long, env = "SANDBOX_SUPERUSER_EMAIL")]
    email: Option<String>,
    /// Never prompt: the email must be given and the password comes from SANDBOX_SUPERUSER_PASSWORD.
    #[arg(long)]
    no_input: bool,
}

#[derive(Debug, Args)]
struct AsyncApiArgs {
    /// The document's format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write it to this file instead of standard output.
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object a line.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

#[tokio::main]
async fn main() -> ExitCode {
    // A usage error prints clap's message and exits with 2; `--help` and `--version` exit with 0.
    let cli = Cli::parse();
    // `asyncapi` prints the document on stdout, so that it can be redirected to a file: its log
    // goes to stderr.
    init_logging(cli.log_format, matches!(cli.command, Some(Command::Asyncapi(_))));
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, to_stderr: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let writer = if to_stderr { BoxMakeWriter::new(std::io::stderr) } else { BoxMakeWriter::new(std::io::stdout) };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if format == LogFormat::Json { builder.json().init() } else { builder.init() }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    // `--database-url` (or `DATABASE_URL`, which clap read already) wins over the environment.
    let database_url = cli.database_url.clone();
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => database_url.clone(),
        _ => std::env::var(name).ok().filter(|value| !value.trim().is_empty()),
    })?;
    match cli.command {
        None => serve(config, cli.serve).await,
        Some(Command::Serve(args)) => serve(config, args).await,
        Some(Command::Migrate) => {
            open(&config).await?;
            tracing::info!("the database is up to date");
            Ok(())
        }
        Some(Command::Createsuperuser(args)) => create_superuser(&config, args).await,
        Some(Command::Asyncapi(args)) => {
            let db = Db::connect("sqlite::memory:").await?;
            let app = Sandbox::new(db, config)?;
            let text = match args.format {
                Format::Json => app.state.asyncapi.json.clone(),
                Format::Yaml => app.state.asyncapi.yaml.clone(),
            };
            match args.file {
                Some(path) => {
                    std::fs::write(&path, text)?;
                    println!("AsyncAPI document written to {}", path.display());
                }
                None => println!("{text}"),
            }
            Ok(())
        }
    }
}

async fn serve(mut config: Config, args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    match config.load_secret_key()? {
        Some(path) => {
            tracing::info!("SECRET_KEY is not set: signing tokens with the key in {}", path.display())
        }
        None if config.secret_key.as_ref().is_some_and(|key| key.expose().len() < 32) => {
            tracing::warn!("SECRET_KEY is shorter than 32 bytes: production would refuse it");
        }
        None => {}
    }
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    let local = listener.local_addr()?;
    config.allow_local_origins(local.port());
    let db = open(&config).await?;
    let app = Sandbox::new(db, config)?;
    tracing::info!("serving on http://{local}/ (chat at http://{local}/chat/, AsyncAPI at http://{local}/asyncapi/)");
    // Until Ctrl-C or SIGTERM, then a graceful shutdown.
    app.serve(listener).await?;
    // Reset links asked for just before the shutdown still go out, within an SMTP exchange's time.
    if tokio::time::timeout(sandbox::mail::SMTP_TIMEOUT, app.state.mailer.settled()).await.is_err() {
        tracing::warn!("stopped with mail still being sent");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connects and migrates.
async fn open(config: &Config) -> Result<Db, Box<dyn std::error::Error>> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

async fn create_superuser(config: &Config, args: SuperuserArgs) -> Result<(), Box<dyn std::error::Error>> {
    let db = open(config).await?;
    let interactive = !args.no_input;
    let email = match args.email {
        Some(email) => email,
        None if interactive => prompt("Email address: ")?,
        None => return Err("--email is required with --no-input".into()),
    };
    let password = match std::env::var("SANDBOX_SUPERUSER_PASSWORD").ok().filter(|p| !p.is_empty()) {
        Some(password) => password,
        None if interactive => {
            let first = rpassword::prompt_password("Password: ")?;
            if rpassword::prompt_password("Password (again): ")? != first {
                return Err("the passwords didn't match".into());
            }
            first
        }
        None => return Err("set SANDBOX_SUPERUSER_PASSWORD when using --no-input".into()),
    };
    let new = NewUser { email, password, is_staff: true, is_superuser: true };
    let hasher = sandbox::accounts::password::Hasher::new(config.password_hashing);
    match User::create(&db, &hasher, new).await {
        Ok(user) => {
            println!("Superuser {} created.", user.email);
            Ok(())
        }
        Err(err @ (CreateUserError::InvalidEmail | CreateUserError::Taken | CreateUserError::WeakPassword(_))) => {
            Err(err.to_string().into())
        }
        Err(CreateUserError::Hash(err)) => Err(err.into()),
        Err(CreateUserError::Internal(cause)) => Err(cause.into()),
    }
}

fn prompt(question: &str) -> std::io::Result<String> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}
