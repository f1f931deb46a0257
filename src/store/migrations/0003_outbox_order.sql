-- 0003_outbox_order.sql -- the queued business messages of each conversation, oldest first.
-- A reply is leased to the outbox in its own reservation only when no older message of its
-- conversation is still queued, so that each conversation's messages reach TikTok in order.
-- Partial: it holds only the few messages waiting to be sent.

CREATE INDEX messages_queued ON messages(conversation_id, id) WHERE status = 'queued';
