//! A local SMTP server that accepts every message and hands it to the test: the sandbox's real
//! mail code (lettre over TCP) talks to it as to any mail server.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One message received: its envelope recipients and its text (headers and body), with
/// quoted-printable soft line breaks undone.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) recipients: Vec<String>,
    pub(crate) text: String,
}

/// A running sink: its `smtp://` URL and the messages it receives.
pub(crate) struct SmtpSink {
    pub(crate) url: String,
    messages: mpsc::UnboundedReceiver<Received>,
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1.
    pub(crate) async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("port");
        let url = format!("smtp://{}", listener.local_addr().expect("addr"));
        let (sender, messages) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, sender.clone()));
            }
        });
        SmtpSink { url, messages }
    }

    /// The next message, within 10 seconds.
    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.messages.recv())
            .await
            .expect("a mail arrives within 10 s")
            .expect("the sink runs")
    }

    /// Whether no further message has arrived so far.
    pub(crate) fn is_empty(&mut self) -> bool {
        self.messages.try_recv().is_err()
    }
}

/// One SMTP session (RFC 5321's minimum: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).
async fn session(stream: tokio::net::TcpStream, sender: mpsc::UnboundedSender<Received>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut recipients = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => write.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?,
            "MAIL" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "RSET" => {
                recipients.clear();
                write.write_all(b"250 OK\r\n").await?;
            }
            "RCPT" => {
                let to = line.split_once(':').map(|(_, to)| to.trim().trim_matches(['<', '>']).to_owned());
                recipients.extend(to);
                write.write_all(b"250 OK\r\n").await?;
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut text = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    text.push_str(line.strip_prefix('.').unwrap_or(&line));
                    text.push('\n');
                }
                let text = text.replace("=\n", "").replace("=3D", "=");
                let _ = sender.send(Received { recipients: std::mem::take(&mut recipients), text });
                write.write_all(b"250 OK queued\r\n").await?;
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 not implemented\r\n").await?,
        }
    }
    Ok(())
}
