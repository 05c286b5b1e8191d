-- Refresh tokens rotate: each use replaces a token with a new one of the same family (the tokens
-- descended from one login), and marks the old one rotated, when (Unix seconds). A rotated token
-- presented again, past a few seconds' leeway for tabs renewing together, was copied by someone:
-- the whole family is revoked. Tokens issued before this migration start their own family.
ALTER TABLE refresh_tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN rotated SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN rotated_at BIGINT;
UPDATE refresh_tokens SET family = jti;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
