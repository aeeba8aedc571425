-- Cleared history rows keep Clear's revocation receipt (core's `Revocation` as JSON):
-- revoked / not_supported / failed / nothing_to_revoke.
ALTER TABLE history ADD COLUMN revocation TEXT;
