-- Logout ends every access token of the user issued before it (their open sockets included):
-- the moment of the last logout, in microseconds since the Unix epoch, against which an access
-- token's issue time (claim `iat_us`) is compared. 0: never logged out.
ALTER TABLE users ADD COLUMN sessions_ended_at BIGINT NOT NULL DEFAULT 0;
