-- The discussion forum: topics, replies, and one vote per user per topic or reply.
CREATE TABLE discussion_topics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    author_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vote_count BIGINT NOT NULL DEFAULT 0,
    view_count BIGINT NOT NULL DEFAULT 0,
    accepted_answer_id BIGINT REFERENCES discussion_replies (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX discussion_topics_created ON discussion_topics (created_at);

CREATE TABLE discussion_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic_id BIGINT NOT NULL REFERENCES discussion_topics (id) ON DELETE CASCADE,
    author_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    vote_count BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX discussion_replies_topic ON discussion_replies (topic_id);

-- target_type: 'topic' or 'reply'; value: -1 or 1 (withdrawing a vote deletes its row).
CREATE TABLE discussion_votes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_type TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    value SMALLINT NOT NULL,
    PRIMARY KEY (user_id, target_type, target_id)
);
CREATE INDEX discussion_votes_target ON discussion_votes (target_type, target_id);
