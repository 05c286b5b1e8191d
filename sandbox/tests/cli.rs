//! The command line (clap): help for every command, clap's usage errors (exit code 2), and the
//! environment variables that stand in for options.

use std::process::{Command, Output};

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chanx-sandbox-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// `sandbox ARGS` in `dir` with `env`, and none of the variables the options read from the
/// test's own environment.
fn sandbox(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbox"));
    command.args(args).current_dir(dir);
    for name in ["DATABASE_URL", "SANDBOX_ADDR", "SANDBOX_LOG_FORMAT", "SANDBOX_SUPERUSER_EMAIL", "REDIS_URL"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_command_and_each_command_has_its_own() {
    let dir = temp_dir();
    let help = sandbox(&dir, &["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let out = text(&help.stdout);
    for command in ["serve", "migrate", "createsuperuser", "asyncapi"] {
        assert!(out.contains(&format!("  {command} ")), "{command} missing from:\n{out}");
    }
    for (command, option, env) in [
        ("serve", "--addr <ADDR>", "[env: SANDBOX_ADDR="),
        ("createsuperuser", "--email <EMAIL>", "[env: SANDBOX_SUPERUSER_EMAIL="),
        ("asyncapi", "--format <FORMAT>", "- yaml: YAML"),
        ("migrate", "--database-url <DATABASE_URL>", "[env: DATABASE_URL]"),
    ] {
        let help = sandbox(&dir, &[command, "--help"], &[]);
        let out = text(&help.stdout);
        assert_eq!(help.status.code(), Some(0), "{command}");
        assert!(out.contains(option) && out.contains(env), "{command} --help:\n{out}");
    }
    let version = sandbox(&dir, &["--version"], &[]);
    assert_eq!(text(&version.stdout).trim(), format!("sandbox {}", env!("CARGO_PKG_VERSION")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_are_claps_and_exit_with_2() {
    let dir = temp_dir();
    for (args, says) in [
        (&["serve", "--bogus"][..], "unexpected argument '--bogus' found"),
        (&["--bogus"][..], "unexpected argument '--bogus' found"),
        (&["serve", "--addr"][..], "a value is required for '--addr <ADDR>'"),
        (&["asyncapi", "--format", "xml"][..], "invalid value 'xml' for '--format <FORMAT>'"),
        (&["migrate", "--log-format", "xml"][..], "invalid value 'xml' for '--log-format <LOG_FORMAT>'"),
        (&["frobnicate"][..], "unrecognized subcommand 'frobnicate'"),
        (&["migrate", "--addr", "127.0.0.1:1"][..], "unexpected argument '--addr' found"),
    ] {
        let output = sandbox(&dir, args, &[]);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("For more information, try '--help'."), "{args:?}: {err}");
    }
    let bad_env = sandbox(&dir, &["serve"], &[("SANDBOX_LOG_FORMAT", "xml")]);
    assert_eq!(bad_env.status.code(), Some(2), "an environment value is checked like an option");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_database_and_the_superuser_come_from_options_or_the_environment() {
    let dir = temp_dir();
    let by_option = format!("sqlite://{}", dir.join("option.sqlite3").display());
    let migrated = sandbox(&dir, &["migrate", "--database-url", &by_option], &[]);
    assert_eq!(migrated.status.code(), Some(0), "{}", text(&migrated.stdout));
    assert!(dir.join("option.sqlite3").exists());

    let by_env = format!("sqlite://{}", dir.join("env.sqlite3").display());
    let created = sandbox(
        &dir,
        &["createsuperuser", "--no-input", "--log-format", "json"],
        &[
            ("DATABASE_URL", &by_env),
            ("SANDBOX_SUPERUSER_EMAIL", "root@example.com"),
            ("SANDBOX_SUPERUSER_PASSWORD", "a long root password"),
        ],
    );
    let out = text(&created.stdout);
    assert_eq!(created.status.code(), Some(0), "{out}{}", text(&created.stderr));
    assert!(out.contains("Superuser root@example.com created."), "{out}");
    assert!(dir.join("env.sqlite3").exists(), "DATABASE_URL named the database");
    assert!(!dir.join("sandbox.sqlite3").exists(), "not the default one");

    // `--no-input` without an email anywhere is an error of the command, not of clap.
    let missing = sandbox(&dir, &["createsuperuser", "--no-input", "--database-url", &by_env], &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stdout).contains("--email is required with --no-input"), "{}", text(&missing.stdout));

    let yaml = sandbox(&dir, &["asyncapi", "--format", "yaml"], &[]);
    assert_eq!(yaml.status.code(), Some(0));
    assert!(text(&yaml.stdout).starts_with("asyncapi: 3.0.0"), "{}", text(&yaml.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
