//! Outgoing mail (password-reset links): over SMTP with lettre when `SMTP_URL` is set; otherwise,
//! in development, written to the log (the console backend), and in production not sent at all.
//!
//! Mail is sent in the background, after the request has been answered: a request for a known
//! address must take as long as one for an unknown address, and an SMTP server that is slow or
//! down must not hold requests.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, Mode};

/// The longest an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// Development without `SMTP_URL`: each message is logged, link included, at `info`.
    Console,
    /// `SMTP_URL` is set: sent through this server, from `EMAIL_FROM`.
    Smtp {
        /// The SMTP client (lettre's; one connection per message: reset mail is rare, and without
        /// a pool building it needs no runtime, so `Config` can check `SMTP_URL` anywhere).
        transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
        /// The sender.
        from: Mailbox,
    },
    /// Production without `SMTP_URL`: nothing is sent, and each message is logged as dropped
    /// without its text: a reset link in the log would let whoever reads it take the account.
    Disabled,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Console => f.write_str("Mailer::Console"),
            Mailer::Smtp { from, .. } => f.debug_struct("Mailer::Smtp").field("from", from).finish_non_exhaustive(),
            Mailer::Disabled => f.write_str("Mailer::Disabled"),
        }
    }
}

/// Why the mailer cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    /// `SMTP_URL` does not parse.
    #[error("SMTP_URL is not a valid smtp:// or smtps:// URL: {0}")]
    SmtpUrl(String),
    /// `EMAIL_FROM` is not an address.
    #[error("EMAIL_FROM is not a valid address: {0}")]
    From(String),
}

/// Why one message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// An address or the message is malformed.
    #[error("the message is malformed: {0}")]
    Message(String),
    /// The SMTP server refused it or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl Mailer {
    /// The mailer `config` asks for: SMTP with `SMTP_URL`, else the console in development and
    /// nothing in production.
    ///
    /// ```
    /// let config = sandbox::Config::from_lookup(|_| None).expect("defaults");
    /// assert!(matches!(sandbox::mail::Mailer::from_config(&config), Ok(sandbox::mail::Mailer::Console)));
    /// ```
    pub fn from_config(config: &Config) -> Result<Self, MailConfigError> {
        match &config.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    // The URL may hold a password: the error says what is wrong, never the URL.
                    .map_err(|err| MailConfigError::SmtpUrl(err.to_string()))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build()
                    .into();
                let from = config.email_from.parse().map_err(|err: lettre::address::AddressError| {
                    MailConfigError::From(format!("{:?}: {err}", config.email_from))
                })?;
                Ok(Mailer::Smtp { transport, from })
            }
            None if config.mode == Mode::Production => Ok(Mailer::Disabled),
            None => Ok(Mailer::Console),
        }
    }

    /// Sends `mail` now.
    pub async fn send(&self, mail: Mail) -> Result<(), SendError> {
        match self {
            Mailer::Console => {
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail (console backend):\n{}", mail.body);
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|err: lettre::address::AddressError| SendError::Message(format!("recipient: {err}")))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.body)
                    .map_err(|err| SendError::Message(err.to_string()))?;
                transport.send(message).await?;
                Ok(())
            }
            Mailer::Disabled => {
                tracing::warn!(subject = %mail.subject, "mail not sent: set SMTP_URL to send mail in production");
                Ok(())
            }
        }
    }

    /// Sends `mail` in the background; a failure is logged.
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(err) = mailer.send(mail).await {
                tracing::error!(error = %err, "could not send mail");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A log writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `mailer` logs while sending one reset mail.
    async fn logged(mailer: Mailer) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Password reset".into(),
            body: "Choose a new password: http://localhost:8000/account/password/reset/Nw/abc-123/".into(),
        };
        mailer.send(mail).await.expect("sent");
        let bytes = captured.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn the_console_backend_logs_the_link_and_production_never_does() {
        let console = logged(Mailer::Console).await;
        assert!(console.contains("to=ada@example.com"), "{console}");
        assert!(console.contains("http://localhost:8000/account/password/reset/Nw/abc-123/"), "{console}");
        let disabled = logged(Mailer::Disabled).await;
        assert!(disabled.contains("mail not sent: set SMTP_URL"), "{disabled}");
        assert!(!disabled.contains("/account/password/reset/"), "{disabled}");
    }

    #[test]
    fn production_without_smtp_sends_nothing_and_a_bad_server_is_a_start_up_error() {
        let key = "0123456789abcdef0123456789abcdef";
        let production = |more: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = [("SANDBOX_ENV", "production"), ("SECRET_KEY", key)]
                .iter()
                .chain(more)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Config::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        let config = production(&[]).expect("valid");
        assert!(matches!(Mailer::from_config(&config), Ok(Mailer::Disabled)));
        let smtp = production(&[("SMTP_URL", "smtps://user:pw@mail.example.com:465")]).expect("valid");
        assert!(matches!(Mailer::from_config(&smtp), Ok(Mailer::Smtp { .. })));
        let bad_url = production(&[("SMTP_URL", "ftp://user:hunter2@mail.example.com")]);
        let err = bad_url.expect_err("refused").to_string();
        assert!(err.contains("SMTP_URL") && !err.contains("hunter2"), "{err}");
        let bad_from = production(&[("SMTP_URL", "smtp://localhost:25"), ("EMAIL_FROM", "not an address")]);
        assert!(bad_from.expect_err("refused").to_string().contains("EMAIL_FROM"));
    }
}
