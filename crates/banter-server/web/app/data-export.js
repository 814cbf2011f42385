// "Download my data": every page of `GET /me/export` (followed by `next`
// until it is absent) made into one JSON file, `{user, messages}`. Each page
// is turned into text as it arrives and dropped, so memory holds the file's
// text once, not the pages' objects besides.

/**
 * Fetches the whole export. Returns the file as a Blob, the user it is of
 * and how many messages it holds.
 * @param {ReturnType<import('./api.js').createApi>} api
 */
export async function exportMyData(api) {
  const parts = [];
  let user = null;
  let count = 0;
  let after = null;
  do {
    const page = await api.exportPage(after);
    if (user === null) {
      user = page.user;
      parts.push(`{"exported_at":${Date.now()},"user":${JSON.stringify(user)},"messages":[`);
    }
    if (page.messages.length) {
      parts.push((count ? ',' : '') + page.messages.map((m) => JSON.stringify(m)).join(','));
      count += page.messages.length;
    }
    after = page.next ?? null;
  } while (after);
  parts.push(']}');
  return { blob: new Blob(parts, { type: 'application/json' }), user, count };
}

/** Saves `blob` as a download named `filename`. */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: the download may start after this task.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
