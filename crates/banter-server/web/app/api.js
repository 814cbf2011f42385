// The HTTP API client (`/api/v1`): one function per endpoint, JSON in and
// out, every non-2xx answer thrown as an ApiError with the server's code.

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

/**
 * `getToken()` supplies the bearer token; `onUnauthorized()` is called when an
 * authenticated request is refused with 401 (token revoked elsewhere).
 */
export function createApi({ getToken = () => null, onUnauthorized = () => {} } = {}) {
  async function request(method, path, body) {
    const headers = {};
    const token = getToken();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401 && token) onUnauthorized();
      throw new ApiError(response.status, data?.code || 'http_' + response.status, data?.message || response.statusText);
    }
    return data;
  }

  const q = (params) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) s.set(k, String(v));
    const text = s.toString();
    return text ? '?' + text : '';
  };

  return {
    signup: (username, password, displayName) =>
      request('POST', '/auth/signup', { username, password, display_name: displayName || undefined, device_name: deviceName() }),
    login: (username, password) => request('POST', '/auth/login', { username, password, device_name: deviceName() }),
    logout: () => request('POST', '/auth/logout'),
    me: () => request('GET', '/me'),
    updateProfile: (displayName) => request('PATCH', '/me', { display_name: displayName }),
    devices: () => request('GET', '/devices').then((r) => r.devices),
    revokeDevice: (id) => request('DELETE', `/devices/${id}`),
    setMuted: (id, muted) => request('PUT', `/conversations/${id}/mute`, { muted }),
    user: (username) => request('GET', `/users/${encodeURIComponent(username)}`),
    conversations: () => request('GET', '/conversations').then((r) => r.conversations),
    conversation: (id) => request('GET', `/conversations/${id}`),
    createDirect: (username) => request('POST', '/conversations/direct', { username }),
    createGroup: (name, memberIds) => request('POST', '/conversations/groups', { name, member_ids: memberIds }),
    addMembers: (id, userIds) => request('POST', `/conversations/${id}/members`, { user_ids: userIds }),
    removeMember: (id, userId) => request('DELETE', `/conversations/${id}/members/${userId}`),
    history: (id, { before, after, limit } = {}) => request('GET', `/conversations/${id}/messages${q({ before, after, limit })}`),
    markRead: (id, seq) => request('POST', `/conversations/${id}/read`, { seq }),
    search: (params) => request('GET', `/search${q(params)}`),
    presence: (userIds) => request('GET', `/presence${q({ user_ids: userIds.join(',') })}`).then((r) => r.presence),
    receipts: (id, seq) => request('GET', `/conversations/${id}/messages/${seq}/receipts`),
    vapidPublicKey: () => request('GET', '/push/vapid-public-key').then((r) => r.public_key),
    addPushSubscription: (subscription) => request('POST', '/push/subscriptions', subscription),
    removePushSubscription: () => request('DELETE', '/push/subscriptions'),
    blocks: () => request('GET', '/blocks').then((r) => r.blocked),
    block: (userId) => request('PUT', `/blocks/${userId}`),
    unblock: (userId) => request('DELETE', `/blocks/${userId}`),
    deleteAccount: (password) => request('DELETE', '/me', { password }),
    /** One page of my data; `after`: the previous page's `next`. */
    exportPage: (after) => request('GET', `/me/export${q({ after_conversation_id: after?.conversation_id, after_seq: after?.seq })}`),
  };
}

/** A readable name for this device in the user's device list. */
function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return `Web (${browser}${os ? ' on ' + os : ''})`;
}
