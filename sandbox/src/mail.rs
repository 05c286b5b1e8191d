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

use tokio::sync::watch;

use crate::config::{Config, Mode};

/// The longest an SMTP exchange may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Sends mail through its [`MailBackend`], and knows how many background sends are still under way
/// (so a shutdown can let them finish, and a test can tell "not sent" from "not sent yet").
#[derive(Clone, Debug)]
pub struct Mailer {
    backend: MailBackend,
    in_flight: Arc<watch::Sender<usize>>,
}

/// Where mail goes.
#[derive(Clone)]
pub enum MailBackend {
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

impl std::fmt::Debug for MailBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailBackend::Console => f.write_str("MailBackend::Console"),
            MailBackend::Smtp { from, .. } => {
                f.debug_struct("MailBackend::Smtp").field("from", from).finish_non_exhaustive()
            }
            MailBackend::Disabled => f.write_str("MailBackend::Disabled"),
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
    /// let mailer = sandbox::mail::Mailer::from_config(&config).expect("valid");
    /// assert!(matches!(mailer.backend(), sandbox::mail::MailBackend::Console));
    /// ```
    pub fn from_config(config: &Config) -> Result<Self, MailConfigError> {
        let backend = match &config.smtp_url {
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
                MailBackend::Smtp { transport, from }
            }
            None if config.mode == Mode::Production => MailBackend::Disabled,
            None => MailBackend::Console,
        };
        Ok(Mailer::new(backend))
    }

    /// A mailer sending through `backend`.
    ///
    /// ```
    /// let mailer = sandbox::mail::Mailer::new(sandbox::mail::MailBackend::Disabled);
    /// assert!(matches!(mailer.backend(), sandbox::mail::MailBackend::Disabled));
    /// ```
    pub fn new(backend: MailBackend) -> Self {
        Mailer { backend, in_flight: Arc::new(watch::Sender::new(0)) }
    }

    /// Where this mailer's mail goes.
    ///
    /// ```
    /// let mailer = sandbox::mail::Mailer::new(sandbox::mail::MailBackend::Console);
    /// assert!(matches!(mailer.backend(), sandbox::mail::MailBackend::Console));
    /// ```
    pub fn backend(&self) -> &MailBackend {
        &self.backend
    }

    /// Sends `mail` now.
    pub async fn send(&self, mail: Mail) -> Result<(), SendError> {
        match &self.backend {
            MailBackend::Console => {
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail (console backend):\n{}", mail.body);
                Ok(())
            }
            MailBackend::Smtp { transport, from } => {
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
            MailBackend::Disabled => {
                tracing::warn!(subject = %mail.subject, "mail not sent: set SMTP_URL to send mail in production");
                Ok(())
            }
        }
    }

    /// Sends `mail` in the background; a failure is logged.
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        self.in_flight.send_modify(|count| *count += 1);
        tokio::spawn(async move {
            if let Err(err) = mailer.send(mail).await {
                tracing::error!(error = %err, "could not send mail");
            }
            mailer.in_flight.send_modify(|count| *count -= 1);
        });
    }

    /// Waits until every mail handed to [`send_later`](Self::send_later) so far has been sent (or
    /// has failed): a graceful shutdown waits here, bounded, so that a reset link asked for just
    /// before it is not lost.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = sandbox::mail::Mailer::new(sandbox::mail::MailBackend::Console);
    /// let mail = sandbox::mail::Mail { to: "ada@example.com".into(), subject: "Hi".into(), body: "Hello".into() };
    /// mailer.send_later(mail);
    /// mailer.settled().await;
    /// # });
    /// ```
    pub async fn settled(&self) {
        let mut in_flight = self.in_flight.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = in_flight.wait_for(|count| *count == 0).await;
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
        let console = logged(Mailer::new(MailBackend::Console)).await;
        assert!(console.contains("to=ada@example.com"), "{console}");
        assert!(console.contains("http://localhost:8000/account/password/reset/Nw/abc-123/"), "{console}");
        let disabled = logged(Mailer::new(MailBackend::Disabled)).await;
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
        assert!(matches!(Mailer::from_config(&config).map(|m| m.backend().clone()), Ok(MailBackend::Disabled)));
        let smtp = production(&[("SMTP_URL", "smtps://user:pw@mail.example.com:465")]).expect("valid");
        assert!(matches!(Mailer::from_config(&smtp).map(|m| m.backend().clone()), Ok(MailBackend::Smtp { .. })));
        let bad_url = production(&[("SMTP_URL", "ftp://user:hunter2@mail.example.com")]);
        let err = bad_url.expect_err("refused").to_string();
        assert!(err.contains("SMTP_URL") && !err.contains("hunter2"), "{err}");
        let bad_from = production(&[("SMTP_URL", "smtp://localhost:25"), ("EMAIL_FROM", "not an address")]);
        assert!(bad_from.expect_err("refused").to_string().contains("EMAIL_FROM"));
    }
}
