-- 0003_send_path.sql -- what a reservation reads, kept so that it reads little.

-- The queued business messages of each conversation, oldest first. A reply is leased to
-- the outbox in its own reservation only when no older message of its conversation is
-- still queued, so that it never overtakes one the claims would send before it. Partial:
-- it holds only the few messages waiting to be sent.
CREATE INDEX messages_queued ON messages(conversation_id, id) WHERE status = 'queued';

-- R4: how many conversations each channel's day holds, kept by triggers in the same
-- transaction as the set itself, so that a reservation reads one row instead of counting
-- the day's set.
CREATE TABLE daily_counts (
    channel_id INTEGER NOT NULL,
    day        INTEGER NOT NULL,  -- ttdm_policy_day()
    used       INTEGER NOT NULL,
    PRIMARY KEY (channel_id, day)
) WITHOUT ROWID;

INSERT INTO daily_counts (channel_id, day, used)
    SELECT channel_id, day, COUNT(*) FROM daily_conversations GROUP BY channel_id, day;

CREATE TRIGGER daily_counts_add AFTER INSERT ON daily_conversations
BEGIN
    INSERT OR IGNORE INTO daily_counts (channel_id, day, used) VALUES (NEW.channel_id, NEW.day, 0);
    UPDATE daily_counts SET used = used + 1 WHERE channel_id = NEW.channel_id AND day = NEW.day;
END;

CREATE TRIGGER daily_counts_remove AFTER DELETE ON daily_conversations
BEGIN
    UPDATE daily_counts SET used = used - 1 WHERE channel_id = OLD.channel_id AND day = OLD.day;
END;
