-- Session lifetimes (issue 12).
--
-- A device's session ends a fixed time after login (created_at) or after a
-- time without use (last_active_at); the lifetimes are server settings, so
-- nothing about them is stored per row. Each node sweeps expired devices
-- every session check interval: these indexes make that sweep two short
-- range scans instead of a scan of every device.
CREATE INDEX devices_by_created_at ON devices(created_at);
CREATE INDEX devices_by_last_active_at ON devices(last_active_at);
