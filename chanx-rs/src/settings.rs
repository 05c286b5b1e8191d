//! Runtime settings shared by every consumer of a router, each overridable per consumer where noted.

use std::time::Duration;

/// Settings of a [`Router`](crate::Router): a builder over private fields, every default stated.
///
/// ```
/// use chanx::Settings;
/// let settings = Settings::default().camelize(true).send_completion(true);
/// assert!(settings.get_camelize());
/// ```
#[derive(Clone, Debug)]
pub struct Settings {
    camelize: bool,
    send_completion: bool,
    send_authentication_message: bool,
    max_in_flight: usize,
    outbound_capacity: usize,
    max_message_size: usize,
    drain_timeout: Duration,
    close_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camelize: false,
            send_completion: false,
            send_authentication_message: true,
            max_in_flight: 64,
            outbound_capacity: 1024,
            max_message_size: 1 << 20,
            drain_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
        }
    }
}

impl Settings {
    /// camelCase keys on the wire, both directions. Defaults to `false`; a consumer overrides it
    /// with `#[consumer(camelize = ...)]` or `const CAMELIZE`.
    pub fn camelize(mut self, on: bool) -> Self {
        self.camelize = on;
        self
    }

    /// Send `complete`, `group_complete` and `event_complete` after each unit of work. Defaults to
    /// `false` (the test communicator turns it on); overridable per consumer.
    pub fn send_completion(mut self, on: bool) -> Self {
        self.send_completion = on;
        self
    }

    /// Send the `authentication` frame when a consumer authenticates. Defaults to `true`.
    pub fn send_authentication_message(mut self, on: bool) -> Self {
        self.send_authentication_message = on;
        self
    }

    /// How many client frames of one connection are handled at once; `1` handles them strictly in
    /// order. Defaults to 64. Reading from the socket pauses while the limit is reached.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// How many frames may wait to be written to one client. A client that lets the queue fill is
    /// disconnected (close code 1008 when it can still be sent). Defaults to 1024.
    pub fn outbound_capacity(mut self, n: usize) -> Self {
        self.outbound_capacity = n.max(1);
        self
    }

    /// The largest message (and frame) a client may send; larger ones close the connection with
    /// 1009. Defaults to 1 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long handlers still running when the client leaves may take to finish. Defaults to 10 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long the server waits for the client to answer its close frame. Defaults to 2 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Whether keys are camelized by default.
    pub fn get_camelize(&self) -> bool {
        self.camelize
    }

    /// Whether completion frames are sent by default.
    pub fn get_send_completion(&self) -> bool {
        self.send_completion
    }

    pub(crate) fn sends_authentication_message(&self) -> bool {
        self.send_authentication_message
    }

    pub(crate) fn get_max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    pub(crate) fn get_outbound_capacity(&self) -> usize {
        self.outbound_capacity
    }

    pub(crate) fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    pub(crate) fn get_drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    pub(crate) fn get_close_timeout(&self) -> Duration {
        self.close_timeout
    }
}
