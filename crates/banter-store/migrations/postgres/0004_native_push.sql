-- Native push (issue 19): a subscription gets a kind.
--
-- `web`: a browser's Web Push subscription (endpoint URL + p256dh + auth, as
-- before; every existing row). `fcm` / `apns`: a native app's token, held in
-- `endpoint`, with empty keys. The address is unique per kind (an FCM token
-- and an APNs token are different namespaces).
ALTER TABLE push_subscriptions
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'web' CHECK (kind IN ('web', 'fcm', 'apns'));
ALTER TABLE push_subscriptions DROP CONSTRAINT push_subscriptions_endpoint_key;
ALTER TABLE push_subscriptions
    ADD CONSTRAINT push_subscriptions_kind_endpoint_key UNIQUE (kind, endpoint);
