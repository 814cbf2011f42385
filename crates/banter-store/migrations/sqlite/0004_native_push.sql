-- Native push (issue 19): a subscription gets a kind.
--
-- `web`: a browser's Web Push subscription (endpoint URL + p256dh + auth, as
-- before; every existing row). `fcm` / `apns`: a native app's token, held in
-- `endpoint`, with empty keys. The address is unique per kind (an FCM token
-- and an APNs token are different namespaces), so the table is rebuilt: SQLite
-- cannot change a UNIQUE constraint in place.
CREATE TABLE push_subscriptions_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    device_id  INTEGER NOT NULL,
    kind       TEXT    NOT NULL DEFAULT 'web' CHECK (kind IN ('web', 'fcm', 'apns')),
    endpoint   TEXT    NOT NULL,
    p256dh     TEXT    NOT NULL,
    auth       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, endpoint)
) STRICT;

INSERT INTO push_subscriptions_new (id, user_id, device_id, kind, endpoint, p256dh, auth, created_at)
    SELECT id, user_id, device_id, 'web', endpoint, p256dh, auth, created_at FROM push_subscriptions;

DROP TABLE push_subscriptions;
ALTER TABLE push_subscriptions_new RENAME TO push_subscriptions;

CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);
CREATE INDEX push_subscriptions_by_device ON push_subscriptions(device_id);
