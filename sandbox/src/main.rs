//! `sandbox [serve|migrate|createsuperuser|asyncapi] [options]`: the reference app's command line.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use sandbox::accounts::{CreateUserError, NewUser, User};
use sandbox::{Config, Db, Sandbox};

const USAGE: &str = "\
usage: sandbox [COMMAND] [OPTIONS]

commands:
  serve            run the app (the default)
      --addr ADDR          listen address (default 127.0.0.1:8000)
  migrate          create or update the database schema
  createsuperuser  create a staff superuser
      --email EMAIL        the account's email (asked when missing)
      --no-input           do not prompt; the password comes from SANDBOX_SUPERUSER_PASSWORD
  asyncapi         print the AsyncAPI document
      --format json|yaml   (default json)
      --file PATH          write it to PATH instead

options for every command:
  --log-format pretty|json   log lines for people (default) or for machines

environment: DATABASE_URL, REDIS_URL, SECRET_KEY, SANDBOX_DATA_DIR, SERVER_URL, ALLOWED_ORIGINS,
SANDBOX_ENV, ACCESS_TOKEN_MINUTES, REFRESH_TOKEN_DAYS, PASSWORD_HASHES_AT_ONCE, PASSWORD_HASH_QUEUE,
PASSWORD_HASH_WAIT_SECONDS, OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_ORG (see docs/sandbox.md)";

/// The parsed command line.
struct Args {
    command: String,
    options: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut raw = std::env::args().skip(1).peekable();
        let command = match raw.peek() {
            Some(first) if !first.starts_with('-') => raw.next().unwrap_or_default(),
            _ => "serve".to_owned(),
        };
        let mut options = Vec::new();
        while let Some(arg) = raw.next() {
            let name = arg.strip_prefix("--").ok_or_else(|| format!("unexpected argument {arg:?}"))?.to_owned();
            let value = match name.as_str() {
                "no-input" | "help" => None,
                _ => Some(raw.next().ok_or_else(|| format!("--{name} needs a value"))?),
            };
            options.push((name, value));
        }
        Ok(Args { command, options })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) if !args.has("help") && args.command != "help" => args,
        Ok(_) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // `asyncapi` prints the document on stdout, so that it can be redirected to a file: its log
    // goes to stderr.
    init_logging(args.get("log-format").unwrap_or("pretty"), args.command == "asyncapi");
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str, to_stderr: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let writer = if to_stderr { BoxMakeWriter::new(std::io::stderr) } else { BoxMakeWriter::new(std::io::stdout) };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if format == "json" { builder.json().init() } else { builder.init() }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    match args.command.as_str() {
        "serve" => {
            match config.load_secret_key()? {
                Some(path) => {
                    tracing::info!("SECRET_KEY is not set: signing tokens with the key in {}", path.display())
                }
                None if config.secret_key.as_ref().is_some_and(|key| key.expose().len() < 32) => {
                    tracing::warn!("SECRET_KEY is shorter than 32 bytes: production would refuse it");
                }
                None => {}
            }
            let addr = args.get("addr").unwrap_or("127.0.0.1:8000");
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            config.allow_local_origins(local.port());
            let db = open(&config).await?;
            let app = Sandbox::new(db, config)?;
            tracing::info!(
                "serving on http://{local}/ (chat at http://{local}/chat/, AsyncAPI at http://{local}/asyncapi/)"
            );
            // Until Ctrl-C or SIGTERM, then a graceful shutdown.
            app.serve(listener).await?;
            tracing::info!("stopped");
            Ok(())
        }
        "migrate" => {
            open(&config).await?;
            tracing::info!("the database is up to date");
            Ok(())
        }
        "createsuperuser" => create_superuser(&config, &args).await,
        "asyncapi" => {
            let db = Db::connect("sqlite::memory:").await?;
            let app = Sandbox::new(db, config)?;
            let text = match args.get("format").unwrap_or("json") {
                "json" => app.state.asyncapi.json.clone(),
                "yaml" => app.state.asyncapi.yaml.clone(),
                other => return Err(format!("unknown format {other:?}: use json or yaml").into()),
            };
            match args.get("file") {
                Some(path) => {
                    std::fs::write(path, text)?;
                    println!("AsyncAPI document written to {path}");
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{USAGE}").into()),
    }
}

/// Connects and migrates.
async fn open(config: &Config) -> Result<Db, Box<dyn std::error::Error>> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

async fn create_superuser(config: &Config, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let db = open(config).await?;
    let interactive = !args.has("no-input");
    let email = match args.get("email") {
        Some(email) => email.to_owned(),
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
