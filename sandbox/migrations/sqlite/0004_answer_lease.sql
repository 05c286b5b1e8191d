-- While an answer is being written, the conversation holds a lease (an RFC 3339 expiry), so that
-- processes sharing the database write one answer at a time; a crashed writer's lease expires.
ALTER TABLE assistant_conversations ADD COLUMN answer_lease TEXT;
