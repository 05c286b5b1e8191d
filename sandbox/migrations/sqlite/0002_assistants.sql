-- The AI assistant: conversations (UUID ids; no user means anonymous) and their messages.
CREATE TABLE assistant_conversations (
    id TEXT PRIMARY KEY,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX assistant_conversations_user ON assistant_conversations (user_id, updated_at);

-- message_type: 'user' or 'assistant'.
CREATE TABLE assistant_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES assistant_conversations (id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    message_type TEXT NOT NULL DEFAULT 'user',
    created_at TEXT NOT NULL
);
CREATE INDEX assistant_messages_conversation ON assistant_messages (conversation_id, id);
