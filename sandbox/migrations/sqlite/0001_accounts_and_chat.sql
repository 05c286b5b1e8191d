-- Accounts and group chat. Timestamps are RFC 3339 UTC text with microseconds, written by the
-- application, so both backends store and sort them the same way.
-- Flags are SMALLINT 0/1 rather than BOOLEAN: sqlx's Any driver cannot read SQLite booleans.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    is_active SMALLINT NOT NULL DEFAULT 1,
    is_staff SMALLINT NOT NULL DEFAULT 0,
    is_superuser SMALLINT NOT NULL DEFAULT 0,
    last_login TEXT,
    date_joined TEXT NOT NULL
);

-- Refresh tokens that were issued, so that logging out can revoke one.
CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    revoked SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE group_chats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- chat_role: 2001 owner, 2002 admin, 2003 member (lower is more privileged).
CREATE TABLE chat_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_role INTEGER NOT NULL DEFAULT 2003,
    group_chat_id INTEGER NOT NULL REFERENCES group_chats (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    nick_name TEXT NOT NULL DEFAULT '',
    CONSTRAINT unique_member_in_group UNIQUE (user_id, group_chat_id)
);
CREATE INDEX chat_members_chat ON chat_members (group_chat_id);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_chat_id INTEGER NOT NULL REFERENCES group_chats (id) ON DELETE CASCADE,
    sender_id INTEGER REFERENCES chat_members (id) ON DELETE CASCADE,
    content TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    is_edited SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX chat_messages_chat ON chat_messages (group_chat_id, id);
