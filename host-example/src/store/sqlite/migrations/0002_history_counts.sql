-- Row count per company, kept by triggers in the writing transaction, so GET /tokens reads
-- its total in O(1) instead of counting the company's rows on every request.
CREATE TABLE history_counts (
    company TEXT PRIMARY KEY NOT NULL,
    total   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO history_counts (company, total) SELECT company, COUNT(*) FROM history GROUP BY company;
CREATE TRIGGER history_count_insert AFTER INSERT ON history BEGIN
    INSERT INTO history_counts (company, total) VALUES (NEW.company, 1)
        ON CONFLICT (company) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER history_count_delete AFTER DELETE ON history BEGIN
    UPDATE history_counts SET total = total - 1 WHERE company = OLD.company;
END;
CREATE TRIGGER history_count_move AFTER UPDATE OF company ON history
    WHEN NEW.company IS NOT OLD.company BEGIN
    UPDATE history_counts SET total = total - 1 WHERE company = OLD.company;
    INSERT INTO history_counts (company, total) VALUES (NEW.company, 1)
        ON CONFLICT (company) DO UPDATE SET total = total + 1;
END;
-- The refresher's due scan reads only active rows, in due order.
CREATE INDEX authorizations_due ON authorizations (next_refresh_at) WHERE status = 'active';
